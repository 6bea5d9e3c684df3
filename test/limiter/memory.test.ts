// duh/limiter/memory: the conformance suite, the synchronous take, bounded memory and option checks.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { rateLimitStoreConformance } from '../../src/testing/limiter-conformance.js';
import { memoryLimiter } from '../../limiter/memory.js';

const T0 = Date.UTC(2026, 0, 15);

describe('memoryLimiter conformance', () => {
  for (const check of rateLimitStoreConformance({ create: () => memoryLimiter() })) it(check.name, check.run);
});

describe('memoryLimiter', () => {
  it('tryTake answers synchronously with the same decisions as take', async () => {
    const sync = memoryLimiter();
    const async = memoryLimiter();
    const request = { key: 'k', capacity: 3, refillPerMs: 0.001, cost: 1, now: T0 };
    for (let i = 0; i < 5; i++) {
      const decision = sync.tryTake(request);
      expect(decision).not.toBeInstanceOf(Promise);
      expect(decision).toEqual(await async.take(request));
    }
    expect(sync.tryTake(request)).toEqual({ allowed: false, remaining: 0, limit: 3, resetAt: T0 + 3000, retryAfterMs: 1000 });
  });

  it('tryTake throws on a bad request and take rejects', async () => {
    const store = memoryLimiter();
    expect(() => store.tryTake({ key: 'k', capacity: 1, refillPerMs: 1, cost: -1, now: T0 })).toThrow(InvalidOptionError);
    await expect(store.take({ key: 'k', capacity: 1, refillPerMs: 1, cost: 1, now: Number.NaN })).rejects.toThrow(/`now` of a rate-limit take\(\) must be a finite time/);
    await expect(store.take({ key: '', capacity: 1, refillPerMs: 1, cost: 1, now: T0 })).rejects.toMatchObject({ option: 'take.key' });
  });

  it('keeps no state for a refusal or a refund to a new bucket, nor for a counter back at zero', async () => {
    const store = memoryLimiter();
    await store.take({ key: 'b', capacity: 5, refillPerMs: 1, cost: 6, now: T0 });
    await store.refund({ key: 'c', capacity: 5, refillPerMs: 1, amount: 1, now: T0 });
    expect(store.size).toBe(0);
    await store.reserve({ key: 'usd', limit: 1, amount: 0.5, expiresAt: T0 + 10, now: T0 });
    expect(store.size).toBe(1);
    await store.settle({ key: 'usd', reserved: 0.5, actual: 0, expiresAt: T0 + 10, now: T0 });
    expect(store.size).toBe(0);
  });

  it('keeps a full bucket 30 s, so a caller whose clock is behind cannot earn its refill twice', async () => {
    const store = memoryLimiter();
    const request = { key: 'k', capacity: 1, refillPerMs: 0.001, cost: 1 };
    await store.take({ ...request, now: T0 });
    expect((await store.take({ ...request, now: T0 + 1000 })).allowed).toBe(true); // refilled, taken again
    await store.refund({ ...request, amount: 1, now: T0 + 1000 }); // full again, stamped T0 + 1000
    await store.take({ ...request, cost: 0, now: T0 + 500 }); // a late caller sees the same full bucket
    expect((await store.take({ ...request, now: T0 + 500 })).allowed).toBe(true);
    // Without the kept stamp, the bucket would restart at T0 + 500 and refill again by T0 + 1500.
    expect(await store.take({ ...request, now: T0 + 1500 })).toMatchObject({ allowed: false, retryAfterMs: 500 });
  });

  it('drops refilled buckets and ended counters as time passes', async () => {
    const store = memoryLimiter();
    for (let i = 0; i < 100; i++) store.tryTake({ key: `k${i}`, capacity: 10, refillPerMs: 0.01, cost: 5, now: T0 });
    for (let i = 0; i < 50; i++) await store.reserve({ key: `c${i}`, limit: 1, amount: 1, expiresAt: T0 + 100_000, now: T0 });
    expect(store.size).toBe(150);
    // 500 ms refills 5 tokens: 30.5 s later every bucket has been full for 30 s; the counters still run.
    store.tryTake({ key: 'late', capacity: 10, refillPerMs: 0.01, cost: 5, now: T0 + 29_999 });
    expect(store.size).toBe(151); // no sweep yet: the last one was at T0
    store.tryTake({ key: 'later', capacity: 10, refillPerMs: 0.01, cost: 5, now: T0 + 60_000 });
    expect(store.size).toBe(52); // the 100 old buckets went; 50 counters, 'late' and 'later' stay
    await store.reserve({ key: 'c-new', limit: 1, amount: 1, expiresAt: T0 + 200_000, now: T0 + 120_000 });
    expect(store.size).toBe(1); // ended counters and long-full buckets went
  });

  it('stays within maxKeys, evicting the oldest keys when nothing is full', () => {
    const store = memoryLimiter({ maxKeys: 100 });
    for (let i = 0; i < 1000; i++) {
      expect(store.tryTake({ key: `k${i}`, capacity: 10, refillPerMs: 0, cost: 1, now: T0 }).allowed).toBe(true);
      expect(store.size).toBeLessThanOrEqual(100);
    }
    expect(store.tryTake({ key: 'k999', capacity: 10, refillPerMs: 0, cost: 0, now: T0 }).remaining).toBe(9); // the newest survive
    expect(store.tryTake({ key: 'k0', capacity: 10, refillPerMs: 0, cost: 0, now: T0 }).remaining).toBe(10); // the oldest were evicted
  });

  it('keeps counters within maxKeys too', async () => {
    const store = memoryLimiter({ maxKeys: 10 });
    for (let i = 0; i < 100; i++) await store.reserve({ key: `c${i}`, limit: 5, amount: 1, expiresAt: T0 + 60_000, now: T0 });
    expect(store.size).toBeLessThanOrEqual(10);
  });

  it('close() forgets everything', async () => {
    const store = memoryLimiter();
    store.tryTake({ key: 'k', capacity: 2, refillPerMs: 0, cost: 2, now: T0 });
    await store.close();
    expect(store.size).toBe(0);
    expect(store.tryTake({ key: 'k', capacity: 2, refillPerMs: 0, cost: 2, now: T0 }).allowed).toBe(true);
  });

  it('rejects bad options, naming them', () => {
    expect(() => memoryLimiter({ maxKeys: 0 })).toThrow(/`maxKeys` option of memoryLimiter\(\) must be a whole number >= 1/);
    expect(() => memoryLimiter({ maxKeys: 1.5 })).toThrow(InvalidOptionError);
    expect(() => memoryLimiter(null as never)).toThrow(InvalidOptionError);
  });
});
