// The consensus-loop scenarios of duh's tests/integration/test_consensus_loop.py (duh.md §10), on scripted models.
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { AllChallengersFailedError, ProviderError, ProtocolError } from '../../src/errors.js';
import { ConsensusStateMachine } from '../../src/protocol/state-machine.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { byPhase, collect, roleOf, trio } from '../helpers.js';

const QUESTION = 'How should a SaaS isolate tenant data in Postgres?';

describe('consensus loop', () => {
  it('runs a single round through every phase to COMPLETE', async () => {
    const { models, proposer, challengerA, challengerB } = trio();
    const duh = new Consensus({ models, rounds: 1 });
    const events = await collect(duh.stream(QUESTION));
    const phases = events.filter((event) => event.type === 'phase-start').map((event) => event.phase);
    expect(phases).toEqual(['propose', 'challenge', 'revise', 'commit']);
    expect(events.at(-1)?.type).toBe('run-end');
    expect(proposer.calls.map((call) => roleOf({ prompt: call.request.messages.at(-1)!.content, system: call.request.messages[0]!.content }))).toEqual(['propose', 'revise']);
    expect(challengerA.calls).toHaveLength(1);
    // The cheapest model by input price classifies, after its challenge.
    expect(challengerB.calls).toHaveLength(2);
    const stored = await duh.threads.get(events[0]!.threadId);
    expect(stored.status).toBe('complete');
    expect(stored.turns).toHaveLength(1);
  });

  it('commits the revision as the decision', async () => {
    const { models } = trio();
    const result = await new Consensus({ models, rounds: 1 }).ask(QUESTION);
    expect(result.decision).toBe('Use Postgres with RLS and per-tenant pools.');
    expect(result.decision).toBe(result.rounds[0]!.revision.text);
    expect(result.rounds[0]!.proposal.text).toBe('Use Postgres with row-level security.');
    expect(result.rigor).toBe(1);
    // technical intent caps confidence at 0.9.
    expect(result.taxonomy).toEqual({ intent: 'technical', category: 'databases', genus: 'multi-tenancy' });
    expect(result.confidence).toBe(0.9);
    expect(result.dissent).toBe(
      '[openai:gpt-5.2]: The proposal ignores noisy neighbours on shared pools.\n\n' +
        '[google:gemini-3-pro-preview]: Consider schema-per-tenant instead; migrations differ.',
    );
  });

  it('converges in round 2 when the challenges repeat (identical mocks)', async () => {
    const { models } = trio();
    const result = await new Consensus({ models, rounds: 3 }).ask(QUESTION);
    expect(result.rounds).toHaveLength(2);
    expect(result.converged).toBe(true);
    expect(result.stopReason).toBe('converged');
    expect(result.rounds[0]!.converged).toBe(false);
    expect(result.rounds[1]!.converged).toBe(true);
  });

  it('does not converge when challenges differ, and runs every round', async () => {
    let n = 0;
    const fresh = () => `objection ${n++} ${'word'.repeat(n)} about topic-${n} and detail-${n * 7}`;
    const { models } = trio({ challengerA: byPhase({ challenge: fresh }), challengerB: byPhase({ challenge: fresh }) });
    const result = await new Consensus({ models, rounds: 3 }).ask(QUESTION);
    expect(result.rounds).toHaveLength(3);
    expect(result.converged).toBe(false);
    expect(result.stopReason).toBe('max-rounds');
    expect(result.rounds.map((round) => round.converged)).toEqual([false, false, false]);
  });

  it('completes at max rounds without converging (rounds: 2)', async () => {
    let n = 0;
    const { models } = trio({ challengerA: byPhase({ challenge: () => `distinct ${n++} alpha${n} beta${n}` }) });
    const result = await new Consensus({ models, rounds: 2 }).ask(QUESTION);
    expect(result.rounds).toHaveLength(2);
    expect(result.stopReason).toBe('max-rounds');
  });

  it('tolerates one challenger failing and reports it', async () => {
    const { models } = trio({ challengerA: byPhase({ challenge: () => { throw new ProviderError({ provider: 'openai', model: 'gpt-5.2', status: 400 }, 'bad request'); } }) });
    const duh = new Consensus({ models, rounds: 1 });
    const events = await collect(duh.stream(QUESTION));
    const result = (events.at(-1) as Extract<(typeof events)[number], { type: 'run-end' }>).result;
    expect(result.rounds[0]!.challenges.map((challenge) => challenge.model)).toEqual(['google:gemini-3-pro-preview']);
    expect(result.failures).toEqual([
      expect.objectContaining({ model: 'openai:gpt-5.2', round: 1, phase: 'challenge', error: expect.objectContaining({ code: 'PROVIDER', retryable: false }) }),
    ]);
    const failure = events.find((event) => event.type === 'member-error');
    expect(failure).toMatchObject({ model: 'openai:gpt-5.2', final: true, willRetry: false });
    // One genuine challenge of one: rigor stays 1.
    expect(result.rigor).toBe(1);
  });

  it('fails the run when every challenger fails, listing each failure', async () => {
    const failing = byPhase({ challenge: () => { throw new Error('boom'); } });
    const { models } = trio({ challengerA: failing, challengerB: failing });
    const duh = new Consensus({ models, rounds: 1 });
    const error = await duh.ask(QUESTION).catch((caught: unknown) => caught);
    expect(AllChallengersFailedError.isInstance(error)).toBe(true);
    const typed = error as AllChallengersFailedError;
    expect(typed.failures.map((failure) => failure.model)).toEqual(['openai:gpt-5.2', 'google:gemini-3-pro-preview']);
    expect(typed.message).toContain('boom');
    const [thread] = (await duh.threads.list()).threads;
    expect(thread?.status).toBe('failed');
  });

  it('accumulates cost across phases, per round, per model and in total', async () => {
    const usage = { inputTokens: 1000, outputTokens: 2000 };
    const fixed = (text: string) => ({ text, usage });
    const proposer = new MockAdapter({ ref: 'anthropic:opus', info: { inputPricePerMTok: 5, outputPricePerMTok: 25 }, reply: (_r, c) => fixed(roleOf(c)) });
    const challenger = new MockAdapter({ ref: 'openai:gpt', info: { inputPricePerMTok: 2, outputPricePerMTok: 10 }, reply: (_r, c) => fixed(`${roleOf(c)} objection`) });
    const result = await new Consensus({ models: [proposer, challenger], rounds: 1, challengerCount: 1 }).ask(QUESTION);
    // proposer: propose + revise = 2 × (0.005 + 0.05); challenger: challenge + classify = 2 × (0.002 + 0.02)
    expect(result.cost.byModel['anthropic:opus']).toBeCloseTo(0.11, 10);
    expect(result.cost.byModel['openai:gpt']).toBeCloseTo(0.044, 10);
    expect(result.cost.totalUsd).toBeCloseTo(0.154, 10);
    expect(result.cost.byRound).toHaveLength(1);
    expect(result.cost.byRound[0]).toBeCloseTo(0.154, 10);
    expect(result.rounds[0]!.costUsd).toBeCloseTo(0.154, 10);
    expect(result.rounds[0]!.proposal.costUsd).toBeCloseTo(0.055, 10);
    expect(result.usage).toEqual({ inputTokens: 4000, outputTokens: 8000, calls: 4 });
  });

  it('lets a single model debate itself (proposer == challengers)', async () => {
    const solo = new MockAdapter({ ref: 'openai:gpt-5.2', reply: byPhase({ propose: 'A', challenge: 'A has a flaw', revise: 'A fixed' }) });
    const result = await new Consensus({ models: [solo], rounds: 1 }).ask(QUESTION);
    expect(result.rounds[0]!.challenges.map((challenge) => [challenge.model, challenge.framing])).toEqual([
      ['openai:gpt-5.2', 'flaw'],
      ['openai:gpt-5.2', 'alternative'],
    ]);
    expect(result.decision).toBe('A fixed');
    expect(solo.calls).toHaveLength(5); // propose, 2 challenges, revise, classify
  });

  it('lowers confidence when challengers are sycophantic', async () => {
    const praise = byPhase({ challenge: 'Great answer! I largely agree with everything here.' });
    const { models } = trio({ challengerA: praise, challengerB: praise });
    const result = await new Consensus({ models, rounds: 1, classify: false }).ask(QUESTION);
    expect(result.rounds[0]!.challenges.every((challenge) => challenge.sycophantic)).toBe(true);
    expect(result.rigor).toBe(0.5);
    expect(result.confidence).toBe(0.5);
    expect(result.dissent).toBeNull();

    const mixed = trio({ challengerA: praise });
    const mixedResult = await new Consensus({ models: mixed.models, rounds: 1, classify: false }).ask(QUESTION);
    expect(mixedResult.rigor).toBe(0.75);
    expect(mixedResult.confidence).toBe(0.75);
    expect(mixedResult.dissent).toBe('[google:gemini-3-pro-preview]: Consider schema-per-tenant instead; migrations differ.');
  });

  it('carries the round-1 decision and challenges into the round-2 proposal prompt', async () => {
    let n = 0;
    const { models, proposer } = trio({ challengerA: byPhase({ challenge: () => `unique objection number ${n++} zeta${n}` }) });
    await new Consensus({ models, rounds: 2 }).ask(QUESTION);
    const proposals = proposer.calls.filter((call) => call.request.messages[0]!.content.includes('expert advisor'));
    expect(proposals).toHaveLength(2);
    const round2 = proposals[1]!.request.messages.at(-1)!.content;
    expect(round2).toContain(QUESTION);
    expect(round2).toContain('Use Postgres with RLS and per-tenant pools.');
    expect(round2).toContain('- unique objection number 0 zeta1');
    expect(round2).toContain('- Consider schema-per-tenant instead; migrations differ.');
    expect(proposals[0]!.request.messages.at(-1)!.content).toBe(QUESTION);
  });

  it('rejects skipping CHALLENGE', () => {
    const machine = new ConsensusStateMachine(() => ({ question: 'q', maxRounds: 3, round: 0, hasProposal: true, challengeCount: 0, hasRevision: true, converged: false }));
    machine.transition('propose');
    expect(() => machine.transition('revise')).toThrowError(/Invalid transition propose -> revise/);
    expect(() => machine.transition('commit')).toSatisfy((fn: () => void) => {
      try { fn(); return false; } catch (error) { return ProtocolError.isInstance(error); }
    });
    expect(machine.state).toBe('propose');
  });

  it('keeps the error when the run fails mid-loop', async () => {
    let round = 0;
    const proposer = new MockAdapter({
      ref: 'anthropic:opus',
      info: { outputPricePerMTok: 25 },
      reply: (_request, context) => {
        if (roleOf(context) === 'propose' && ++round === 2) throw new ProviderError({ provider: 'anthropic', model: 'opus', status: 401 }, 'invalid x-api-key sk-ant-api03-SECRETSECRETSECRET');
        return `${roleOf(context)} text ${round}`;
      },
    });
    let n = 0;
    const challenger = new MockAdapter({ ref: 'openai:gpt', reply: () => `different challenge ${n++} q${n} r${n * 3}` });
    const duh = new Consensus({ models: [proposer, challenger], rounds: 3, classify: false });
    const stream = duh.stream(QUESTION);
    const events = await collect(stream);
    await expect(stream.result).rejects.toThrow(/invalid x-api-key \[redacted\]/);
    const last = events.at(-1)!;
    expect(last.type).toBe('error');
    expect(JSON.stringify(events)).not.toContain('SECRETSECRET');
    const thread = await duh.threads.get(stream.threadId);
    expect(thread.status).toBe('failed');
    expect(thread.turns).toHaveLength(1);
    expect(thread.error).toContain('[redacted]');
    expect(thread.error).not.toContain('SECRETSECRET');
  });
});
