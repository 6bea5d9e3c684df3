// Properties of the bucket and counter arithmetic (src/limiter/bucket.ts) and of the memory store that runs it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BucketState, type CounterState, decide, fromFixed, msUntil, refill, refund, reserve, settle, take, toFixed } from '../../src/limiter/bucket.js';
import { memoryLimiter } from '../../limiter/memory.js';

const T0 = Date.UTC(2026, 0, 15);

/** A bucket's parameters: capacities and rates as users write them (10/s … 200k/hour), some not exact in binary. */
const bucketArb = fc.record({
  capacity: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(7, 60, 200_000), fc.double({ min: 0.5, max: 50, noNaN: true })),
  windowMs: fc.constantFrom(1, 1000, 60_000, 3_600_000, 86_400_000, 7),
  neverRefills: fc.boolean(),
}).map(({ capacity, windowMs, neverRefills }) => ({ capacity, refillPerMs: neverRefills ? 0 : capacity / windowMs }));

/** One operation: a take or a refund of some amount, after moving time (sometimes backwards: a late clock). */
const opArb = fc.record({
  kind: fc.constantFrom('take', 'take', 'take', 'refund'),
  // Repeated costs too, so the memory store's remembered refusals are exercised.
  fraction: fc.oneof(fc.double({ min: 0, max: 1.2, noNaN: true }), fc.constantFrom(0.25, 0.5, 0.75, 1, 1.2)),
  dt: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: -2000, max: 0 }), fc.constant(0), fc.integer({ min: 0, max: 3 }), fc.double({ min: 0, max: 10, noNaN: true })),
});

const tokensOf = (state: BucketState | undefined, capacity: number) => (state === undefined ? capacity : state.tokens);

describe('bucket arithmetic (properties)', () => {
  it('a bucket never goes below zero or above capacity, and refunds never mint tokens', () => {
    fc.assert(
      fc.property(bucketArb, fc.array(opArb, { maxLength: 60 }), ({ capacity, refillPerMs }, ops) => {
        let state: BucketState | undefined;
        let now = T0;
        let [earliest, latest] = [T0, T0];
        let net = 0; // admitted minus refunded
        for (const op of ops) {
          now += op.dt;
          earliest = Math.min(earliest, now);
          latest = Math.max(latest, now);
          const amount = op.fraction * capacity;
          if (op.kind === 'take') {
            const outcome = take(state, { capacity, refillPerMs, cost: amount, now });
            if (outcome.decision.allowed) net += amount;
            else expect(outcome.state).toBe(state); // a refusal changes nothing
            state = outcome.state;
          } else {
            // What the refund really added (over the refill) counts as given back.
            const before = tokensOf(refill(state, { capacity, refillPerMs, now }), capacity);
            const outcome = refund(state, { capacity, refillPerMs, amount, now });
            state = outcome.state;
            const added = tokensOf(state, capacity) - before;
            expect(added).toBeLessThanOrEqual(amount + 2 * Number.EPSILON * capacity); // up to rounding at the bucket's scale
            net -= added;
          }
          const tokens = tokensOf(state, capacity);
          expect(tokens).toBeGreaterThanOrEqual(0);
          expect(tokens).toBeLessThanOrEqual(capacity);
          // Over any history: what was taken and kept never exceeds the burst plus what time refilled.
          expect(net).toBeLessThanOrEqual(capacity + refillPerMs * (latest - earliest) + 1e-9 * capacity * (ops.length + 1));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refunding exactly what was taken never leaves more than taking nothing would', () => {
    fc.assert(
      fc.property(bucketArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }), fc.integer({ min: 0, max: 10_000 }), ({ capacity, refillPerMs }, costs, later) => {
        let state: BucketState | undefined = { tokens: capacity / 3, updatedAt: T0 };
        const untouched = state;
        let taken = 0;
        for (const fraction of costs) {
          const outcome = take(state, { capacity, refillPerMs, cost: fraction * capacity, now: T0 });
          if (outcome.decision.allowed) taken += fraction * capacity;
          state = outcome.state;
        }
        const after = refund(state, { capacity, refillPerMs, amount: taken, now: T0 + later }).state;
        const baseline = take(untouched, { capacity, refillPerMs, cost: 0, now: T0 + later }).state;
        expect(tokensOf(after, capacity)).toBeLessThanOrEqual(tokensOf(baseline, capacity) + 1e-9 * capacity * (costs.length + 1));
      }),
      { numRuns: 500 },
    );
  });

  it('retryAfterMs is the first millisecond at which the same take succeeds', () => {
    fc.assert(
      fc.property(
        bucketArb.filter(({ refillPerMs }) => refillPerMs > 0),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: -5000, max: 5000 }),
        ({ capacity, refillPerMs }, held, wanted, skew) => {
          const state = { tokens: held * capacity, updatedAt: T0 + skew };
          const cost = wanted * capacity;
          const { decision } = take(state, { capacity, refillPerMs, cost, now: T0 });
          if (decision.allowed) return;
          const wait = decision.retryAfterMs;
          expect(Number.isInteger(wait) && wait >= 1).toBe(true);
          expect(take(state, { capacity, refillPerMs, cost, now: T0 + wait }).decision.allowed).toBe(true);
          if (wait > 1) expect(take(state, { capacity, refillPerMs, cost, now: T0 + wait - 1 }).decision.allowed).toBe(false);
          // resetAt is when the bucket is full again, by the same rule
          const full = decision.resetAt - T0;
          expect(take(state, { capacity, refillPerMs, cost: capacity, now: T0 + full }).decision.allowed).toBe(true);
          if (full > 1) expect(take(state, { capacity, refillPerMs, cost: capacity, now: T0 + full - 1 }).decision.allowed).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('decisions report whole remaining tokens within [0, capacity]', () => {
    fc.assert(
      fc.property(bucketArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1.5, noNaN: true }), fc.integer({ min: 0, max: 100_000 }), ({ capacity, refillPerMs }, held, wanted, dt) => {
        const decision = decide(false, held * capacity, T0, capacity, refillPerMs, wanted * capacity, T0 + dt);
        expect(Number.isInteger(decision.remaining)).toBe(true);
        expect(decision.remaining).toBeGreaterThanOrEqual(0);
        expect(decision.remaining).toBeLessThanOrEqual(capacity);
        if (wanted * capacity > capacity) expect(decision.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
      }),
    );
  });

  it('msUntil never loops on rates too slow to matter', () => {
    expect(msUntil(0, T0, 1, 1e-300, T0)).toBe(Number.POSITIVE_INFINITY);
    expect(msUntil(0, T0, 1, 0, T0)).toBe(Number.POSITIVE_INFINITY);
    expect(msUntil(0, T0, 1, 1e-15, T0)).toBe(1e15);
  });
});

describe('counter arithmetic (properties)', () => {
  /** Amounts with up to nine decimals, as exact nano counts. */
  const nanosArb = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.constantFrom(1n, 123_000n, 100_000_000n, 300_000_000n));
  const asNumber = (nanos: bigint) => Number(`${nanos / 1_000_000_000n}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}`);

  it('sums are exact to nine decimals (compared with BigInt arithmetic)', () => {
    fc.assert(
      fc.property(fc.array(nanosArb, { minLength: 1, maxLength: 30 }), (amounts) => {
        const bounded = amounts.map((nanos) => nanos % (9n * 10n ** 24n)).filter((nanos) => asNumber(nanos) <= Number.MAX_SAFE_INTEGER / 64);
        let state: CounterState | undefined;
        let exact = 0n;
        for (const nanos of bounded) {
          // Only amounts a double holds to the nanodollar can be compared exactly.
          const amount = asNumber(nanos);
          const [whole, rest] = toFixed(amount);
          if (BigInt(whole) * 1_000_000_000n + BigInt(rest) !== nanos) continue;
          const outcome = reserve(state, { limit: Number.MAX_SAFE_INTEGER, amount, expiresAt: T0 + 1, now: T0 });
          exact += nanos;
          state = outcome.state;
          expect(outcome.decision.used).toBe(asNumber(exact));
        }
      }),
    );
  });

  it('reservations never take a counter past its limit, and settles never below zero', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.record({ kind: fc.constantFrom('reserve', 'settle'), a: fc.integer({ min: 0, max: 5000 }), b: fc.integer({ min: 0, max: 5000 }) }), { maxLength: 40 }),
        (limitCents, ops) => {
          const limit = limitCents / 100;
          let state: CounterState | undefined;
          let reservedOnly = true;
          for (const op of ops) {
            if (op.kind === 'reserve') {
              const outcome = reserve(state, { limit, amount: op.a / 1000, expiresAt: T0 + 1, now: T0 });
              state = outcome.state;
              if (reservedOnly) expect(outcome.decision.used).toBeLessThanOrEqual(limit);
              if (!outcome.decision.allowed) expect(outcome.decision.used + op.a / 1000).toBeGreaterThan(limit);
            } else {
              reservedOnly = false;
              const outcome = settle(state, { reserved: op.a / 1000, actual: op.b / 1000, expiresAt: T0 + 1, now: T0 });
              state = outcome.state;
              expect(outcome.used).toBeGreaterThanOrEqual(0);
            }
          }
        },
      ),
    );
  });

  it('round-trips amounts through fixed point', () => {
    expect(toFixed(0.000123)).toEqual([0, 123_000]);
    expect(toFixed(5.000123)).toEqual([5, 123_000]);
    expect(toFixed(0.9999999999)).toEqual([1, 0]);
    expect(fromFixed(0, 300_000_000)).toBe(0.3);
    expect(fromFixed(Number.MAX_SAFE_INTEGER, 0)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('memory store (properties)', () => {
  it('answers any sequence exactly like the pure arithmetic, within [0, capacity]', async () => {
    await fc.assert(
      fc.asyncProperty(bucketArb, fc.array(opArb, { maxLength: 60 }), async ({ capacity, refillPerMs }, ops) => {
        const store = memoryLimiter();
        let state: BucketState | undefined;
        let now = T0;
        for (const op of ops) {
          now += op.dt;
          const amount = op.fraction * capacity;
          const outcome = op.kind === 'take' ? take(state, { capacity, refillPerMs, cost: amount, now }) : refund(state, { capacity, refillPerMs, amount, now });
          state = outcome.state;
          const decision = op.kind === 'take' ? await store.take({ key: 'k', capacity, refillPerMs, cost: amount, now }) : await store.refund({ key: 'k', capacity, refillPerMs, amount, now });
          expect(decision).toEqual(outcome.decision);
          expect(decision.remaining).toBeGreaterThanOrEqual(0);
          expect(decision.remaining).toBeLessThanOrEqual(capacity);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('admits no more than capacity plus refill over elapsed time, whatever the refunds', () => {
    fc.assert(
      fc.property(bucketArb, fc.array(opArb, { maxLength: 80 }), ({ capacity, refillPerMs }, ops) => {
        const store = memoryLimiter();
        let now = T0;
        let [earliest, latest] = [T0, T0];
        let admitted = 0;
        let refunded = 0;
        for (const op of ops) {
          now += op.dt;
          earliest = Math.min(earliest, now);
          latest = Math.max(latest, now);
          const amount = op.fraction * capacity;
          if (op.kind === 'take') {
            if (store.tryTake({ key: 'k', capacity, refillPerMs, cost: amount, now }).allowed) admitted += amount;
          } else if (refunded + amount <= admitted) {
            // Give back only what was taken: a refund is a return, not a gift.
            refunded += amount;
            void store.refund({ key: 'k', capacity, refillPerMs, amount, now });
          }
          expect(admitted - refunded).toBeLessThanOrEqual(capacity + refillPerMs * (latest - earliest) + 1e-9 * capacity * (ops.length + 1));
        }
      }),
      { numRuns: 500 },
    );
  });
});
