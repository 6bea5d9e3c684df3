// What duh only declares and we make real: retries, Retry-After, timeouts, fallbacks, truncation, abort, cost limits.
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import {
  AbortedError,
  CostLimitError,
  ProviderError,
  ProviderTimeoutError,
} from '../../src/errors.js';
import type { ConsensusEvent } from '../../src/events.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { byPhase, collect, tick, trio } from '../helpers.js';

const QUESTION = 'Which queue should we adopt for background jobs?';

describe('retries', () => {
  it('honours Retry-After on a 429, without jitter, then succeeds', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models, proposer } = trio();
    const flaky = new MockAdapter({
      ref: proposer.ref,
      info: proposer.info,
      script: [{ rateLimit: { retryAfterMs: 2500 } }],
      reply: byPhase({ propose: 'Use SQS.', revise: 'Use SQS with DLQs.' }),
    });
    const duh = new Consensus({ models: [flaky, ...models.slice(1)], rounds: 1, clock, random: () => 0.99 });
    const events = await collect(duh.stream(QUESTION));
    const errors = events.filter((event) => event.type === 'member-error');
    expect(errors).toEqual([expect.objectContaining({ model: proposer.ref, willRetry: true, retryInMs: 2500, attempt: 1, final: false, error: expect.objectContaining({ code: 'PROVIDER_RATE_LIMIT', retryable: true }) })]);
    // The engine slept exactly the provider's Retry-After (2500), not a jittered backoff.
    expect(clock.sleeps.filter((ms) => ms !== 300_000)).toEqual([2500]);
    const result = (events.at(-1) as Extract<ConsensusEvent, { type: 'run-end' }>).result;
    expect(result.rounds[0]!.proposal).toMatchObject({ text: 'Use SQS.', attempts: 2 });
    expect(flaky.calls).toHaveLength(3); // 429, propose, revise
  });

  it('backs off exponentially with jitter on retryable errors and caps the delay', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models } = trio();
    const failing = new MockAdapter({
      ref: 'anthropic:claude-opus-4-6',
      info: models[0]!.info,
      script: [{ serverError: { status: 503 } }, { serverError: { status: 502 } }, { serverError: { status: 500 } }],
      reply: byPhase({ propose: 'P', revise: 'R' }),
    });
    const random = [0, 0.5, 0.99];
    const duh = new Consensus({
      models: [failing, ...models.slice(1)],
      rounds: 1,
      clock,
      random: () => random.shift() ?? 0.5,
      retry: { maxRetries: 3, baseDelayMs: 1000, maxDelayMs: 3000 },
    });
    const result = await duh.ask(QUESTION);
    // attempt 0: 1000 × 0.5; attempt 1: 2000 × 1.0; attempt 2: min(4000 × 1.49, 3000): the cap holds after jitter
    const retrySleeps = clock.sleeps.filter((ms) => ms !== 300_000);
    expect(retrySleeps[0]).toBeCloseTo(500, 6);
    expect(retrySleeps[1]).toBeCloseTo(2000, 6);
    expect(retrySleeps[2]).toBe(3000);
    expect(result.rounds[0]!.proposal.attempts).toBe(4);
  });

  it('merges a run\'s retry options field by field over the constructor\'s', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models } = trio();
    const flaky = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: models[0]!.info, script: [{ serverError: { status: 503 } }], reply: 'ok' });
    const duh = new Consensus({ models: [flaky, ...models.slice(1)], rounds: 1, clock, retry: { baseDelayMs: 200, jitter: false, maxRetries: 0 } });
    await duh.ask(QUESTION, { retry: { maxRetries: 1 } });
    expect(clock.sleeps.filter((ms) => ms !== 300_000)).toEqual([200]);
  });

  it('does not retry non-retryable errors', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models } = trio();
    const denied = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: models[0]!.info, reply: { error: new ProviderError({ provider: 'anthropic', model: 'claude-opus-4-6', status: 401 }, 'Invalid API key.') } });
    const error = await new Consensus({ models: [denied, ...models.slice(1)], clock }).ask(QUESTION).catch((caught: unknown) => caught);
    expect(ProviderError.isInstance(error) && error.status).toBe(401);
    expect(denied.calls).toHaveLength(1);
    expect(clock.sleeps.filter((ms) => ms !== 300_000)).toEqual([]);
  });

  it('gives up after maxRetries and reports the final failure', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models } = trio();
    const down = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: models[0]!.info, reply: { serverError: { status: 503 } } });
    const duh = new Consensus({ models: [down, ...models.slice(1)], clock, retry: { maxRetries: 2 } });
    const stream = duh.stream(QUESTION);
    const events = await collect(stream);
    await expect(stream.result).rejects.toSatisfy((error: unknown) => ProviderError.isInstance(error) && error.status === 503);
    expect(down.calls).toHaveLength(3);
    const errors = events.filter((event): event is Extract<ConsensusEvent, { type: 'member-error' }> => event.type === 'member-error');
    expect(errors.map((event) => [event.attempt, event.willRetry, event.final])).toEqual([[1, true, false], [2, true, false], [3, false, true]]);
  });
});

describe('timeouts', () => {
  it('times out a hanging call, retries it, and reports ProviderTimeoutError', async () => {
    const clock = new ManualClock({ autoAdvance: 'all' }); // timeouts fire too: scripted models only
    const { models } = trio();
    const slow = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: models[0]!.info, script: [{ hang: true }], reply: byPhase({ propose: 'P', revise: 'R' }) });
    const duh = new Consensus({ models: [slow, ...models.slice(1)], rounds: 1, clock, timeoutMs: 10_000 });
    const events = await collect(duh.stream(QUESTION));
    const timeout = events.find((event) => event.type === 'member-error');
    expect(timeout).toMatchObject({ willRetry: true, error: { code: 'PROVIDER_TIMEOUT' } });
    expect(slow.calls[0]!.signal?.aborted).toBe(true);
    expect(slow.calls[0]!.outcome).toBe('aborted');
    expect(events.at(-1)?.type).toBe('run-end');
  });

  it('fails with ProviderTimeoutError when every attempt times out', async () => {
    const clock = new ManualClock({ autoAdvance: 'all' }); // timeouts fire too: scripted models only
    const { models } = trio();
    const stuck = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: models[0]!.info, reply: { hang: true } });
    const error = await new Consensus({ models: [stuck, ...models.slice(1)], clock, timeoutMs: 5000, retry: { maxRetries: 1 } })
      .ask(QUESTION)
      .catch((caught: unknown) => caught);
    expect(ProviderTimeoutError.isInstance(error)).toBe(true);
    expect((error as ProviderTimeoutError).timeoutMs).toBe(5000);
    expect((error as Error).message).toContain('timeoutMs');
  });
});

describe('fallbacks', () => {
  it('answers with the fallback model when the primary keeps failing', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models, challengerA } = trio();
    const backup = new MockAdapter({ ref: 'mistral:mistral-large-latest', info: { inputPricePerMTok: 2, outputPricePerMTok: 6 }, reply: 'Backup challenge: retries need idempotency keys.' });
    const broken = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: { serverError: { status: 500 } } });
    const duh = new Consensus({
      models: [models[0]!, broken, models[2]!],
      fallbacks: { [challengerA.ref]: [backup] },
      rounds: 1,
      clock,
      retry: { maxRetries: 1 },
    });
    const events = await collect(duh.stream(QUESTION));
    const handover = events.find((event) => event.type === 'member-error' && event.fallbackTo !== undefined);
    expect(handover).toMatchObject({ model: challengerA.ref, fallbackTo: 'mistral:mistral-large-latest', final: false });
    const result = (events.at(-1) as Extract<ConsensusEvent, { type: 'run-end' }>).result;
    const challenge = result.rounds[0]!.challenges[0]!;
    expect(challenge).toMatchObject({ model: 'mistral:mistral-large-latest', fallbackFor: challengerA.ref, attempts: 3, framing: 'flaw' });
    expect(result.failures.map((failure) => failure.model)).toEqual([challengerA.ref]);
  });

  it('lists each model of a challenger chain that failed once, and the run goes on without it', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models, challengerA } = trio();
    const broken = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: { serverError: { status: 500 } } });
    const backup = new MockAdapter({ ref: 'mistral:mistral-large-latest', reply: { serverError: { status: 502 } } });
    const result = await new Consensus({ models: [models[0]!, broken, models[2]!], fallbacks: { [challengerA.ref]: [backup] }, rounds: 1, clock, retry: { maxRetries: 0 } }).ask(QUESTION);
    expect(result.failures.map((failure) => [failure.model, failure.error.status])).toEqual([[challengerA.ref, 500], ['mistral:mistral-large-latest', 502]]);
    expect(result.rounds[0]!.challenges.map((challenge) => challenge.model)).toEqual(['google:gemini-3-pro-preview']);
  });

  it('rejects fallbacks keyed by an unknown model', () => {
    const { models } = trio();
    expect(() => new Consensus({ models, fallbacks: { 'nope:model': ['openai:gpt-5.2'] } })).toThrow(/nope:model/);
  });
});

describe('truncation', () => {
  it('flags an answer cut at the token limit, but not a normal stop', async () => {
    const { models } = trio({ challengerA: byPhase({ challenge: 'x' }) });
    const cut = new MockAdapter({
      ref: 'openai:gpt-5.2',
      info: models[1]!.info,
      reply: { text: 'The proposal misses the retry semantics of', finishReason: 'length' },
    });
    const result = await new Consensus({ models: [models[0]!, cut, models[2]!], rounds: 1 }).ask(QUESTION);
    const [first, second] = result.rounds[0]!.challenges;
    expect(first).toMatchObject({ truncated: true, finishReason: 'length' });
    expect(second).toMatchObject({ truncated: false, finishReason: 'stop' });
    expect(result.rounds[0]!.proposal.truncated).toBe(false);
  });

  it('treats a stream that ends without a finish as a retryable truncation', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models } = trio();
    const dropped = new MockAdapter({
      ref: 'anthropic:claude-opus-4-6',
      info: models[0]!.info,
      script: [{ truncate: { text: 'Use Kafka because', afterChars: 9 } }],
      reply: byPhase({ propose: 'Use SQS.', revise: 'Use SQS, finally.' }),
    });
    const events = await collect(new Consensus({ models: [dropped, ...models.slice(1)], rounds: 1, clock }).stream(QUESTION));
    expect(events.find((event) => event.type === 'member-error')).toMatchObject({ willRetry: true, error: { code: 'TRUNCATED' } });
    const result = (events.at(-1) as Extract<ConsensusEvent, { type: 'run-end' }>).result;
    expect(result.rounds[0]!.proposal).toMatchObject({ text: 'Use SQS.', truncated: false, attempts: 2 });
  });
});

describe('abort', () => {
  it('aborting mid-round fires the signal of every in-flight member call', async () => {
    const { models, proposer, challengerA, challengerB } = trio();
    // Challengers hang until aborted; the proposer answers at once.
    const hangA = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: { hang: true } });
    const hangB = new MockAdapter({ ref: challengerB.ref, info: challengerB.info, reply: { hang: true } });
    const controller = new AbortController();
    const duh = new Consensus({ models: [proposer, hangA, hangB], rounds: 3 });
    const seen: ConsensusEvent[] = [];
    const run = duh.ask(QUESTION, {
      signal: controller.signal,
      onEvent: (event) => {
        seen.push(event);
        if (event.type === 'member-start' && event.phase === 'challenge' && event.index === 1) queueMicrotask(() => controller.abort(new Error('user left')));
      },
    });
    const error = await run.catch((caught: unknown) => caught);
    expect(AbortedError.isInstance(error)).toBe(true);
    expect(hangA.calls).toHaveLength(1);
    expect(hangB.calls).toHaveLength(1);
    expect(hangA.calls[0]!.signal?.aborted).toBe(true);
    expect(hangB.calls[0]!.signal?.aborted).toBe(true);
    expect(seen.at(-1)).toMatchObject({ type: 'error', error: { code: 'ABORTED' } });
    // Nothing was retried after the abort.
    expect(seen.filter((event) => event.type === 'member-error' && event.willRetry)).toEqual([]);
    expect(proposer.calls).toHaveLength(1);
    const [thread] = (await duh.threads.list()).threads;
    expect(thread?.status).toBe('failed');
  });

  it('stops waiting even when an adapter ignores the signal', async () => {
    const { models } = trio();
    // A hand-written adapter whose stream never settles and never looks at the signal.
    const ignoring = {
      specificationVersion: 'v1' as const,
      provider: 'anthropic',
      modelId: 'claude-opus-4-6',
      info: models[0]!.info,
      generate: () => new Promise<never>(() => {}),
      stream: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => {}) }) }),
    };
    const controller = new AbortController();
    const run = new Consensus({ models: [ignoring, ...models.slice(1)] }).ask(QUESTION, { signal: controller.signal });
    await tick();
    controller.abort();
    await expect(run).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
  });

  it('reads an adapter whose stream iterator returns plain values from next() (as for await does)', async () => {
    const { models } = trio();
    const parts = [
      { type: 'text-delta' as const, text: 'Shard by tenant, ' },
      { type: 'text-delta' as const, text: 'with pooled connections.' },
      { type: 'finish' as const, finishReason: 'stop' as const, usage: { inputTokens: 10, outputTokens: 8 } },
    ];
    const plain = {
      ...models[0]!,
      specificationVersion: 'v1' as const,
      provider: models[0]!.provider,
      modelId: models[0]!.modelId,
      info: models[0]!.info,
      generate: models[0]!.generate.bind(models[0]),
      stream: () => {
        let index = 0;
        return { [Symbol.asyncIterator]: () => ({ next: () => (index < parts.length ? { done: false, value: parts[index++]! } : { done: true, value: undefined }) }) };
      },
    };
    const result = await new Consensus({ models: [plain as never, ...models.slice(1)], rounds: 1 }).ask(QUESTION);
    expect(result.rounds[0]!.proposal.text).toBe('Shard by tenant, with pooled connections.');
  });

  it('an already-aborted signal rejects without calling any model or storing anything, and still ends the events with error', async () => {
    const { models, proposer } = trio();
    const duh = new Consensus({ models });
    const error = await duh.ask(QUESTION, { signal: AbortSignal.abort() }).catch((caught: unknown) => caught);
    expect(AbortedError.isInstance(error)).toBe(true);
    expect(proposer.calls).toHaveLength(0);
    const events = await collect(duh.stream(QUESTION, { signal: AbortSignal.abort() }));
    expect(events.map((event) => event.type)).toEqual(['run-start', 'error']);
    expect((await duh.threads.list()).total).toBe(0);
  });

  it('leaving the event loop early aborts the run', async () => {
    const { models, challengerA, challengerB } = trio();
    const hangA = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: { hang: true } });
    const stream = new Consensus({ models: [models[0]!, hangA, challengerB] }).stream(QUESTION);
    for await (const event of stream) {
      if (event.type === 'phase-start' && event.phase === 'challenge') break;
    }
    await expect(stream.result).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
    await tick();
    expect(hangA.calls[0]?.signal?.aborted).toBe(true);
  });
});

describe('cost limits', () => {
  const priced = () => {
    const usage = { inputTokens: 100, outputTokens: 100 };
    let n = 0;
    const proposer = new MockAdapter({ ref: 'anthropic:opus', info: { inputPricePerMTok: 5, outputPricePerMTok: 25, maxOutputTokens: 1000 }, reply: (_r, context) => ({ text: `${context.system.slice(0, 20)} answer`, usage }) });
    const challenger = new MockAdapter({ ref: 'openai:gpt', info: { inputPricePerMTok: 2, outputPricePerMTok: 10, maxOutputTokens: 1000 }, reply: () => ({ text: `objection ${n++} w${n} z${n}`, usage }) });
    return { proposer, challenger, models: [proposer, challenger] };
  };

  it('throws CostLimitError before any call when not even round 1 fits', async () => {
    const { models, proposer, challenger } = priced();
    const duh = new Consensus({ models, challengerCount: 1, maxOutputTokens: 1000, costLimitUsd: 0.01 });
    const error = await duh.ask(QUESTION).catch((caught: unknown) => caught);
    expect(CostLimitError.isInstance(error)).toBe(true);
    expect((error as CostLimitError).limitUsd).toBe(0.01);
    expect((error as CostLimitError).spentUsd).toBe(0);
    expect(proposer.calls.length + challenger.calls.length).toBe(0);
  });

  it('stops before the round that could cross the limit and keeps the last decision', async () => {
    const { models, proposer } = priced();
    // The worst case of one round with these budgets is just over $0.105 (prompt characters counted as tokens,
    // full output budgets): $0.106 admits round 1, and round 1's real spend leaves too little for round 2.
    const duh = new Consensus({ models, challengerCount: 1, maxOutputTokens: 1000, costLimitUsd: 0.106, rounds: 3 });
    const result = await duh.ask(QUESTION);
    expect(result.stopReason).toBe('cost-limit');
    expect(result.rounds).toHaveLength(1);
    expect(result.cost.totalUsd).toBeLessThanOrEqual(0.106);
    // No round-2 call was made.
    expect(proposer.calls).toHaveLength(2);
    const thread = await duh.threads.get(result.threadId);
    expect(thread.status).toBe('complete');
  });

  it('emits one cost-warning when the warning threshold is crossed', async () => {
    const { models } = priced();
    const events = await collect(new Consensus({ models, challengerCount: 1, rounds: 1, costWarnUsd: 0.001 }).stream(QUESTION));
    const warnings = events.filter((event) => event.type === 'cost-warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ warnUsd: 0.001 });
    const costs = events.filter((event): event is Extract<ConsensusEvent, { type: 'cost' }> => event.type === 'cost');
    expect(costs.map((event) => event.totalUsd)).toEqual([...costs.map((event) => event.totalUsd)].sort((a, b) => a - b));
  });

  it('rejects a negative cost limit at construction', () => {
    const { models } = priced();
    expect(() => new Consensus({ models, costLimitUsd: -1 })).toThrow(/`costLimitUsd`/);
  });
});

describe('events', () => {
  it('numbers every event from 0 and stamps the thread id, in protocol order', async () => {
    const { models } = trio();
    const stream = new Consensus({ models, rounds: 1 }).stream(QUESTION);
    const events = await collect(stream);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    expect(new Set(events.map((event) => event.threadId))).toEqual(new Set([stream.threadId]));
    expect(events.every((event) => event.v === 1)).toBe(true);
    const outline = events.filter((event) => !['member-delta', 'cost'].includes(event.type)).map((event) => ('phase' in event && event.type.startsWith('phase') ? `${event.type}:${event.phase}` : event.type));
    expect(outline).toEqual([
      'run-start',
      'round-start',
      'phase-start:propose', 'member-start', 'member-end', 'phase-end:propose',
      'phase-start:challenge', 'member-start', 'member-start', 'member-end', 'challenge', 'member-end', 'challenge', 'phase-end:challenge',
      'phase-start:revise', 'member-start', 'member-end', 'phase-end:revise',
      'phase-start:commit', 'member-start', 'member-end', 'commit', 'phase-end:commit',
      'round-end',
      'run-end',
    ]);
  });

  it('streams token deltas that add up to each contribution', async () => {
    const { models } = trio();
    const chunked = new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: models[0]!.info, chunkSize: 4, reply: byPhase({ propose: 'Adopt a durable queue with retries.', revise: 'Adopt SQS.' }) });
    const events = await collect(new Consensus({ models: [chunked, ...models.slice(1)], rounds: 1 }).stream(QUESTION));
    const deltas = events.filter((event): event is Extract<ConsensusEvent, { type: 'member-delta' }> => event.type === 'member-delta' && event.phase === 'propose');
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.map((event) => event.text).join('')).toBe('Adopt a durable queue with retries.');
  });

  it('can be read as a ReadableStream, once', async () => {
    const { models } = trio();
    const stream = new Consensus({ models, rounds: 1 }).stream(QUESTION);
    const readable = stream.toReadableStream();
    const reader = readable.getReader();
    const types: string[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      types.push(value.type);
    }
    expect(types[0]).toBe('run-start');
    expect(types.at(-1)).toBe('run-end');
    expect(() => stream[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'STREAM_CONSUMED', message: expect.stringMatching(/already consumed/) }));
    await expect(stream.result).resolves.toMatchObject({ rounds: [expect.anything()] });
  });

  it('ignores a listener that throws', async () => {
    const { models } = trio();
    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (_object: Record<string, unknown>, message: string) => warnings.push(message) };
    const result = await new Consensus({ models, rounds: 1, logger, onEvent: () => { throw new Error('listener bug'); } }).ask(QUESTION);
    expect(result.decision).toBeTruthy();
    expect(warnings.some((message) => message.includes('onEvent listener threw'))).toBe(true);
  });
});

describe('logging', () => {
  it('logs structured lines without prompts, answers or secrets', async () => {
    const lines: { level: string; object: Record<string, unknown>; message: string }[] = [];
    const capture = (level: string) => (object: Record<string, unknown>, message: string) => void lines.push({ level, object, message });
    const logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
    const clock = new ManualClock({ autoAdvance: true });
    const { models } = trio();
    const leaky = new MockAdapter({
      ref: 'anthropic:claude-opus-4-6',
      info: models[0]!.info,
      script: [{ error: new ProviderError({ provider: 'anthropic', model: 'claude-opus-4-6', status: 500 }, 'upstream said: x-api-key sk-ant-SECRET0123456789') }],
      reply: byPhase({ propose: 'TOP-SECRET-ANSWER', revise: 'TOP-SECRET-ANSWER revised' }),
    });
    await new Consensus({ models: [leaky, ...models.slice(1)], rounds: 1, clock, logger }).ask('CONFIDENTIAL-QUESTION?');
    const text = JSON.stringify(lines);
    expect(lines.map((line) => line.message)).toContain('duh: run started');
    expect(lines.some((line) => line.level === 'warn' && line.object['model'] === 'anthropic:claude-opus-4-6' && line.object['willRetry'] === true)).toBe(true);
    expect(text).not.toContain('SECRET0123456789');
    expect(text).not.toContain('CONFIDENTIAL-QUESTION');
    expect(text).not.toContain('TOP-SECRET-ANSWER');
  });
});

describe('late abort', () => {
  it('leaving the stream on the final commit still aborts: the run rejects and the thread is failed', async () => {
    const { models } = trio();
    const duh = new Consensus({ models, rounds: 1 });
    const stream = duh.stream(QUESTION);
    for await (const event of stream) if (event.type === 'commit') break;
    await expect(stream.result).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
    const thread = await duh.threads.get(stream.threadId);
    expect(thread.status).toBe('failed');
    // The consumer reads events a little behind the engine: a round already written when the abort lands is kept.
    expect(thread.turns.length).toBeLessThanOrEqual(1);
  });
});
