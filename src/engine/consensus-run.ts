/**
 * The consensus protocol driver (duh §1.3): rounds of PROPOSE → CHALLENGE → REVISE → COMMIT until the
 * challenges converge, the round limit is reached, or the next round could cross the cost limit.
 *
 * @module
 */
import { type ModelAdapter, type ModelRef, modelRef } from '../adapter.js';
import {
  AbortedError,
  AllChallengersFailedError,
  CostLimitError,
  InsufficientModelsError,
  type MemberFailure,
  serializeError,
  StorageError,
} from '../errors.js';
import { challengesConverged } from '../protocol/convergence.js';
import { computeConfidence, computeRigor, formatDissent, parseTaxonomy } from '../protocol/commit.js';
import {
  buildChallengeMessages,
  buildProposeMessages,
  buildReviseMessages,
  buildTaxonomyMessages,
  type PreviousRound,
} from '../protocol/prompts.js';
import { framingFor, selectChallengers, selectCheapest, selectProposer } from '../protocol/selection.js';
import { ConsensusStateMachine } from '../protocol/state-machine.js';
import { detectSycophancy } from '../protocol/sycophancy.js';
import type { ChallengeContribution, ConsensusResult, Contribution, RoundRecord, StopReason, Taxonomy } from '../record.js';
import type { NewThread, StoredContribution, StoredDecision, StoredTurn, TurnPhase, TurnState } from '../storage.js';
import { callMember, chainOf, outputBudget, worstCaseUsd } from './call-member.js';
import type { RunContext } from './context.js';
import type { ProtocolPlan } from './admission.js';
import { utf8Length } from '../internal/text.js';

/** Output budget of the taxonomy call (duh's value). */
const TAXONOMY_MAX_TOKENS = 200;
const TAXONOMY_TEMPERATURE = 0.3;

/** A model taking part in a run. */
export interface CastMember {
  ref: ModelRef;
  info: ModelAdapter['info'];
  adapter: ModelAdapter;
}

/** Who takes part in a round. */
export interface Cast {
  proposer: CastMember;
  challengers: CastMember[];
  classifier: CastMember | undefined;
}

/**
 * Choose the proposer, challengers and classifier. Synchronous and side-effect free, so selection problems
 * surface when a run is requested, before anything is stored or called.
 */
export function planConsensus(context: Pick<RunContext, 'settings' | 'models'>): Cast {
  const { settings } = context;
  const candidates: CastMember[] = [...context.models].map(([ref, adapter]) => ({ ref, info: adapter.info, adapter }));
  const byRef = (ref: ModelRef) => candidates.find((candidate) => candidate.ref === ref)!;
  const proposer = settings.proposer ? byRef(settings.proposer) : selectProposer(candidates, settings.panel);
  const challengers = settings.challengers
    ? settings.challengers.map(byRef)
    : selectChallengers(candidates, proposer, settings.challengerCount, settings.panel);
  const pool = settings.panel ? candidates.filter((candidate) => settings.panel!.includes(candidate.ref)) : candidates;
  const classifier = settings.classify ? selectCheapest(pool) : undefined;
  return { proposer, challengers, classifier };
}

/** Prompt sizes carried from the previous round, in UTF-8 bytes (0 for round 1). */
interface CarriedBytes {
  decision: number;
  challenges: number;
}

/** Upper bound on a round's cost, so a round starts only when it can finish within the limit. */
function roundWorstCaseUsd(context: RunContext, cast: Cast, carried: CarriedBytes): number {
  const { settings } = context;
  // UTF-8 bytes bound prompt tokens (byte-level tokenizers); outputs are bounded by their budgets.
  const worstOver = (model: ModelAdapter, promptTokens: number, requested: number) =>
    Math.max(...chainOf(context, { model }).map((link) => worstCaseUsd(link, promptTokens, outputBudget(link, requested))));
  const budgetOf = (model: ModelAdapter, requested: number) =>
    Math.max(...chainOf(context, { model }).map((link) => outputBudget(link, requested)));
  const SYSTEM_PROMPT_BYTES = 2000; // our longest system prompt plus instructions is under 1,200 bytes
  const base = utf8Length(settings.question) + SYSTEM_PROMPT_BYTES;
  const proposeIn = base + carried.decision + carried.challenges;
  const proposalOut = budgetOf(cast.proposer.adapter, settings.maxOutputTokens);
  let total = worstOver(cast.proposer.adapter, proposeIn, settings.maxOutputTokens);
  let challengesOut = 0;
  for (const challenger of cast.challengers) {
    total += worstOver(challenger.adapter, base + proposalOut, settings.maxOutputTokens);
    challengesOut += budgetOf(challenger.adapter, settings.maxOutputTokens) + 100;
  }
  total += worstOver(cast.proposer.adapter, base + proposalOut + challengesOut, settings.maxOutputTokens);
  if (cast.classifier) total += worstOver(cast.classifier.adapter, base + proposalOut, TAXONOMY_MAX_TOKENS);
  return total;
}

/** Bytes per token assumed for text a run has not written yet (budgets estimate later rounds' prompts with it). */
const BYTES_PER_UNWRITTEN_TOKEN = 4;

/**
 * Upper bound on a whole run of `rounds` rounds, before any text exists: later rounds carry the previous
 * decision and challenges at their full output budgets (at {@link BYTES_PER_UNWRITTEN_TOKEN} bytes a token).
 */
export function runWorstCaseUsd(context: RunContext, cast: Cast, rounds: number): number {
  const { maxOutputTokens } = context.settings;
  const budgetOf = (model: ModelAdapter) => Math.max(...chainOf(context, { model }).map((link) => outputBudget(link, maxOutputTokens)));
  const carried: CarriedBytes = {
    decision: budgetOf(cast.proposer.adapter) * BYTES_PER_UNWRITTEN_TOKEN,
    challenges: cast.challengers.reduce((sum, challenger) => sum + budgetOf(challenger.adapter) * BYTES_PER_UNWRITTEN_TOKEN, 0),
  };
  const first = roundWorstCaseUsd(context, cast, { decision: 0, challenges: 0 });
  return rounds <= 1 ? first : first + (rounds - 1) * roundWorstCaseUsd(context, cast, carried);
}

/** How admission sees the consensus protocol: its members, how to re-plan, and what a run may cost. */
export const consensusPlan: ProtocolPlan<Cast> = {
  members: (cast) => [cast.proposer.adapter, ...cast.challengers.map((challenger) => challenger.adapter), ...(cast.classifier ? [cast.classifier.adapter] : [])],
  map: (cast, swap) => {
    const member = (m: CastMember): CastMember => {
      const adapter = swap(m.adapter);
      return adapter === m.adapter ? m : { ...m, adapter };
    };
    return { proposer: member(cast.proposer), challengers: cast.challengers.map(member), classifier: cast.classifier ? member(cast.classifier) : undefined };
  },
  replan: (context, allowed) => {
    const panel = (context.settings.panel ?? [...context.models.keys()]).filter((ref) => allowed.has(ref));
    if (panel.length === 0) throw new InsufficientModelsError('No allowed model is left.');
    return planConsensus({ settings: { ...context.settings, panel }, models: allowed });
  },
  cheapest: (context, allowed) => {
    const pool: CastMember[] = [...allowed]
      .filter(([ref]) => !context.settings.panel || context.settings.panel.includes(ref))
      .map(([ref, adapter]) => ({ ref, info: adapter.info, adapter }));
    const price = (m: CastMember) => m.info.inputPricePerMTok + m.info.outputPricePerMTok;
    const byPrice = [...pool].sort((a, b) => price(a) - price(b));
    const proposer = byPrice.find((m) => m.info.proposerEligible);
    if (!proposer) throw new InsufficientModelsError('No proposer-eligible model is allowed for a cheaper run.');
    const others = byPrice.filter((m) => m !== proposer);
    const challengers = Array.from({ length: context.settings.challengerCount }, (_, index) => others[index % Math.max(1, others.length)] ?? proposer);
    return { proposer, challengers, classifier: context.settings.classify ? selectCheapest(pool) : undefined };
  },
  worstCaseUsd: runWorstCaseUsd,
};

function toStored(contribution: Contribution | ChallengeContribution): StoredContribution {
  const stored: StoredContribution = {
    model: contribution.model,
    role: contribution.role,
    content: contribution.text,
    inputTokens: contribution.usage.inputTokens,
    outputTokens: contribution.usage.outputTokens,
    costUsd: contribution.costUsd,
    latencyMs: contribution.latencyMs,
    finishReason: contribution.finishReason,
    truncated: contribution.truncated,
    ...(contribution.providerMetadata ? { providerMetadata: contribution.providerMetadata } : {}),
  };
  if ('framing' in contribution) {
    stored.framing = contribution.framing;
    stored.sycophantic = contribution.sycophantic;
  }
  return stored;
}

async function store<T>(context: RunContext, what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (StorageError.isInstance(error)) throw error;
    throw new StorageError(context.storage.name, `Could not ${what}: ${serializeError(error).message}`, { cause: error });
  }
}

/** Run the consensus protocol for one question. Emits events as it goes; resolves to the decision record. */
export async function runConsensus(context: RunContext, cast: Cast): Promise<ConsensusResult> {
  const { settings, events, clock, ledger } = context;
  const startedAt = clock.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const rounds: RoundRecord[] = [];
  const failures: MemberFailure[] = [];
  // The working data of the current round, read by the state machine's guards.
  let proposal: Contribution | undefined;
  let challenges: ChallengeContribution[] = [];
  let revision: Contribution | undefined;
  let converged = false;
  let stopped = false;
  const machine = new ConsensusStateMachine(() => ({
    question: settings.question,
    maxRounds: settings.rounds,
    round: rounds.length,
    hasProposal: proposal !== undefined,
    challengeCount: challenges.length,
    hasRevision: revision !== undefined,
    converged,
    stopped,
  }));

  const panelRefs = settings.panel ?? [...context.models.keys()];
  events.emit({ type: 'run-start', question: settings.question, protocol: 'consensus', maxRounds: settings.rounds, models: panelRefs });
  context.logger.info({ threadId: context.threadId, maxRounds: settings.rounds, models: panelRefs.length }, 'duh: run started');

  // Whether the run's thread is stored: from the start, or, with a driver that has startThread, from the run's
  // first write (which creates it), so nothing waits on storage before the first model call.
  let created = false;
  const storage = context.storage;
  const newThread: NewThread = { id: context.threadId, question: settings.question, protocol: 'consensus', userId: context.userId, createdAt: iso(startedAt) };
  const startThread = typeof storage.startThread === 'function' ? storage.startThread.bind(storage) : undefined;
  // The write in flight: it overlaps the next model call (off the critical path) and is awaited before the next
  // write and before the run ends, so writes of a run never overlap, arrive in order, and a failed one still
  // fails the run (noticed at the next phase boundary, or at the end).
  let pendingWrite: Promise<void> = Promise.resolve();
  const queueWrite = async (what: string, write: () => Promise<void>): Promise<void> => {
    // An abort that landed after a phase's last call cancels the run: nothing more is stored.
    if (context.signal.aborted) throw new AbortedError(context.signal.reason);
    await pendingWrite;
    if (context.signal.aborted) throw new AbortedError(context.signal.reason);
    pendingWrite = store(context, what, write);
    pendingWrite.catch(() => {}); // observed at the next await; never an unhandled rejection
  };
  // Whether the write that creates the thread is queued (writes run in order, and a failed one fails the run
  // before the next write, so every later write can take the thread as created).
  let creationQueued = !startThread;
  // Whether the run got past its start (a run aborted before it stores nothing).
  let begun = false;
  /** Queue round `turn` (whole, or as far as its latest phase): the run's first write creates the thread (startThread). */
  const queueFirstOr = (what: string, turn: StoredTurn, write: () => Promise<void>): Promise<void> => {
    if (creationQueued || !startThread) return queueWrite(`save ${what}`, write);
    creationQueued = true;
    return queueWrite(`create the thread with ${what}`, async () => {
      await startThread(context.scope, newThread, turn);
      created = true;
    });
  };
  // Drivers with appendPhase store each phase as it completes; the others get one appendTurn per round at commit.
  const appendPhase = typeof storage.appendPhase === 'function' ? storage.appendPhase.bind(storage) : undefined;
  const savePhase = async (round: number, state: TurnState, contributions: readonly (Contribution | ChallengeContribution)[], decision: StoredDecision | null): Promise<void> => {
    if (!appendPhase) return;
    const phase: TurnPhase = { roundNumber: round, state, contributions: contributions.map(toStored), decision, at: iso(clock.now()) };
    const turn: StoredTurn = { roundNumber: round, state, contributions: phase.contributions, decision, createdAt: phase.at, completedAt: phase.at };
    await queueFirstOr(`the ${state} phase of round ${round}`, turn, () => appendPhase(context.scope, context.threadId, phase));
  };
  try {
    if (context.signal.aborted) throw new AbortedError(context.signal.reason);
    begun = true;
    if (!startThread) {
      await store(context, 'create the thread', () => storage.createThread(context.scope, newThread));
      created = true;
    }
    let stopReason: StopReason = 'max-rounds';
    for (let round = 1; round <= settings.rounds; round++) {
      const previousRound = rounds.at(-1);
      const previous: PreviousRound | undefined = previousRound
        ? { decision: previousRound.decision, challenges: previousRound.challenges.map((challenge) => challenge.text) }
        : undefined;

      const worstCase = roundWorstCaseUsd(context, cast, {
        decision: previous ? utf8Length(previous.decision) : 0,
        challenges: previous ? previous.challenges.reduce((sum, text) => sum + utf8Length(text), 0) : 0,
      });
      if (!ledger.canAfford(worstCase)) {
        if (rounds.length === 0) throw new CostLimitError(ledger.limitUsd!, ledger.spentUsd, worstCase);
        stopped = true;
        stopReason = 'cost-limit';
        context.logger.warn({ threadId: context.threadId, round, spentUsd: ledger.spentUsd, nextRoundUsd: worstCase }, 'duh: stopping before a round that could cross the cost limit');
        break;
      }

      proposal = undefined;
      challenges = [];
      revision = undefined;
      const roundFailures: MemberFailure[] = [];
      events.emit({ type: 'round-start', round, maxRounds: settings.rounds });
      // Date grounding for this round's prompts (one Date per round, not per call).
      const roundDate = new Date(clock.now());

      // PROPOSE
      machine.transition('propose');
      events.emit({ type: 'phase-start', round, phase: 'propose', models: [cast.proposer.ref] });
      proposal = await callMember(
        context,
        {
          slot: { round, phase: 'propose', role: 'proposer', index: 0 },
          model: cast.proposer.adapter,
          messages: (maxOutputTokens) => buildProposeMessages({ question: settings.question, now: roundDate, maxOutputTokens, previous }),
          maxOutputTokens: settings.maxOutputTokens,
          temperature: settings.temperature,
        },
        roundFailures,
      );
      await savePhase(round, 'PROPOSE', [proposal], null);
      events.emit({ type: 'phase-end', round, phase: 'propose' });

      // CHALLENGE: all challengers at once; failures are tolerated unless every one fails.
      machine.transition('challenge');
      events.emit({ type: 'phase-start', round, phase: 'challenge', models: cast.challengers.map((challenger) => challenger.ref) });
      const proposalText = proposal.text;
      const settled = await Promise.allSettled(
        cast.challengers.map(async (challenger, index): Promise<ChallengeContribution> => {
          const framing = framingFor(index, settings.framings);
          let challenge: ChallengeContribution | undefined;
          await callMember(
            context,
            {
              slot: { round, phase: 'challenge', role: 'challenger', index },
              model: challenger.adapter,
              framing,
              messages: (maxOutputTokens) =>
                buildChallengeMessages({ question: settings.question, proposal: proposalText, framing, now: roundDate, maxOutputTokens }),
              maxOutputTokens: settings.maxOutputTokens,
              temperature: settings.temperature,
              onEnd: (contribution) => {
                challenge = { ...contribution, role: 'challenger', framing, sycophantic: detectSycophancy(contribution.text) };
                events.emit({ type: 'challenge', round, index, model: challenge.model, framing, sycophantic: challenge.sycophantic, text: challenge.text });
              },
            },
            roundFailures,
          );
          return challenge!;
        }),
      );
      if (context.signal.aborted) throw new AbortedError(context.signal.reason);
      for (const outcome of settled) if (outcome.status === 'fulfilled') challenges.push(outcome.value);
      if (challenges.length === 0) {
        throw new AllChallengersFailedError(round, roundFailures.filter((failure) => failure.phase === 'challenge'));
      }
      await savePhase(round, 'CHALLENGE', challenges, null);
      events.emit({ type: 'phase-end', round, phase: 'challenge' });

      // REVISE: the model that proposed revises its own answer.
      machine.transition('revise');
      const proposerChain = chainOf(context, { model: cast.proposer.adapter });
      const proposedBy = proposerChain.find((link) => modelRef(link) === proposal!.model) ?? cast.proposer.adapter;
      const reviserChain = [proposedBy, ...proposerChain.filter((link) => link !== proposedBy)];
      events.emit({ type: 'phase-start', round, phase: 'revise', models: [proposal.model] });
      const acceptedChallenges = challenges;
      revision = await callMember(
        context,
        {
          slot: { round, phase: 'revise', role: 'reviser', index: 0 },
          model: reviserChain[0]!,
          chain: reviserChain,
          messages: (maxOutputTokens) =>
            buildReviseMessages({
              question: settings.question,
              proposal: proposalText,
              challenges: acceptedChallenges.map((challenge) => ({ model: challenge.model, text: challenge.text })),
              now: roundDate,
              maxOutputTokens,
            }),
          maxOutputTokens: settings.maxOutputTokens,
          temperature: settings.temperature,
        },
        roundFailures,
      );
      await savePhase(round, 'REVISE', [revision], null);
      events.emit({ type: 'phase-end', round, phase: 'revise' });

      // COMMIT: rigor, taxonomy, confidence, dissent, convergence.
      machine.transition('commit');
      events.emit({ type: 'phase-start', round, phase: 'commit', models: cast.classifier ? [cast.classifier.ref] : [] });
      const decision = revision.text;
      const rigor = computeRigor(challenges);
      let taxonomy: Taxonomy | null = null;
      let classification: Contribution | null = null;
      if (cast.classifier) {
        try {
          classification = await callMember(
            context,
            {
              slot: { round, phase: 'commit', role: 'classifier', index: 0 },
              model: cast.classifier.adapter,
              messages: () => buildTaxonomyMessages({ question: settings.question, decision }),
              maxOutputTokens: TAXONOMY_MAX_TOKENS,
              temperature: TAXONOMY_TEMPERATURE,
              responseFormat: 'json',
              emitDeltas: false,
            },
            roundFailures,
          );
          taxonomy = parseTaxonomy(classification.text);
        } catch (error) {
          // A failed classification only costs the taxonomy (confidence falls back to the default cap).
          if (context.signal.aborted) throw error;
        }
      }
      const confidence = computeConfidence(rigor, taxonomy);
      const dissent = formatDissent(challenges.map((challenge) => ({ model: challenge.model, text: challenge.text, sycophantic: challenge.sycophantic })));
      converged = challengesConverged(
        challenges.map((challenge) => challenge.text),
        previous?.challenges,
        settings.convergenceThreshold,
      );
      const record: RoundRecord = {
        round,
        proposal,
        challenges,
        revision,
        decision,
        confidence,
        rigor,
        dissent,
        taxonomy,
        classification,
        converged,
        failures: roundFailures,
        costUsd: ledger.summary().byRound[round - 1] ?? 0,
      };
      rounds.push(record);
      failures.push(...roundFailures);
      events.emit({ type: 'commit', round, decision, confidence, rigor, dissent, taxonomy });
      const storedDecision: StoredDecision = { content: decision, confidence, rigor, dissent, taxonomy };
      if (appendPhase) await savePhase(round, 'COMMIT', classification ? [classification] : [], storedDecision);
      else {
        const completedAt = iso(clock.now());
        const turn: StoredTurn = {
          roundNumber: round,
          state: 'COMMIT',
          contributions: [proposal, ...challenges, revision, ...(classification ? [classification] : [])].map(toStored),
          decision: storedDecision,
          createdAt: completedAt,
          completedAt,
        };
        await queueFirstOr(`round ${round}`, turn, () => storage.appendTurn(context.scope, context.threadId, turn));
      }
      events.emit({ type: 'phase-end', round, phase: 'commit' });
      events.emit({ type: 'round-end', round, converged, costUsd: record.costUsd });
      if (converged) {
        stopReason = 'converged';
        break;
      }
    }

    await pendingWrite;
    if (context.signal.aborted) throw new AbortedError(context.signal.reason);
    machine.transition('complete');
    const last = rounds.at(-1)!;
    const endedAt = clock.now();
    const usage = { inputTokens: 0, outputTokens: 0, calls: 0 };
    for (const round of rounds) {
      for (const contribution of [round.proposal, ...round.challenges, round.revision, ...(round.classification ? [round.classification] : [])]) {
        usage.inputTokens += contribution.usage.inputTokens;
        usage.outputTokens += contribution.usage.outputTokens;
        usage.calls++;
      }
    }
    const result: ConsensusResult = {
      threadId: context.threadId,
      question: settings.question,
      protocolUsed: 'consensus',
      decision: last.decision,
      confidence: last.confidence,
      rigor: last.rigor,
      dissent: last.dissent,
      taxonomy: last.taxonomy,
      converged,
      stopReason,
      rounds,
      cost: ledger.summary(),
      usage,
      failures,
      startedAt: iso(startedAt),
      endedAt: iso(endedAt),
      durationMs: endedAt - startedAt,
    };
    await store(context, 'close the thread', () => storage.finishThread(context.scope, context.threadId, { status: 'complete', at: iso(endedAt) }));
    await context.finish?.(ledger.spentUsd);
    events.emit({ type: 'run-end', stopReason, result });
    context.logger.info(
      { threadId: context.threadId, rounds: rounds.length, stopReason, costUsd: result.cost.totalUsd, confidence: result.confidence },
      'duh: run complete',
    );
    return result;
  } catch (error) {
    if (!machine.isTerminal) machine.fail(serializeError(error).message);
    const serialized = serializeError(error);
    try {
      // Let an in-flight round write settle first, so the failed mark lands after it.
      await pendingWrite.catch(() => {});
      // A run that failed before its first write (with startThread) is stored now, as failed. If the create
      // fails, the thread may exist after all (its first write landed but the answer was lost): mark it only
      // when it is this run's own, still active; otherwise the create's error is logged below.
      if (!created && startThread && begun) {
        try {
          await storage.createThread(context.scope, newThread);
        } catch (createError) {
          const found = await storage.getThread(context.scope, context.threadId);
          if (found?.status !== 'active' || found.createdAt !== newThread.createdAt || found.question !== newThread.question) throw createError;
        }
        created = true;
      }
      if (created) await storage.finishThread(context.scope, context.threadId, { status: 'failed', error: serialized.message, at: iso(clock.now()) });
    } catch (storageError) {
      context.logger.error({ threadId: context.threadId, err: serializeError(storageError).message }, 'duh: could not mark the thread failed');
    }
    await context.finish?.(ledger.spentUsd);
    events.emit({ type: 'error', error: serialized });
    context.logger.error({ threadId: context.threadId, code: serialized.code }, `duh: run failed: ${serialized.message}`);
    throw error;
  }
}
