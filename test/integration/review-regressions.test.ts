// Regressions for bugs a review found: each test failed before its fix.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, StorageError } from '../../src/errors.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { memoryStorage } from '../../storage/memory.js';
import { byPhase, trio } from '../helpers.js';

const QUESTION = 'Qüestion ✓ with accents?';

describe('review regressions', () => {
  it('an aborted half-open probe does not block the model forever', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models, challengerA } = trio();
    let mode: 'down' | 'hang' | 'up' = 'down';
    const flaky = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: () => (mode === 'down' ? { serverError: { status: 503 } } : mode === 'hang' ? { hang: true } : 'recovered objection') });
    const duh = new Consensus({ models: [models[0]!, flaky, models[2]!], rounds: 1, clock, retry: { maxRetries: 0 }, circuitBreaker: { failureThreshold: 1, cooldownMs: 5000 } });
    await duh.ask(QUESTION);
    expect(duh.circuits[0]?.state).toBe('open');
    await clock.advance(5000);
    mode = 'hang';
    const controller = new AbortController();
    const run = duh.ask(QUESTION, { signal: controller.signal, onEvent: (event) => event.type === 'member-start' && event.model === flaky.ref && queueMicrotask(() => controller.abort()) });
    await expect(run).rejects.toThrow();
    mode = 'up';
    await duh.ask(QUESTION);
    expect(flaky.calls).toHaveLength(3);
    expect(duh.circuits).toEqual([]);
  });

  it('circuit breaker fields left undefined keep their defaults', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const { models, challengerA } = trio();
    let down = true;
    const flaky = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: () => (down ? { serverError: { status: 503 } } : 'fine') });
    const duh = new Consensus({ models: [models[0]!, flaky, models[2]!], rounds: 1, clock, retry: { maxRetries: 0 }, circuitBreaker: { failureThreshold: 1, cooldownMs: undefined } as never }); // as JS callers (or TS without exactOptionalPropertyTypes) can pass it
    await duh.ask(QUESTION);
    down = false;
    await clock.advance(30_000);
    await duh.ask(QUESTION);
    expect(duh.circuits).toEqual([]);
  });

  it('a memory restore that fails half-way loses nothing', async () => {
    const storage = memoryStorage();
    const duh = new Consensus({ models: trio().models, rounds: 1, storage });
    await duh.ask('first');
    await duh.ask('second');
    let backup = '';
    for await (const line of duh.backup()) backup += line;
    const lines = backup.trim().split('\n');
    const bad = JSON.parse(lines[2]!) as { thread: { id: string; turns: { contributions: unknown[] }[] } };
    bad.thread.id = 'ffffffff-0000-7000-8000-000000000000';
    bad.thread.turns[0]!.contributions = [null];
    const corrupt = [lines[0], lines[1]!.replace(/"id":"[^"]+"/, '"id":"eeeeeeee-0000-7000-8000-000000000000"'), JSON.stringify(bad)].join('\n');
    await expect(duh.restore(corrupt, { mode: 'replace' })).rejects.toSatisfy((error: unknown) => StorageError.isInstance(error) && /Nothing was restored/.test((error as Error).message));
    expect((await duh.threads.list()).threads.map((thread) => thread.question).sort()).toEqual(['first', 'second']);
  });

  it('rejects timeouts and delays longer than a timer can wait', () => {
    const { models } = trio();
    for (const options of [{ timeoutMs: Infinity }, { timeoutMs: 2 ** 31 }, { retry: { maxDelayMs: 2 ** 31 } }]) {
      expect(() => new Consensus({ models, ...options })).toThrow(InvalidOptionError);
    }
  });

  it('treats undefined retry fields as unset', async () => {
    const duh = new Consensus({ models: trio().models, rounds: 1 });
    await expect(duh.ask(QUESTION, { retry: { maxRetries: undefined } as never })).resolves.toMatchObject({ rounds: [expect.anything()] });
  });

  it('settles every pending next() when the stream closes', async () => {
    const { models, challengerA } = trio();
    const hang = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply: { hang: true } });
    const stream = new Consensus({ models: [models[0]!, hang, models[2]!], rounds: 1 }).stream(QUESTION);
    const iterator = stream[Symbol.asyncIterator]();
    for (;;) {
      const { value } = await iterator.next();
      if (value?.type === 'member-start' && value.phase === 'challenge') break;
    }
    const drain = async () => {
      for (;;) if ((await iterator.next()).done) return 'done';
    };
    const both = Promise.all([drain(), drain()]);
    stream.abort();
    await expect(both).resolves.toEqual(['done', 'done']);
  });

  it('restores a backup streamed as bytes split inside a character', async () => {
    const source = new Consensus({ models: trio({ proposer: byPhase({ propose: 'p', revise: 'Décision ✓' }) }).models, rounds: 1 });
    await source.ask(QUESTION);
    let backup = '';
    for await (const line of source.backup()) backup += line;
    const bytes = new TextEncoder().encode(backup);
    const cut = bytes.indexOf(0x9c); // inside the three bytes of ✓
    const target = new Consensus({ models: trio().models, storage: memoryStorage() });
    await target.restore(Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]));
    const [thread] = (await target.threads.list()).threads;
    expect(thread?.question).toBe(QUESTION);
  });
});
