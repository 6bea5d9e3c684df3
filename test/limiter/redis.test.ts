// duh/limiter/redis against a real Redis 7 (127.0.0.1:6379; CI starts it). Every store in this file uses a key
// prefix of its own under `duh-test:<random>:`, deleted at the end, so files and runs never share keys.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError, LimiterUnavailableError } from '../../src/errors.js';
import type { BucketRequest } from '../../src/limiter.js';
import { rateLimitStoreConformance } from '../../src/testing/limiter-conformance.js';
import { memoryLimiter } from '../../limiter/memory.js';
import { REDIS_LIMITER_SCRIPT, type RedisClientLike, redisLimiter } from '../../limiter/redis.js';

const URL = process.env['DUH_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const ROOT = `duh-test:${randomUUID().slice(0, 8)}:`;
const T0 = Date.UTC(2026, 0, 15);
let redis: Redis;
let unavailable: Error | undefined;
let prefixes = 0;
const freshPrefix = () => `${ROOT}${++prefixes}:`;

beforeAll(async () => {
  redis = new Redis(URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    unavailable = new Error(
      `Redis is not answering at ${URL} (${(error as Error).message}). These tests need a real Redis 7: start it with ` +
        '`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`, or point DUH_TEST_REDIS_URL at one.',
    );
  }
});

beforeEach(() => {
  if (unavailable) throw unavailable;
});

afterAll(async () => {
  if (!unavailable) {
    const keys = await redis.keys(`${ROOT}*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
});

/** A client that counts the commands the store sends (each one is a round trip). */
function counting(client: RedisClientLike) {
  const calls: string[] = [];
  const wrapped: RedisClientLike = {
    evalsha: (...args) => (calls.push('evalsha'), client.evalsha(...args)),
    eval: (...args) => (calls.push('eval'), client.eval(...args)),
  };
  return { client: wrapped, calls };
}

describe('redisLimiter conformance (real Redis)', () => {
  for (const check of rateLimitStoreConformance({ create: () => redisLimiter({ client: redis, prefix: freshPrefix() }) })) it(check.name, check.run);
});

describe('redisLimiter conformance with a client it creates from a URL', () => {
  for (const check of rateLimitStoreConformance({ create: () => redisLimiter({ url: URL, prefix: freshPrefix() }) })) it(check.name, check.run);
});

describe('redisLimiter', () => {
  it('answers exactly like the memory store, on the same sequence of requests', async () => {
    const store = redisLimiter({ client: redis, prefix: freshPrefix() });
    const memory = memoryLimiter();
    // Awkward rates (not exact in binary), fractional costs, refunds and late clocks. Each key keeps its capacity:
    // a full bucket may be dropped (memory sweeps, Redis expiry), which is exact only while the capacity stays.
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    let now = T0;
    for (let i = 0; i < 400; i++) {
      now += Math.floor(random() * 900) - 100;
      const which = Math.floor(random() * 3);
      const key = `k${which}`;
      const capacity = [7, 10, 200_000][which]!;
      const refillPerMs = capacity / [60_000, 3_600_000, 1000][Math.floor(random() * 3)]!;
      const amount = Math.round(random() * 4 * 1000) / 1000;
      if (random() < 0.8) {
        const request: BucketRequest = { key, capacity, refillPerMs, cost: amount, now };
        expect(await store.take(request), `take #${i}`).toEqual(memory.tryTake(request));
      } else {
        const request = { key, capacity, refillPerMs, amount, now };
        expect(await store.refund(request), `refund #${i}`).toEqual(await memory.refund(request));
      }
    }
  });

  it('sends one command per operation, EVALSHA once the script is known', async () => {
    const { client, calls } = counting(redis);
    const store = redisLimiter({ client, prefix: freshPrefix() });
    const request = { key: 'k', capacity: 5, refillPerMs: 0.001, cost: 1, now: T0 };
    await store.take(request);
    await store.take(request);
    await store.refund({ ...request, amount: 1 });
    await store.reserve({ key: 'usd', limit: 1, amount: 0.5, expiresAt: T0 + 1000, now: T0 });
    await store.settle({ key: 'usd', reserved: 0.5, actual: 0.25, expiresAt: T0 + 1000, now: T0 });
    expect(calls).toEqual(['eval', 'evalsha', 'evalsha', 'evalsha', 'evalsha']);
  });

  it('recovers from NOSCRIPT (SCRIPT FLUSH) with EVAL, then goes back to EVALSHA', async () => {
    const { client, calls } = counting(redis);
    const store = redisLimiter({ client, prefix: freshPrefix() });
    const request = { key: 'k', capacity: 5, refillPerMs: 0.001, cost: 1, now: T0 };
    await store.take(request);
    await store.take(request);
    await redis.script('FLUSH');
    expect(await store.take(request)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await store.take(request)).toMatchObject({ allowed: true, remaining: 1 });
    expect(calls).toEqual(['eval', 'evalsha', 'evalsha', 'eval', 'evalsha']);
  });

  it('names the script by the SHA-1 Redis gives it', async () => {
    const { client, calls } = counting(redis);
    const store = redisLimiter({ client, prefix: freshPrefix() });
    await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 });
    await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 });
    expect(calls.at(-1)).toBe('evalsha');
    const loaded = (await redis.script('LOAD', REDIS_LIMITER_SCRIPT)) as string;
    await redis.script('FLUSH');
    await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 });
    expect(calls.at(-1)).toBe('eval'); // the sha it sent was the one flushed
    expect(loaded).toMatch(/^[0-9a-f]{40}$/);
  });

  it('keeps every key under its prefix, with an expiry', async () => {
    const prefix = freshPrefix();
    const store = redisLimiter({ client: redis, prefix });
    await store.take({ key: 'user:u1', capacity: 60, refillPerMs: 60 / 60_000, cost: 1, now: T0 });
    await store.reserve({ key: 'budget:u1', limit: 5, amount: 0.25, expiresAt: T0 + 3_600_000, now: T0 });
    expect((await redis.keys(`${prefix}*`)).sort()).toEqual([`${prefix}bucket:user:u1`, `${prefix}counter:budget:u1`]);
    const bucketTtl = await redis.pttl(`${prefix}bucket:user:u1`);
    expect(bucketTtl).toBeGreaterThan(115_000); // a minute to refill from empty, plus twice 30 s
    expect(bucketTtl).toBeLessThanOrEqual(120_000);
    const counterTtl = await redis.pttl(`${prefix}counter:budget:u1`);
    expect(counterTtl).toBeGreaterThan(3_600_000);
    expect(counterTtl).toBeLessThanOrEqual(3_660_000);
    expect(await redis.hgetall(`${prefix}counter:budget:u1`)).toEqual({ w: '0', n: '250000000', e: String(T0 + 3_600_000) });
    expect(await redis.hgetall(`${prefix}bucket:user:u1`)).toEqual({ t: '59', u: String(T0), x: String(T0 + 120_000) });
    // The expiry is renewed only when the bucket could outlive it.
    await store.take({ key: 'user:u1', capacity: 60, refillPerMs: 60 / 60_000, cost: 1, now: T0 + 1000 });
    expect((await redis.hgetall(`${prefix}bucket:user:u1`)).x).toBe(String(T0 + 120_000));
    await store.take({ key: 'user:u1', capacity: 60, refillPerMs: 60 / 60_000, cost: 60, now: T0 + 31_000 });
    expect((await redis.hgetall(`${prefix}bucket:user:u1`)).x).toBe(String(T0 + 151_000));
    // The default prefix is duh:
    expect(redisLimiter({ client: redis }).prefix).toBe('duh:');
  });

  it('fails closed by default when Redis is unreachable, saying how to fix it', async () => {
    const store = redisLimiter({ url: 'redis://127.0.0.1:1', timeoutMs: 300 });
    try {
      const error = await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 }).catch((caught: unknown) => caught);
      expect(LimiterUnavailableError.isInstance(error)).toBe(true);
      expect((error as LimiterUnavailableError).store).toBe('redis');
      expect((error as Error).message).toMatch(/^\[redis\] Redis at redis:\/\/127\.0\.0\.1:1 did not serve the rate limiter/);
      expect((error as Error).message).toMatch(/Check that Redis is running and reachable, or pass failOpen: true/);
      await expect(store.reserve({ key: 'usd', limit: 1, amount: 1, expiresAt: T0 + 10, now: T0 })).rejects.toThrow(LimiterUnavailableError);
    } finally {
      await store.close();
    }
  });

  it('fails closed on a client that does not answer in time', async () => {
    const hanging: RedisClientLike = { evalsha: () => new Promise(() => {}), eval: () => new Promise(() => {}) };
    const store = redisLimiter({ client: hanging, timeoutMs: 50 });
    await expect(store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 })).rejects.toThrow(/no answer within 50 ms/);
  });

  it('refuses replies it does not understand, and a script that disagrees with this process', async () => {
    const answering = (reply: unknown): RedisClientLike => ({ evalsha: async () => reply, eval: async () => reply });
    const request = { key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 };
    await expect(redisLimiter({ client: answering('OK') }).take(request)).rejects.toThrow(/answered the limiter script with "OK"; check that the client you passed is a Redis 7\.0\+ server/);
    await expect(redisLimiter({ client: answering([2, null, null]) }).take(request)).rejects.toThrow(LimiterUnavailableError);
    // The script says it refused a take that a full (new) bucket would grant.
    await expect(redisLimiter({ client: answering([0, null, null]) }).take(request)).rejects.toThrow(/disagree on a decision/);
    // A consistent reply is accepted: it refused 5 from a bucket holding 1 since T0.
    expect(await redisLimiter({ client: answering([0, '1', String(T0)]) }).take({ ...request, cost: 5 })).toMatchObject({ allowed: false, remaining: 1, retryAfterMs: 4 });
  });

  it('fails open by option: allowing decisions marked degraded, and onError hears each failure', async () => {
    const errors: LimiterUnavailableError[] = [];
    const store = redisLimiter({ url: 'redis://127.0.0.1:1', timeoutMs: 300, failOpen: true, onError: (error) => errors.push(error) });
    try {
      const decision = await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 2, now: T0 });
      expect(decision).toMatchObject({ allowed: true, remaining: 3, limit: 5, retryAfterMs: 0 });
      expect(decision.degraded).toMatch(/^redis unavailable: /);
      expect(await store.refund({ key: 'k', capacity: 5, refillPerMs: 1, amount: 2, now: T0 })).toMatchObject({ allowed: true, degraded: expect.any(String) });
      expect(await store.reserve({ key: 'usd', limit: 1, amount: 0.5, expiresAt: T0 + 10, now: T0 })).toMatchObject({ allowed: true, used: 0.5, limit: 1, degraded: expect.any(String) });
      expect(await store.settle({ key: 'usd', reserved: 0.5, actual: 0.1, expiresAt: T0 + 10, now: T0 })).toMatchObject({ degraded: expect.any(String) });
      expect(errors).toHaveLength(4);
      expect(errors.every((error) => LimiterUnavailableError.isInstance(error))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('without onError, failing open warns once per outage', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    let up = false;
    const flaky: RedisClientLike = {
      evalsha: (...args) => (up ? redis.evalsha(...args) : Promise.reject(new Error('connect ECONNREFUSED'))),
      eval: (...args) => (up ? redis.eval(...args) : Promise.reject(new Error('connect ECONNREFUSED'))),
    };
    try {
      const store = redisLimiter({ client: flaky, prefix: freshPrefix(), failOpen: true });
      const request = { key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 };
      for (let i = 0; i < 3; i++) expect((await store.take(request)).degraded).toMatch(/ECONNREFUSED/);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/Failing open/);
      up = true;
      expect((await store.take(request)).degraded).toBeUndefined();
      up = false;
      await store.take(request);
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
    }
  });

  it('closes only the clients it created', async () => {
    const own = new Redis(URL, { lazyConnect: true });
    await own.connect();
    const store = redisLimiter({ client: own, prefix: freshPrefix() });
    await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 });
    await store.close();
    expect(own.status).toBe('ready');
    expect(await own.ping()).toBe('PONG');
    own.disconnect();

    const prefix = freshPrefix();
    const created = redisLimiter({ url: URL, prefix });
    await created.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 });
    const named = async () => ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=duh-limiter:${prefix} `)).length;
    expect(await named()).toBe(1); // the connection it created, named after its prefix
    await created.close();
    await created.close(); // twice is fine
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await named()).toBe(0);
    await expect(created.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 })).rejects.toThrow(/closed/);
  });

  it('uses REDIS_URL when neither client nor url is given, and says what to pass otherwise', async () => {
    vi.stubEnv('REDIS_URL', '');
    try {
      expect(() => redisLimiter()).toThrow(/needs a `client` \(an ioredis client\) or a `url` such as "redis:\/\/127\.0\.0\.1:6379", and the REDIS_URL environment variable is not set/);
      vi.stubEnv('REDIS_URL', URL);
      const store = redisLimiter({ prefix: freshPrefix() });
      try {
        expect(await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 })).toMatchObject({ allowed: true, remaining: 4 });
      } finally {
        await store.close();
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('rejects bad options at once, naming them', () => {
    expect(() => redisLimiter({ client: redis, url: URL })).toThrow(/either `client` or `url`/);
    expect(() => redisLimiter({ client: {} as never })).toThrow(/must be an ioredis client, or any object with evalsha\(\) and eval\(\)/);
    expect(() => redisLimiter({ url: 'http://x' })).toThrow(/redis:\/\/ or rediss:\/\/ URL/);
    expect(() => redisLimiter({ client: redis, prefix: 5 as never })).toThrow(InvalidOptionError);
    expect(() => redisLimiter({ client: redis, failOpen: 'yes' as never })).toThrow(/`failOpen`/);
    expect(() => redisLimiter({ client: redis, timeoutMs: 0 })).toThrow(/`timeoutMs`/);
    expect(() => redisLimiter({ client: redis, onError: 1 as never })).toThrow(/`onError`/);
  });

  it('keeps a password out of its messages', async () => {
    const store = redisLimiter({ url: 'redis://user:hunter22@127.0.0.1:1', timeoutMs: 200 });
    try {
      const error = (await store.take({ key: 'k', capacity: 5, refillPerMs: 1, cost: 1, now: T0 }).catch((caught: unknown) => caught)) as Error;
      expect(error.message).toContain('redis://user:***@127.0.0.1:1');
      expect(error.message).not.toContain('hunter22');
    } finally {
      await store.close();
    }
  });
});
