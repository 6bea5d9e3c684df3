/**
 * {@link ManualClock}: a {@link Clock} whose time only moves when you say so, for testing retries, backoff and
 * timeouts without real waiting.
 *
 * @module
 */
import type { Clock } from '../clock.js';
import { AbortedError } from '../errors.js';

interface Timer {
  at: number;
  order: number;
  resolve: () => void;
  /** `sleep` = a deliberate wait (backoff, Retry-After); `timer` = a guard such as a per-call timeout. */
  kind: 'sleep' | 'timer';
}

/** Options for {@link ManualClock}. */
export interface ManualClockOptions {
  /** Start time, ms since the epoch. @default Date.UTC(2026, 0, 15) */
  start?: number;
  /**
   * Fire waits without real waiting. `true`: each time pending work settles (after microtasks and one turn of
   * the event loop), jump to the earliest pending **sleep** (retry backoff, `Retry-After`) and fire it; guard
   * timers such as per-call timeouts only fire through {@link ManualClock.advance}. This is safe with real
   * adapters, whose I/O spans many event-loop turns. `'all'`: timers auto-fire too, which suits scripted models
   * only (a hanging `MockAdapter` then times out at once). @default false
   */
  autoAdvance?: boolean | 'all';
}

/**
 * A clock for tests. Pass it as `new Consensus({ clock })`; every sleep the engine takes (retry backoff,
 * `Retry-After`, per-call timeouts) waits on it.
 *
 * @example
 * ```ts
 * const clock = new ManualClock({ autoAdvance: true });
 * const duh = new Consensus({ models, clock });
 * await duh.ask('q');
 * expect(clock.sleeps).toContain(2000); // the Retry-After was honoured
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #timers: Timer[] = [];
  #scheduled = false;
  readonly #autoAdvance: boolean | 'all';
  /** Every sleep and timer requested, in milliseconds, in order (including ones later cancelled). */
  readonly sleeps: number[] = [];

  constructor(options: ManualClockOptions = {}) {
    this.#now = options.start ?? Date.UTC(2026, 0, 15);
    this.#autoAdvance = options.autoAdvance ?? false;
  }

  now(): number {
    return this.#now;
  }

  /** Sleeps not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.length;
  }

  setTimer(ms: number, callback: () => void): () => void {
    this.sleeps.push(ms);
    const timer: Timer = { at: this.#now + Math.max(0, ms), order: this.#order++, resolve: callback, kind: 'timer' };
    this.#timers.push(timer);
    this.#schedule();
    return () => {
      this.#timers = this.#timers.filter((candidate) => candidate !== timer);
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError(signal.reason));
      const timer: Timer = { at: this.#now + Math.max(0, ms), order: this.#order++, resolve, kind: 'sleep' };
      const onAbort = () => {
        this.#timers = this.#timers.filter((candidate) => candidate !== timer);
        reject(new AbortedError(signal?.reason));
      };
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(timer);
      this.#schedule();
    });
  }

  /** Move time forward by `ms`, firing due sleeps in order and letting each one's continuation run. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#earliest();
      if (!next || next.at > target) break;
      this.#fire(next);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.#now = target;
  }

  #earliest(kinds: 'sleep' | 'all' = 'all'): Timer | undefined {
    let best: Timer | undefined;
    for (const timer of this.#timers) {
      if (kinds === 'sleep' && timer.kind !== 'sleep') continue;
      if (!best || timer.at < best.at || (timer.at === best.at && timer.order < best.order)) best = timer;
    }
    return best;
  }

  #fire(timer: Timer): void {
    this.#timers = this.#timers.filter((candidate) => candidate !== timer);
    this.#now = Math.max(this.#now, timer.at);
    timer.resolve();
  }

  #schedule(): void {
    if (!this.#autoAdvance || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const next = this.#earliest(this.#autoAdvance === 'all' ? 'all' : 'sleep');
      if (next) {
        this.#fire(next);
        if (this.#timers.length > 0) this.#schedule();
      }
    });
  }
}
