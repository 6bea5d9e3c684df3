/**
 * The conformance suite of the rate-limit store contract (`RateLimitStore` v1): run it against your own store
 * to check it keeps the contract's arithmetic, atomicity and expiry. Like the other suites it is a list of named
 * async cases that throw on failure, for any test runner.
 *
 * Time is controlled by the suite: every request carries `now` (starting at 2026-01-15T00:00:00Z and moving
 * forward by the milliseconds a case needs), so no case waits for real time. Every case works on keys of its
 * own, with a random part, so a store shared by several runs (one Redis) never sees another run's keys.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { rateLimitStoreConformance } from 'duh/testing';
 * describe('my store', () => {
 *   for (const check of rateLimitStoreConformance({ create: () => myStore() })) it(check.name, check.run);
 * });
 * ```
 *
 * @module
 */
import type { BucketRequest, CounterRequest, LimitDecision, RateLimitStore } from '../limiter.js';
import type { ConformanceCase } from './conformance.js';
import { pickCases } from './cases.js';

/** Options for {@link rateLimitStoreConformance}. */
export interface RateLimitStoreConformanceOptions {
  /** A store per case (it may share its backend with other cases: the keys differ). The suite closes it after the case. */
  create: () => RateLimitStore | Promise<RateLimitStore>;
  /**
   * Names of cases to leave out (exactly as they appear in the returned list), for a documented limitation of
   * the store. A name that matches no case throws, so a renamed case is never skipped silently.
   */
  skip?: readonly string[];
}

const T0 = Date.UTC(2026, 0, 15);

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Conformance: ${message}`);
}

const json = (value: unknown) => JSON.stringify(value, (_key, node: unknown) => (node === Number.POSITIVE_INFINITY ? 'Infinity' : node));

/** Expect some fields of a decision to be exactly as given. */
function expectDecision(decision: LimitDecision, expected: Partial<LimitDecision>, what: string): void {
  check(typeof decision === 'object' && decision !== null, `${what}: expected a decision object, got ${json(decision)}`);
  for (const [field, value] of Object.entries(expected) as [keyof LimitDecision, unknown][]) {
    check(Object.is(decision[field], value), `${what}: expected ${field} ${json(value)}, got ${json(decision[field])} (decision ${json(decision)})`);
  }
}

/** Resolve to the rejection of `run` (sync throws included), or fail when it succeeds. */
async function rejection(run: () => Promise<unknown>, what: string): Promise<unknown> {
  const outcome = await (async () => run())().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  check(!outcome.ok, `${what} must be refused with an error, but it resolved to ${json(outcome.ok ? outcome.value : undefined)}`);
  return outcome.error;
}

/**
 * The rate-limit store suite: buckets start full, weighted takes, refusals that change nothing, refill over
 * time, exact `retryAfterMs`, costs above capacity, refunds capped at capacity, independent keys, exact
 * reserve/settle arithmetic with fractional amounts, refusal at a budget's limit, counter expiry, and atomicity
 * under 200 concurrent takes and 100 concurrent reservations.
 */
export function rateLimitStoreConformance(options: RateLimitStoreConformanceOptions): ConformanceCase[] {
  const run = Math.random().toString(36).slice(2, 10);
  let counter = 0;
  /** A key no other case or run uses. */
  const fresh = (name: string) => `conformance:${run}:${++counter}:${name}`;
  /** 1 token per 4 ms: every refill below is exact in binary floating point. */
  const QUARTER = 0.25;

  const bucket = (key: string, capacity: number, refillPerMs: number) => ({
    take: (store: RateLimitStore, cost: number, now = T0) => store.take({ key, capacity, refillPerMs, cost, now }),
    refund: (store: RateLimitStore, amount: number, now = T0) => store.refund({ key, capacity, refillPerMs, amount, now }),
  });

  const cases: { name: string; body: (store: RateLimitStore) => Promise<void> }[] = [
    {
      name: 'declares specificationVersion v1 and a name',
      body: async (store) => {
        check(store.specificationVersion === 'v1', `specificationVersion must be 'v1', got ${json(store.specificationVersion)}`);
        check(typeof store.name === 'string' && store.name.length > 0, `name must be a non-empty string, got ${json(store.name)}`);
        for (const method of ['take', 'refund', 'reserve', 'settle'] as const) check(typeof store[method] === 'function', `${method} must be a function`);
      },
    },
    {
      name: 'a new bucket starts full',
      body: async (store) => {
        const b = bucket(fresh('full'), 10, QUARTER);
        expectDecision(await b.take(store, 0), { allowed: true, remaining: 10, limit: 10, retryAfterMs: 0, resetAt: T0 }, 'a take of 0 from a new bucket');
        expectDecision(await b.take(store, 1), { allowed: true, remaining: 9, limit: 10, retryAfterMs: 0, resetAt: T0 + 4 }, 'a take of 1 from a full bucket of 10');
        const whole = bucket(fresh('whole'), 10, QUARTER);
        expectDecision(await whole.take(store, 10), { allowed: true, remaining: 0, retryAfterMs: 0, resetAt: T0 + 40 }, 'a take of the whole capacity from a new bucket');
      },
    },
    {
      name: 'takes are weighted by cost',
      body: async (store) => {
        const b = bucket(fresh('weighted'), 10, QUARTER);
        expectDecision(await b.take(store, 3), { allowed: true, remaining: 7 }, 'take 3 of 10');
        expectDecision(await b.take(store, 2.5), { allowed: true, remaining: 4 }, 'take 2.5 more (4.5 left, reported as 4 whole tokens)');
        expectDecision(await b.take(store, 4.5), { allowed: true, remaining: 0, resetAt: T0 + 40 }, 'take the last 4.5');
      },
    },
    {
      name: 'a refused take leaves the bucket untouched',
      body: async (store) => {
        const b = bucket(fresh('refused'), 10, QUARTER);
        await b.take(store, 6);
        expectDecision(await b.take(store, 5), { allowed: false, remaining: 4, limit: 10, retryAfterMs: 4, resetAt: T0 + 24 }, 'take 5 with 4 left');
        expectDecision(await b.take(store, 5), { allowed: false, remaining: 4, retryAfterMs: 4 }, 'the same refused take again');
        expectDecision(await b.take(store, 4), { allowed: true, remaining: 0 }, 'take the 4 left after two refusals');
      },
    },
    {
      name: 'tokens refill over time, up to capacity',
      body: async (store) => {
        const b = bucket(fresh('refill'), 10, QUARTER);
        await b.take(store, 10);
        expectDecision(await b.take(store, 1, T0 + 3), { allowed: false, remaining: 0, retryAfterMs: 1 }, '3 ms later (0.75 tokens)');
        expectDecision(await b.take(store, 1, T0 + 4), { allowed: true, remaining: 0, resetAt: T0 + 44 }, '4 ms later (1 token)');
        expectDecision(await b.take(store, 2, T0 + 12), { allowed: true, remaining: 0 }, '12 ms after the start (2 new tokens)');
        expectDecision(await b.take(store, 1, T0 + 1_000_000), { allowed: true, remaining: 9, resetAt: T0 + 1_000_004 }, 'much later (refilled to capacity, never beyond)');
      },
    },
    {
      name: 'a caller whose clock is behind gains no tokens and loses none',
      body: async (store) => {
        const b = bucket(fresh('skew'), 10, QUARTER);
        await b.take(store, 10, T0 + 100);
        expectDecision(await b.take(store, 1, T0), { allowed: false, remaining: 0, retryAfterMs: 104 }, 'a take stamped 100 ms before the last one');
        expectDecision(await b.take(store, 1, T0 + 104), { allowed: true, remaining: 0 }, 'a take 4 ms after the last one, by its clock');
      },
    },
    {
      name: 'retryAfterMs is the exact wait: a take then succeeds, and one millisecond earlier it does not',
      body: async (store) => {
        const exact = bucket(fresh('exact'), 10, QUARTER);
        await exact.take(store, 10);
        expectDecision(await exact.take(store, 3), { allowed: false, retryAfterMs: 12 }, '3 tokens at 1 per 4 ms');
        // 10 per minute: 1/6000 per ms is not exact in binary; the wait must still be the first ms that works.
        const perMinute = bucket(fresh('per-minute'), 10, 10 / 60_000);
        await perMinute.take(store, 10);
        const refused = await perMinute.take(store, 3);
        check(!refused.allowed && Number.isInteger(refused.retryAfterMs) && Math.abs(refused.retryAfterMs - 18_000) <= 1, `3 tokens at 10/min must wait about 18000 ms (a whole number), got ${json(refused)}`);
        expectDecision(await perMinute.take(store, 3, T0 + refused.retryAfterMs - 1), { allowed: false, retryAfterMs: 1 }, `a take 1 ms before retryAfterMs`);
        expectDecision(await perMinute.take(store, 3, T0 + refused.retryAfterMs), { allowed: true, remaining: 0 }, 'a take at retryAfterMs');
      },
    },
    {
      name: 'a cost above capacity is refused with an infinite retryAfterMs and takes nothing',
      body: async (store) => {
        const b = bucket(fresh('over'), 10, QUARTER);
        expectDecision(await b.take(store, 11), { allowed: false, remaining: 10, retryAfterMs: Number.POSITIVE_INFINITY }, 'take 11 from a bucket of 10');
        expectDecision(await b.take(store, 10), { allowed: true, remaining: 0 }, 'take 10 after the refusal');
        const never = bucket(fresh('never'), 5, 0);
        await never.take(store, 5);
        expectDecision(await never.take(store, 1, T0 + 1e9), { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY, resetAt: Number.POSITIVE_INFINITY }, 'an empty bucket that never refills');
      },
    },
    {
      name: 'refunds give tokens back but never above capacity',
      body: async (store) => {
        const b = bucket(fresh('refund'), 10, QUARTER);
        await b.take(store, 4);
        expectDecision(await b.refund(store, 2), { allowed: true, remaining: 8, retryAfterMs: 0, limit: 10 }, 'refund 2 after taking 4');
        expectDecision(await b.refund(store, 100), { allowed: true, remaining: 10, resetAt: T0 }, 'refund 100 (capped at capacity)');
        expectDecision(await b.take(store, 10), { allowed: true, remaining: 0 }, 'take the capacity after the refunds');
        expectDecision(await b.take(store, 1), { allowed: false }, 'one more: the refund must not have minted tokens');
        const untouched = bucket(fresh('refund-new'), 10, QUARTER);
        expectDecision(await untouched.refund(store, 5), { allowed: true, remaining: 10 }, 'a refund to a new (full) bucket');
        expectDecision(await untouched.take(store, 11), { allowed: false, remaining: 10 }, 'take 11 after refunding 5 to a full bucket of 10');
      },
    },
    {
      name: 'keys are independent',
      body: async (store) => {
        const [a, b] = [bucket(fresh('a'), 3, QUARTER), bucket(fresh('b'), 3, QUARTER)];
        await a.take(store, 3);
        expectDecision(await a.take(store, 1), { allowed: false }, 'the emptied bucket');
        expectDecision(await b.take(store, 3), { allowed: true, remaining: 0 }, 'another key, untouched by the first');
      },
    },
    {
      name: 'reserve and settle are exact with fractional amounts',
      body: async (store) => {
        const key = fresh('usd');
        const reserve = (amount: number, limit = 0.3) => store.reserve({ key, limit, amount, expiresAt: T0 + 86_400_000, now: T0 });
        const settle = (reserved: number, actual: number) => store.settle({ key, reserved, actual, expiresAt: T0 + 86_400_000, now: T0 });
        same(await reserve(0.1), { allowed: true, used: 0.1, limit: 0.3 }, 'reserve 0.1 of 0.3');
        same(await reserve(0.2), { allowed: true, used: 0.3, limit: 0.3 }, 'reserve 0.2 more (0.1 + 0.2 must be exactly 0.3)');
        same(await reserve(0.000123), { allowed: false, used: 0.3, limit: 0.3 }, 'reserve 0.000123 past the limit');
        same(await settle(0.2, 0.000123), { used: 0.100123 }, 'settle a 0.2 reservation that cost 0.000123');
        same(await reserve(0.199877), { allowed: true, used: 0.3, limit: 0.3 }, 'reserve exactly the rest');
        same(await settle(0.3, 0), { used: 0 }, 'settle 0.3 reserved, nothing spent');
        const big = fresh('micros');
        const limit = 5_000_000_000_000; // e.g. $5M in micro-dollars
        same(await store.reserve({ key: big, limit, amount: limit - 1, expiresAt: T0 + 1000, now: T0 }), { allowed: true, used: limit - 1, limit }, 'a large whole amount');
        same(await store.reserve({ key: big, limit, amount: 1, expiresAt: T0 + 1000, now: T0 }), { allowed: true, used: limit, limit }, 'the last unit of a large limit');
        same(await store.reserve({ key: big, limit, amount: 0.000001, expiresAt: T0 + 1000, now: T0 }), { allowed: false, used: limit, limit }, 'a millionth past a large limit');
      },
    },
    {
      name: 'a reservation is refused at the limit and a settle is floored at zero',
      body: async (store) => {
        const key = fresh('limit');
        const reserve = (amount: number) => store.reserve({ key, limit: 5, amount, expiresAt: T0 + 60_000, now: T0 });
        same(await reserve(5), { allowed: true, used: 5, limit: 5 }, 'reserve the whole limit');
        same(await reserve(0.000000001), { allowed: false, used: 5, limit: 5 }, 'reserve 1e-9 more');
        same(await reserve(0), { allowed: true, used: 5, limit: 5 }, 'reserve 0 at the limit');
        same(await store.settle({ key, reserved: 5, actual: 7.5, expiresAt: T0 + 60_000, now: T0 }), { used: 7.5 }, 'settle a run that cost more than it reserved');
        same(await reserve(1), { allowed: false, used: 7.5, limit: 5 }, 'reserve over an overspent counter');
        same(await store.settle({ key, reserved: 10, actual: 0, expiresAt: T0 + 60_000, now: T0 }), { used: 0 }, 'settle more than was used (floored at 0)');
        same(await reserve(5), { allowed: true, used: 5, limit: 5 }, 'reserve after the floor');
        const fresher = fresh('settle-first');
        same(await store.settle({ key: fresher, reserved: 0, actual: 0.25, expiresAt: T0 + 60_000, now: T0 }), { used: 0.25 }, 'a settle that creates its counter');
      },
    },
    {
      name: 'a counter resets when its window ends',
      body: async (store) => {
        const key = fresh('window');
        const reserve = (amount: number, now: number, expiresAt: number) => store.reserve({ key, limit: 5, amount, expiresAt, now });
        same(await reserve(4, T0, T0 + 1000), { allowed: true, used: 4, limit: 5 }, 'reserve 4 of 5 in a window ending at +1000 ms');
        same(await reserve(2, T0 + 999, T0 + 1000), { allowed: false, used: 4, limit: 5 }, 'reserve 2 at +999 ms');
        same(await reserve(2, T0 + 1000, T0 + 2000), { allowed: true, used: 2, limit: 5 }, 'reserve 2 at +1000 ms (the window has ended)');
        same(await reserve(3, T0 + 1500, T0 + 9999), { allowed: true, used: 5, limit: 5 }, 'reserve 3 in the new window (the first request set its end)');
        same(await reserve(1, T0 + 1999, T0 + 9999), { allowed: false, used: 5, limit: 5 }, 'reserve at +1999 ms, still in the window that ends at +2000 ms');
        same(await store.settle({ key, reserved: 0, actual: 0, expiresAt: T0 + 3000, now: T0 + 2000 }), { used: 0 }, 'a settle after the window ended');
      },
    },
    {
      name: 'concurrent takes admit exactly the capacity',
      body: async (store) => {
        const b = bucket(fresh('concurrent'), 50, QUARTER);
        const decisions = await Promise.all(Array.from({ length: 200 }, () => b.take(store, 1)));
        const allowed = decisions.filter((decision) => decision.allowed);
        check(allowed.length === 50, `200 concurrent takes of 1 from a bucket of 50 must admit exactly 50, admitted ${allowed.length}`);
        const remaining = allowed.map((decision) => decision.remaining).sort((x, y) => x - y);
        check(json(remaining) === json(Array.from({ length: 50 }, (_, i) => i)), `the admitted takes must see remaining 0..49 once each, saw ${json(remaining)}`);
        check(decisions.filter((decision) => !decision.allowed).every((decision) => decision.retryAfterMs === 4), 'every refused take must wait 4 ms for its token');
      },
    },
    {
      name: 'concurrent reservations never overspend',
      body: async (store) => {
        const key = fresh('concurrent-usd');
        const decisions = await Promise.all(Array.from({ length: 100 }, () => store.reserve({ key, limit: 0.5, amount: 0.01, expiresAt: T0 + 60_000, now: T0 })));
        const allowed = decisions.filter((decision) => decision.allowed).length;
        check(allowed === 50, `100 concurrent reservations of 0.01 within 0.5 must admit exactly 50, admitted ${allowed}`);
        same(await store.settle({ key, reserved: 0, actual: 0, expiresAt: T0 + 60_000, now: T0 }), { used: 0.5 }, 'the counter after them');
      },
    },
    {
      name: 'bad requests are refused',
      body: async (store) => {
        const good: BucketRequest = { key: fresh('bad'), capacity: 10, refillPerMs: QUARTER, cost: 1, now: T0 };
        for (const [field, value] of [['cost', -1], ['cost', Number.NaN], ['capacity', 0], ['refillPerMs', -1], ['now', Number.POSITIVE_INFINITY], ['key', '']] as const) {
          await rejection(() => store.take({ ...good, [field]: value }), `take with ${field} ${String(value)}`);
        }
        await rejection(() => store.refund({ key: good.key, capacity: 10, refillPerMs: QUARTER, amount: -1, now: T0 }), 'refund with amount -1');
        const counter: CounterRequest = { key: fresh('bad-usd'), limit: 1, amount: 1, expiresAt: T0 + 1000, now: T0 };
        await rejection(() => store.reserve({ ...counter, amount: -0.5 }), 'reserve with amount -0.5');
        await rejection(() => store.reserve({ ...counter, limit: Number.NaN }), 'reserve with limit NaN');
        await rejection(() => store.settle({ key: counter.key, reserved: -1, actual: 0, expiresAt: T0 + 1000, now: T0 }), 'settle with reserved -1');
        expectDecision(await store.take(good), { allowed: true, remaining: 9 }, 'a good take after the refused ones');
      },
    },
  ];

  return pickCases('rateLimitStoreConformance', cases, options.skip)
    .map(({ name, body }) => ({
      name,
      run: async () => {
        const store = await options.create();
        try {
          await body(store);
        } finally {
          await store.close?.();
        }
      },
    }));
}

/** Expect an object to have exactly these fields (others, such as `degraded`, must be absent). */
function same(actual: unknown, expected: Record<string, unknown>, what: string): void {
  check(typeof actual === 'object' && actual !== null, `${what}: expected ${json(expected)}, got ${json(actual)}`);
  const fields = Object.keys(actual as object).filter((field) => (actual as Record<string, unknown>)[field] !== undefined).sort();
  check(json(fields) === json(Object.keys(expected).sort()), `${what}: expected the fields ${json(Object.keys(expected).sort())}, got ${json(actual)}`);
  for (const [field, value] of Object.entries(expected)) {
    check(Object.is((actual as Record<string, unknown>)[field], value), `${what}: expected ${field} ${json(value)}, got ${json((actual as Record<string, unknown>)[field])}`);
  }
}
