// The rate-limit conformance suite catches broken stores (so a green run on memory and Redis means something).
import { describe, expect, it } from 'vitest';
import type { RateLimitStore } from '../../src/limiter.js';
import { rateLimitStoreConformance } from '../../src/testing/limiter-conformance.js';
import { memoryLimiter } from '../../limiter/memory.js';

/** Run the suite on a store; the names of the cases that fail. */
async function failures(create: () => RateLimitStore): Promise<string[]> {
  const failed: string[] = [];
  for (const check of rateLimitStoreConformance({ create })) {
    await check.run().catch(() => failed.push(check.name));
  }
  return failed;
}

describe('rateLimitStoreConformance', () => {
  it('passes the memory store', async () => {
    expect(await failures(() => memoryLimiter())).toEqual([]);
  });

  it('catches counters kept in plain floating point', async () => {
    const floats = (): RateLimitStore => {
      const used = new Map<string, number>();
      return {
        ...memoryLimiter(),
        reserve: async ({ key, limit, amount }) => {
          const next = (used.get(key) ?? 0) + amount;
          if (next > limit) return { allowed: false, used: used.get(key) ?? 0, limit };
          used.set(key, next);
          return { allowed: true, used: next, limit };
        },
      };
    };
    expect(await failures(floats)).toContain('reserve and settle are exact with fractional amounts');
  });

  it('catches a take that is not atomic', async () => {
    const racy = (): RateLimitStore => {
      const inner = memoryLimiter();
      const tokens = new Map<string, number>();
      return {
        ...inner,
        take: async (request) => {
          const have = tokens.get(request.key) ?? request.capacity;
          await new Promise((resolve) => setImmediate(resolve)); // a read, then a write: another take slips in between
          if (request.cost > have) return inner.take({ ...request, cost: request.capacity + 1 });
          tokens.set(request.key, have - request.cost);
          return { allowed: true, remaining: have - request.cost, limit: request.capacity, resetAt: request.now, retryAfterMs: 0 };
        },
      };
    };
    expect(await failures(racy)).toContain('concurrent takes admit exactly the capacity');
  });

  it('catches refunds that go above capacity and refusals that still take', async () => {
    const generous = (): RateLimitStore => {
      const inner = memoryLimiter();
      return { ...inner, refund: async (request) => ({ ...(await inner.refund(request)), remaining: 999 }) };
    };
    expect(await failures(generous)).toContain('refunds give tokens back but never above capacity');
    const greedy = (): RateLimitStore => {
      const inner = memoryLimiter();
      return {
        ...inner,
        take: async (request) => {
          const decision = await inner.take(request);
          if (!decision.allowed) await inner.take({ ...request, cost: Math.min(1, decision.remaining) });
          return decision;
        },
      };
    };
    expect(await failures(greedy)).toContain('a refused take leaves the bucket untouched');
  });

  it('refuses to skip a case that does not exist', () => {
    expect(() => rateLimitStoreConformance({ create: () => memoryLimiter(), skip: ['no such case'] })).toThrow(/no case is named "no such case"/);
    const all = rateLimitStoreConformance({ create: () => memoryLimiter() }).length;
    expect(rateLimitStoreConformance({ create: () => memoryLimiter(), skip: ['keys are independent'] })).toHaveLength(all - 1);
  });
});
