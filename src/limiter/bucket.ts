/**
 * The arithmetic of the rate-limit store contract (`src/limiter.ts`): token buckets and budget counters, as
 * pure functions of a state and a request. The memory store runs these functions; the Redis store's Lua script
 * performs the same operations in the same order on the same IEEE doubles, and builds its decisions with
 * {@link decide}, so both stores answer every sequence of requests identically (a test checks it).
 *
 * ## Buckets
 *
 * A bucket's state is `{ tokens, updatedAt }`. No state means a **full** bucket: a new key starts full. Every
 * applied take or refund stores the state, even a full one; a store may drop a bucket once it has been full for
 * {@link KEEP_FULL_MS} (by the callers' clocks). Until then its `updatedAt` is kept, so a caller whose clock is
 * behind by less than that cannot earn the same refill twice (a bucket recreated at an earlier time would).
 *
 * - **Refill** at `now`: `tokens + (now - updatedAt) * refillPerMs`, capped at `capacity`, and `updatedAt`
 *   becomes `now`. When `now <= updatedAt` (a caller whose clock is behind), nothing is added and `updatedAt`
 *   stays: time never runs backwards for a bucket, and a late clock gains no tokens.
 * - **Take** `cost`: refill, then if `cost <= tokens` subtract it and save; otherwise save **nothing** (a
 *   refused take leaves the stored state exactly as it was, which is also why a denial costs no more than an
 *   allow).
 * - **Refund** `amount`: refill, then `min(capacity, tokens + amount)`. A refund to a missing (full) bucket
 *   changes nothing, so refunds never mint tokens beyond capacity.
 * - **Waiting**: `retryAfterMs` is the smallest whole number of milliseconds `w` such that the refill formula,
 *   evaluated at `now + w` on the stored state, reaches `cost`. A take at exactly `now + w` therefore succeeds
 *   (if nobody took in between). `resetAt` is the same for `capacity`. A cost above capacity, or a bucket that
 *   never refills, gives `Number.POSITIVE_INFINITY`.
 *
 * ## Counters (budgets)
 *
 * Counters are fixed-point: a value is `whole + nanos / 1e9`, two integers a double holds exactly (`whole` up
 * to `Number.MAX_SAFE_INTEGER`). Amounts are converted once, on the caller's side, with {@link toFixed};
 * additions carry, subtractions borrow, comparisons are exact, and values come back through a decimal string
 * ({@link fromFixed}), so `0.1 + 0.2` is `0.3` and `0.000123` stays `0.000123`. A counter whose `expiresAt` is
 * not after `now` reads as 0.
 *
 * This file imports nothing of ours but the contract and the errors: the plug-ins share it.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import type { BucketRequest, CounterDecision, CounterRequest, LimitDecision, RefundRequest, SettleRequest } from '../limiter.js';

/** A bucket as stored: its tokens at `updatedAt` (epoch ms, the caller's clock). */
export interface BucketState {
  tokens: number;
  updatedAt: number;
}

/** A bucket's parameters and the time of an operation: a {@link BucketRequest} without key or cost. */
export interface BucketParameters {
  capacity: number;
  refillPerMs: number;
  now: number;
}

/** How long a store keeps a bucket that is full again before it may drop it (callers' clocks may differ this much). */
export const KEEP_FULL_MS = 30_000;

/** Past this many milliseconds a wait is reported as infinite (about 285 000 years). */
const MAX_WAIT_MS = 2 ** 53;

/** Tokens of the stored `(tokens, updatedAt)` at `now`: the refill formula. */
export function refilledTokens(tokens: number, updatedAt: number, capacity: number, refillPerMs: number, now: number): number {
  const elapsed = now - updatedAt;
  const refilled = elapsed > 0 ? tokens + elapsed * refillPerMs : tokens;
  return refilled < capacity ? refilled : capacity;
}

/**
 * The smallest whole number of milliseconds `w >= 0` after which the stored `(tokens, updatedAt)` holds at least
 * `target` tokens by the refill formula (evaluated exactly as a take at `now + w` would). Infinite when it never
 * does. `target` must not exceed the capacity.
 */
export function msUntil(tokens: number, updatedAt: number, target: number, refillPerMs: number, now: number): number {
  if (tokensAt(tokens, updatedAt, refillPerMs, now) >= target) return 0;
  if (!(refillPerMs > 0)) return Number.POSITIVE_INFINITY;
  let wait = Math.ceil(updatedAt + (target - tokens) / refillPerMs - now);
  if (!(wait < MAX_WAIT_MS)) return Number.POSITIVE_INFINITY;
  if (wait < 1) wait = 1;
  // The estimate is off by at most a step or two of rounding; settle it on the formula itself.
  for (let i = 0; i < 8 && tokensAt(tokens, updatedAt, refillPerMs, now + wait) < target; i++) wait++;
  for (let i = 0; i < 8 && wait > 1 && tokensAt(tokens, updatedAt, refillPerMs, now + (wait - 1)) >= target; i++) wait--;
  return wait;
}

/** The refill formula without the cap, as a take at `at` evaluates it (`at - updatedAt` first, as in the Lua). */
function tokensAt(tokens: number, updatedAt: number, refillPerMs: number, at: number): number {
  const elapsed = at - updatedAt;
  return elapsed > 0 ? tokens + elapsed * refillPerMs : tokens;
}

/**
 * The decision for a bucket whose state after the operation is `(tokens, updatedAt)`, as the contract reports
 * it: `remaining` whole tokens at `now`, `resetAt`, and for a refusal `retryAfterMs` until `cost` is there.
 */
export function decide(allowed: boolean, tokens: number, updatedAt: number, capacity: number, refillPerMs: number, cost: number, now: number): LimitDecision {
  return {
    allowed,
    remaining: Math.floor(refilledTokens(tokens, updatedAt, capacity, refillPerMs, now)),
    limit: capacity,
    resetAt: now + msUntil(tokens, updatedAt, capacity, refillPerMs, now),
    retryAfterMs: allowed ? 0 : cost > capacity ? Number.POSITIVE_INFINITY : msUntil(tokens, updatedAt, cost, refillPerMs, now),
  };
}

/** Refill a bucket at `now` (a missing state is a full bucket). */
export function refill(state: BucketState | undefined, { capacity, refillPerMs, now }: BucketParameters): BucketState {
  if (state === undefined) return { tokens: capacity, updatedAt: now };
  return { tokens: refilledTokens(state.tokens, state.updatedAt, capacity, refillPerMs, now), updatedAt: now > state.updatedAt ? now : state.updatedAt };
}

/** The result of a bucket operation: the state to store (undefined: none, a new bucket stays full) and the decision. */
export interface BucketOutcome {
  state: BucketState | undefined;
  decision: LimitDecision;
}

/** Take `cost` tokens: refill, then subtract if there are enough, and store. A refusal returns the state unchanged. */
export function take(state: BucketState | undefined, request: BucketParameters & { cost: number }): BucketOutcome {
  const { capacity, refillPerMs, cost, now } = request;
  const current = refill(state, request);
  if (cost <= current.tokens) {
    const tokens = current.tokens - cost;
    return { state: { tokens, updatedAt: current.updatedAt }, decision: decide(true, tokens, current.updatedAt, capacity, refillPerMs, cost, now) };
  }
  const kept = state ?? current;
  return { state, decision: decide(false, kept.tokens, kept.updatedAt, capacity, refillPerMs, cost, now) };
}

/** Give `amount` tokens back: refill, then add, never above capacity. A missing (full) bucket stays missing. */
export function refund(state: BucketState | undefined, request: BucketParameters & { amount: number }): BucketOutcome {
  const { capacity, refillPerMs, amount, now } = request;
  if (state === undefined) return { state, decision: decide(true, capacity, now, capacity, refillPerMs, 0, now) };
  const current = refill(state, request);
  const sum = current.tokens + amount;
  const tokens = sum < capacity ? sum : capacity;
  return { state: { tokens, updatedAt: current.updatedAt }, decision: decide(true, tokens, current.updatedAt, capacity, refillPerMs, 0, now) };
}

// ---- validation ----

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function fail(operation: string, field: string, value: unknown, rule: string): never {
  throw new InvalidOptionError(`${operation}.${field}`, value, `The \`${field}\` of a rate-limit ${operation}() must be ${rule}; got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}.`);
}

/** Check a take's fields; throws {@link InvalidOptionError} naming the field. */
export function checkBucketRequest(request: BucketRequest): void {
  if (typeof request !== 'object' || request === null) fail('take', 'request', request, 'an object { key, capacity, refillPerMs, cost, now }');
  checkBucketFields('take', request);
  if (!finite(request.cost) || request.cost < 0) fail('take', 'cost', request.cost, 'a finite number >= 0');
}

/** Check a refund's fields; throws {@link InvalidOptionError} naming the field. */
export function checkRefundRequest(request: RefundRequest): void {
  if (typeof request !== 'object' || request === null) fail('refund', 'request', request, 'an object { key, capacity, refillPerMs, amount, now }');
  checkBucketFields('refund', request);
  if (!finite(request.amount) || request.amount < 0) fail('refund', 'amount', request.amount, 'a finite number >= 0');
}

function checkBucketFields(operation: string, request: Omit<BucketRequest, 'cost'>): void {
  if (typeof request.key !== 'string' || request.key === '') fail(operation, 'key', request.key, 'a non-empty string');
  if (!finite(request.capacity) || !(request.capacity > 0)) fail(operation, 'capacity', request.capacity, 'a finite number > 0');
  if (!finite(request.refillPerMs) || request.refillPerMs < 0) fail(operation, 'refillPerMs', request.refillPerMs, 'a finite number >= 0');
  if (!finite(request.now)) fail(operation, 'now', request.now, 'a finite time in epoch ms');
}

// ---- counters ----

const NANOS = 1e9;

/** A fixed-point amount: `whole + nanos / 1e9`, with `nanos` a whole number in [0, 1e9). */
export type Fixed = readonly [whole: number, nanos: number];

/** A counter as stored. */
export interface CounterState {
  whole: number;
  nanos: number;
  /** Epoch ms (the caller's clock) from which the counter reads as 0. */
  expiresAt: number;
}

/** An amount (finite, >= 0, at most `Number.MAX_SAFE_INTEGER`) as fixed point, rounded to the nearest 1e-9. */
export function toFixed(amount: number): Fixed {
  let whole = Math.floor(amount);
  let nanos = Math.round((amount - whole) * NANOS); // amount - whole is exact for doubles
  if (nanos >= NANOS) {
    whole += 1;
    nanos -= NANOS;
  }
  return [whole, nanos];
}

/** The number nearest to the exact decimal value of a fixed-point amount. */
export function fromFixed(whole: number, nanos: number): number {
  return nanos === 0 ? whole : Number(`${whole}.${String(nanos).padStart(9, '0')}`);
}

/** `a + b`, exactly. */
export function addFixed(a: Fixed, b: Fixed): Fixed {
  const nanos = a[1] + b[1];
  return nanos >= NANOS ? [a[0] + b[0] + 1, nanos - NANOS] : [a[0] + b[0], nanos];
}

/** `max(0, a - b)`, exactly. */
export function subtractFixed(a: Fixed, b: Fixed): Fixed {
  if (!lessOrEqual(b, a)) return [0, 0];
  const nanos = a[1] - b[1];
  return nanos < 0 ? [a[0] - b[0] - 1, nanos + NANOS] : [a[0] - b[0], nanos];
}

/** `a <= b`, exactly. */
export function lessOrEqual(a: Fixed, b: Fixed): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

/** The counter as seen at `now`: its value and window end, or zero and `expiresAt` when missing or expired. */
function live(state: CounterState | undefined, expiresAt: number, now: number): { used: Fixed; expiresAt: number } {
  return state !== undefined && state.expiresAt > now ? { used: [state.whole, state.nanos], expiresAt: state.expiresAt } : { used: [0, 0], expiresAt };
}

/** What to store for a counter: nothing once it is zero or its window has ended. */
function stored(used: Fixed, expiresAt: number, now: number): CounterState | undefined {
  return expiresAt > now && (used[0] > 0 || used[1] > 0) ? { whole: used[0], nanos: used[1], expiresAt } : undefined;
}

/** Reserve: add `amount` when the sum stays within `limit`. The state to store is undefined when there is none. */
export function reserve(state: CounterState | undefined, request: Omit<CounterRequest, 'key'>): { state: CounterState | undefined; decision: CounterDecision } {
  const current = live(state, request.expiresAt, request.now);
  const sum = addFixed(current.used, toFixed(request.amount));
  if (lessOrEqual(sum, toFixed(request.limit))) {
    return { state: stored(sum, current.expiresAt, request.now), decision: { allowed: true, used: fromFixed(sum[0], sum[1]), limit: request.limit } };
  }
  return { state: state !== undefined && state.expiresAt > request.now ? state : undefined, decision: { allowed: false, used: fromFixed(current.used[0], current.used[1]), limit: request.limit } };
}

/** Settle: `used + actual - reserved`, floored at 0. */
export function settle(state: CounterState | undefined, request: Omit<SettleRequest, 'key'>): { state: CounterState | undefined; used: number } {
  const current = live(state, request.expiresAt, request.now);
  const used = subtractFixed(addFixed(current.used, toFixed(request.actual)), toFixed(request.reserved));
  return { state: stored(used, current.expiresAt, request.now), used: fromFixed(used[0], used[1]) };
}

const amount = (operation: string, field: string, value: unknown) => {
  if (!finite(value) || value < 0 || value > Number.MAX_SAFE_INTEGER) fail(operation, field, value, `a finite number from 0 to ${Number.MAX_SAFE_INTEGER}`);
};

function checkCounterFields(operation: string, request: { key: string; expiresAt: number; now: number }): void {
  if (typeof request.key !== 'string' || request.key === '') fail(operation, 'key', request.key, 'a non-empty string');
  if (!finite(request.expiresAt)) fail(operation, 'expiresAt', request.expiresAt, 'a finite time in epoch ms');
  if (!finite(request.now)) fail(operation, 'now', request.now, 'a finite time in epoch ms');
}

/** Check a reservation's fields; throws {@link InvalidOptionError} naming the field. */
export function checkCounterRequest(request: CounterRequest): void {
  if (typeof request !== 'object' || request === null) fail('reserve', 'request', request, 'an object { key, limit, amount, expiresAt, now }');
  checkCounterFields('reserve', request);
  amount('reserve', 'limit', request.limit);
  amount('reserve', 'amount', request.amount);
}

/** Check a settle's fields; throws {@link InvalidOptionError} naming the field. */
export function checkSettleRequest(request: SettleRequest): void {
  if (typeof request !== 'object' || request === null) fail('settle', 'request', request, 'an object { key, reserved, actual, expiresAt, now }');
  checkCounterFields('settle', request);
  amount('settle', 'reserved', request.reserved);
  amount('settle', 'actual', request.actual);
}
