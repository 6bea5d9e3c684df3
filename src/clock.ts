/**
 * Time, as the engine sees it. Inject a {@link Clock} to test retries, timeouts and date grounding without
 * real waiting (`duh/testing` has a manual clock).
 *
 * @module
 */
import { AbortedError } from './errors.js';

/** The engine's source of time and waiting. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolve after `ms`; reject with an {@link AbortedError} as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Call `callback` after `ms` unless the returned function is called first (used for per-call timeouts). */
  setTimer(ms: number, callback: () => void): () => void;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError(signal.reason));
      const onAbort = () => {
        clearTimeout(timer);
        reject(new AbortedError(signal?.reason));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.min(ms, 2_147_483_647)); // longer delays would fire at once
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  setTimer(ms: number, callback: () => void): () => void {
    const timer = setTimeout(callback, Math.min(ms, 2_147_483_647));
    return () => clearTimeout(timer);
  },
};
