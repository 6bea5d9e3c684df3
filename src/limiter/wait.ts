/**
 * Waiting for a bucket instead of being refused: a consensus fans out to many members, so queueing a call for
 * the few hundred milliseconds a bucket needs beats failing the run.
 *
 * @module
 */
import type { Clock } from '../clock.js';
import { AbortedError, InvalidOptionError } from '../errors.js';
import type { BucketRequest, LimitDecision, RateLimitStore } from '../limiter.js';

/** Options for {@link takeWithin}. */
export interface TakeWithinOptions {
  /** Where time and waiting come from (`systemClock`, or a `ManualClock` in tests). */
  clock: Clock;
  /** The longest total wait, in ms. 0 never waits; `Infinity` waits as long as the bucket needs. */
  maxWaitMs: number;
  /** Stops the wait: the promise rejects with an `AbortedError`. */
  signal?: AbortSignal;
  /** Called before each wait with the refusal and how long it will wait (e.g. to tell a user the run queues). */
  onWait?: (decision: LimitDecision, waitMs: number) => void;
}

/**
 * Take `cost` tokens, waiting for the bucket to refill when that fits within `maxWaitMs`.
 *
 * Loops: take (stamped with `clock.now()`); when refused and `now + retryAfterMs` is within the deadline, sleep
 * `retryAfterMs` on the clock and try again, since another caller may have taken the tokens meanwhile.
 * Otherwise resolve to the refusal. Never waits for a cost that can never be granted (`retryAfterMs` infinite).
 * The decision carries `waitedMs` when it waited. Store errors (e.g. `LimiterUnavailableError`) propagate.
 *
 * @throws {AbortedError} when `signal` aborts before or during a wait
 * @throws {InvalidOptionError} when `maxWaitMs` is negative or not a number
 *
 * @example
 * ```ts
 * const decision = await takeWithin(store, { key: 'model:openai', capacity: 500, refillPerMs: 500 / 60_000, cost: 1 },
 *   { clock: systemClock, maxWaitMs: 30_000, signal });
 * if (!decision.allowed) throw new RateLimitedError('model:openai', decision.retryAfterMs);
 * ```
 */
export async function takeWithin(store: RateLimitStore, request: Omit<BucketRequest, 'now'>, options: TakeWithinOptions): Promise<LimitDecision> {
  const { clock, maxWaitMs, signal, onWait } = options;
  if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0) {
    throw new InvalidOptionError('maxWaitMs', maxWaitMs, 'The `maxWaitMs` option of takeWithin() must be a number of milliseconds >= 0 (0 never waits; Infinity waits as long as needed).');
  }
  const started = clock.now();
  const deadline = started + maxWaitMs;
  for (;;) {
    if (signal?.aborted) throw new AbortedError(signal.reason);
    const now = clock.now();
    const decision = await store.take({ ...request, now });
    const waitedMs = now - started;
    // A refusal always waits at least 1 ms, so a store that says 0 cannot make this spin.
    const wait = Math.max(1, decision.retryAfterMs);
    if (decision.allowed || !Number.isFinite(wait) || now + wait > deadline) {
      return waitedMs > 0 ? { ...decision, waitedMs } : decision;
    }
    onWait?.(decision, wait);
    await clock.sleep(wait, signal);
  }
}
