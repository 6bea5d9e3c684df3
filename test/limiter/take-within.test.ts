// takeWithin: waiting for a bucket (on an injected clock) instead of being refused.
import { describe, expect, it } from 'vitest';
import { AbortedError, InvalidOptionError } from '../../src/errors.js';
import type { RateLimitStore } from '../../src/limiter.js';
import { takeWithin } from '../../src/limiter/wait.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { memoryLimiter } from '../../limiter/memory.js';

const request = { key: 'model:openai', capacity: 2, refillPerMs: 1 / 500, cost: 1 }; // 2 per second

describe('takeWithin', () => {
  it('takes at once when the bucket has the tokens', async () => {
    const clock = new ManualClock();
    const decision = await takeWithin(memoryLimiter(), request, { clock, maxWaitMs: 10_000 });
    expect(decision).toMatchObject({ allowed: true, remaining: 1 });
    expect(decision.waitedMs).toBeUndefined();
    expect(clock.sleeps).toEqual([]);
  });

  it('waits for the refill, then succeeds', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const store = memoryLimiter();
    await takeWithin(store, { ...request, cost: 2 }, { clock, maxWaitMs: 10_000 });
    const start = clock.now();
    const decision = await takeWithin(store, request, { clock, maxWaitMs: 10_000 });
    expect(decision).toMatchObject({ allowed: true, remaining: 0, waitedMs: 500 });
    expect(clock.sleeps).toEqual([500]);
    expect(clock.now() - start).toBe(500);
  });

  it('tells onWait about each wait before it sleeps', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const store = memoryLimiter();
    await store.take({ ...request, cost: 2, now: clock.now() });
    const waits: [boolean, number, number][] = [];
    await takeWithin(store, { ...request, cost: 2 }, { clock, maxWaitMs: 10_000, onWait: (decision, waitMs) => waits.push([decision.allowed, waitMs, clock.now()]) });
    expect(waits).toEqual([[false, 1000, Date.UTC(2026, 0, 15)]]);
  });

  it('tries again after waking when another caller took the tokens meanwhile', async () => {
    const clock = new ManualClock();
    const store = memoryLimiter();
    await store.take({ ...request, cost: 2, now: clock.now() });
    const waiting = takeWithin(store, request, { clock, maxWaitMs: 10_000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.sleeps).toEqual([500]);
    // Someone else takes the token the moment it arrives.
    await clock.advance(499);
    expect((await store.take({ ...request, now: clock.now() + 1 })).allowed).toBe(true);
    await clock.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.sleeps).toEqual([500, 500]);
    await clock.advance(500);
    expect(await waiting).toMatchObject({ allowed: true, waitedMs: 1000 });
  });

  it('gives up at once when the wait would pass the deadline', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const store = memoryLimiter();
    await store.take({ ...request, cost: 2, now: clock.now() });
    const decision = await takeWithin(store, { ...request, cost: 2 }, { clock, maxWaitMs: 999 });
    expect(decision).toMatchObject({ allowed: false, retryAfterMs: 1000 });
    expect(decision.waitedMs).toBeUndefined();
    expect(clock.sleeps).toEqual([]);
    // With exactly enough time it waits.
    expect(await takeWithin(store, { ...request, cost: 2 }, { clock, maxWaitMs: 1000 })).toMatchObject({ allowed: true, waitedMs: 1000 });
  });

  it('stops waiting at the deadline when others keep taking', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const store = memoryLimiter();
    await store.take({ ...request, cost: 2, now: clock.now() });
    let calls = 0;
    const competing: RateLimitStore = {
      ...store,
      take: async (r) => {
        calls++;
        if (calls > 1) await store.take({ ...r, cost: 1 }); // the competitor wins each refilled token first
        return store.take(r);
      },
    };
    const decision = await takeWithin(competing, request, { clock, maxWaitMs: 1800 });
    expect(decision.allowed).toBe(false);
    expect(clock.sleeps).toEqual([500, 500, 500]);
    expect(decision.waitedMs).toBe(1500);
  });

  it('never waits for a cost the bucket can never hold', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const decision = await takeWithin(memoryLimiter(), { ...request, cost: 3 }, { clock, maxWaitMs: Number.POSITIVE_INFINITY });
    expect(decision).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
    expect(clock.sleeps).toEqual([]);
  });

  it('rejects with AbortedError when aborted during the wait, and before starting', async () => {
    const clock = new ManualClock();
    const store = memoryLimiter();
    await store.take({ ...request, cost: 2, now: clock.now() });
    const controller = new AbortController();
    const waiting = takeWithin(store, request, { clock, maxWaitMs: 10_000, signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.pending).toBe(1);
    controller.abort(new Error('user left'));
    await expect(waiting).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
    expect(clock.pending).toBe(0);
    await expect(takeWithin(store, request, { clock, maxWaitMs: 10_000, signal: controller.signal })).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
  });

  it('passes store failures through', async () => {
    const failing: RateLimitStore = { ...memoryLimiter(), take: () => Promise.reject(new Error('redis down')) };
    await expect(takeWithin(failing, request, { clock: new ManualClock(), maxWaitMs: 1000 })).rejects.toThrow('redis down');
  });

  it('refuses a bad maxWaitMs', async () => {
    await expect(takeWithin(memoryLimiter(), request, { clock: new ManualClock(), maxWaitMs: -1 })).rejects.toThrow(InvalidOptionError);
    await expect(takeWithin(memoryLimiter(), request, { clock: new ManualClock(), maxWaitMs: Number.NaN })).rejects.toThrow(/`maxWaitMs` option of takeWithin\(\)/);
  });
});
