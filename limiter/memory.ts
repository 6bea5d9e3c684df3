/**
 * In-process rate-limit store: token buckets and budget counters in two `Map`s. The default store of
 * `Consensus`; good for one process (a CLI, a single server). Instances that must share limits use
 * `duh/limiter/redis`.
 *
 * Besides the async {@link RateLimitStore} methods it offers a synchronous {@link MemoryLimiter.tryTake} for hot
 * paths. Memory stays bounded: buckets full again for 30 s and counters whose window ended are dropped (they read
 * back the same as missing ones), and past `maxKeys` the oldest keys are evicted.
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * import { memoryLimiter } from 'duh/limiter/memory';
 *
 * const limiter = memoryLimiter({ maxKeys: 50_000 });
 * const duh = new Consensus({ models, limiter, limits: { perUser: { requests: '60/min' } } });
 *
 * // or on its own:
 * const decision = limiter.tryTake({ key: 'ip:10.0.0.1', capacity: 10, refillPerMs: 10 / 1000, cost: 1, now: Date.now() });
 * ```
 *
 * @module
 */
import { InvalidOptionError } from '../src/errors.js';
import type { BucketRequest, CounterDecision, CounterRequest, LimitDecision, RateLimitStore, RefundRequest, SettleRequest, SettleResult } from '../src/limiter.js';
import {
  type CounterState,
  KEEP_FULL_MS,
  checkBucketRequest,
  checkCounterRequest,
  checkRefundRequest,
  checkSettleRequest,
  decide,
  refilledTokens,
  refund as refundBucket,
  reserve as reserveCounter,
  settle as settleCounter,
} from '../src/limiter/bucket.js';

const STORE_NAME = 'memory';

/** Options for {@link memoryLimiter}. */
export interface MemoryLimiterOptions {
  /**
   * The most buckets kept, and separately the most counters. Refilled buckets and ended counters are dropped first;
   * when that is not enough, the oldest keys go (an evicted bucket comes back full, an evicted counter at 0), so
   * set it above the number of keys that can be active at once. @default 100000
   */
  maxKeys?: number;
}

/** The memory store: a {@link RateLimitStore} with a synchronous take. */
export interface MemoryLimiter extends RateLimitStore {
  readonly name: 'memory';
  /** {@link RateLimitStore.take}, synchronously: for hot paths that cannot await. Throws on a bad request. */
  tryTake(request: BucketRequest): LimitDecision;
  /** Buckets and counters currently held. */
  readonly size: number;
  /** Forget every bucket and counter. */
  close(): Promise<void>;
}

/** A stored bucket, with its parameters so a sweep can tell whether it is full again. */
interface Bucket {
  tokens: number;
  updatedAt: number;
  capacity: number;
  refillPerMs: number;
  /**
   * The last refusal, remembered until the bucket changes: the cost refused (-1: none), and the absolute times
   * at which that cost and the full capacity are there. For whole-millisecond `now` from `refusedAt` on these
   * times do not depend on `now` (the refill is monotonic), so a repeated refusal costs a subtraction instead
   * of two waits computed anew: a flood of refused requests is cheaper than the allowed ones.
   */
  refusedCost: number;
  /** When the refusal was computed: the remembered times hold for any `now` from then on. */
  refusedAt: number;
  retryAt: number;
  fullAt: number;
}

const bucket = (tokens: number, updatedAt: number, capacity: number, refillPerMs: number): Bucket => ({
  tokens,
  updatedAt,
  capacity,
  refillPerMs,
  refusedCost: -1,
  refusedAt: 0,
  retryAt: 0,
  fullAt: 0,
});

/** Drop full buckets and ended counters at most this often (by the requests' clock), besides when at `maxKeys`. */
const SWEEP_EVERY_MS = 60_000;

/**
 * Create an in-process rate-limit store.
 *
 * @throws {InvalidOptionError} when `maxKeys` is not a positive whole number
 */
export function memoryLimiter(options: MemoryLimiterOptions = {}): MemoryLimiter {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'memoryLimiter() takes an options object such as { maxKeys: 100000 }, or nothing.');
  const maxKeys = options.maxKeys ?? 100_000;
  if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new InvalidOptionError('maxKeys', maxKeys, `The \`maxKeys\` option of memoryLimiter() must be a whole number >= 1 (e.g. 100000); got ${String(maxKeys)}.`);
  }
  const buckets = new Map<string, Bucket>();
  const counters = new Map<string, CounterState>();
  let nextSweep = Number.NEGATIVE_INFINITY;

  /** Drop what reads back the same without being stored; then, when still at the limit, the oldest tenth. */
  const sweep = (now: number, full: boolean) => {
    nextSweep = now + SWEEP_EVERY_MS;
    // A bucket that has been full for KEEP_FULL_MS reads back the same as a missing one.
    const fullBefore = now - KEEP_FULL_MS;
    for (const [key, entry] of buckets) {
      if (fullBefore >= entry.updatedAt && refilledTokens(entry.tokens, entry.updatedAt, entry.capacity, entry.refillPerMs, fullBefore) >= entry.capacity) buckets.delete(key);
    }
    for (const [key, counter] of counters) if (!(counter.expiresAt > now)) counters.delete(key);
    if (!full) return;
    // Evicting only down to 90% keeps the next full sweep at least maxKeys / 10 inserts away.
    const keep = Math.floor(maxKeys * 0.9);
    for (const map of [buckets, counters] as Map<string, unknown>[]) {
      if (map.size < maxKeys) continue;
      for (const key of map.keys()) {
        if (map.size <= keep) break;
        map.delete(key);
      }
    }
  };

  const tryTake = (request: BucketRequest): LimitDecision => {
    checkBucketRequest(request);
    const { key, capacity, refillPerMs, cost, now } = request;
    const entry = buckets.get(key);
    if (entry === undefined) {
      // A missing bucket is full.
      if (cost > capacity) return decide(false, capacity, now, capacity, refillPerMs, cost, now);
      const tokens = capacity - cost;
      if (now >= nextSweep || buckets.size >= maxKeys) sweep(now, buckets.size >= maxKeys);
      buckets.set(key, bucket(tokens, now, capacity, refillPerMs));
      return decide(true, tokens, now, capacity, refillPerMs, cost, now);
    }
    const available = refilledTokens(entry.tokens, entry.updatedAt, capacity, refillPerMs, now);
    if (cost > available) {
      if (!Number.isInteger(now)) return decide(false, entry.tokens, entry.updatedAt, capacity, refillPerMs, cost, now);
      if (entry.refusedCost === cost && entry.capacity === capacity && entry.refillPerMs === refillPerMs && now >= entry.refusedAt) {
        return { allowed: false, remaining: Math.floor(available), limit: capacity, resetAt: entry.fullAt > now ? entry.fullAt : now, retryAfterMs: entry.retryAt - now };
      }
      const decision = decide(false, entry.tokens, entry.updatedAt, capacity, refillPerMs, cost, now);
      entry.refusedCost = cost;
      entry.refusedAt = now;
      entry.capacity = capacity;
      entry.refillPerMs = refillPerMs;
      entry.retryAt = now + decision.retryAfterMs;
      entry.fullAt = decision.resetAt;
      return decision;
    }
    const tokens = available - cost;
    if (now > entry.updatedAt) entry.updatedAt = now;
    entry.tokens = tokens;
    entry.capacity = capacity;
    entry.refillPerMs = refillPerMs;
    entry.refusedCost = -1;
    return decide(true, tokens, entry.updatedAt, capacity, refillPerMs, cost, now);
  };

  return {
    specificationVersion: 'v1',
    name: STORE_NAME,
    tryTake,
    get size() {
      return buckets.size + counters.size;
    },
    async take(request: BucketRequest): Promise<LimitDecision> {
      return tryTake(request);
    },
    async refund(request: RefundRequest): Promise<LimitDecision> {
      checkRefundRequest(request);
      const { key, capacity, refillPerMs, now } = request;
      const { state, decision } = refundBucket(buckets.get(key), request);
      if (state !== undefined) buckets.set(key, bucket(state.tokens, state.updatedAt, capacity, refillPerMs));
      if (now >= nextSweep) sweep(now, false);
      return decision;
    },
    async reserve(request: CounterRequest): Promise<CounterDecision> {
      checkCounterRequest(request);
      const { key, now } = request;
      const { state, decision } = reserveCounter(counters.get(key), request);
      if (state === undefined) counters.delete(key);
      else {
        if (!counters.has(key) && (now >= nextSweep || counters.size >= maxKeys)) sweep(now, counters.size >= maxKeys);
        counters.set(key, state);
      }
      return decision;
    },
    async settle(request: SettleRequest): Promise<SettleResult> {
      checkSettleRequest(request);
      const { key, now } = request;
      const { state, used } = settleCounter(counters.get(key), request);
      if (state === undefined) counters.delete(key);
      else {
        if (!counters.has(key) && (now >= nextSweep || counters.size >= maxKeys)) sweep(now, counters.size >= maxKeys);
        counters.set(key, state);
      }
      return { used };
    },
    async close(): Promise<void> {
      buckets.clear();
      counters.clear();
    },
  };
}
