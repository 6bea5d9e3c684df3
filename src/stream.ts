/**
 * {@link ConsensusStream}: a run's events as an `AsyncIterable` and, on request, a `ReadableStream`, with the
 * run's outcome as a `result` promise.
 *
 * @module
 */
import { AbortedError, DuhError } from './errors.js';
import type { ConsensusEvent } from './events.js';
import type { ConsensusResult } from './record.js';

/**
 * The live view of one run.
 *
 * - Iterate it (`for await (const event of stream)`) or convert it (`stream.toReadableStream()`), once: a
 *   second consumer gets an error. Events are buffered from the start, so nothing is missed by attaching late.
 * - The event sequence ends after `run-end` or `error`; iteration itself never throws for a failed run, so
 *   read the outcome from {@link result} (which rejects with the run's error).
 * - Leaving the loop early (`break`, `return`, a thrown error) or cancelling the `ReadableStream` aborts the run
 *   and every model call in flight. Call {@link abort} to cancel explicitly.
 *
 * @example
 * ```ts
 * const stream = duh.stream('Is Rust a good first language?');
 * for await (const event of stream) {
 *   if (event.type === 'member-delta') process.stdout.write(event.text);
 * }
 * const { decision, confidence } = await stream.result;
 * ```
 */
export class ConsensusStream implements AsyncIterable<ConsensusEvent> {
  /** The run's thread id (also on every event). */
  readonly threadId: string;
  /** Resolves to the decision record; rejects with the run's error. */
  readonly result: Promise<ConsensusResult>;
  readonly #queue: ConsensusEvent[] = [];
  #head = 0;
  #closed = false;
  #consumed = false;
  #waiters: (() => void)[] = [];
  readonly #abort: (reason?: unknown) => void;

  /** @internal Created by `Consensus.stream()`. */
  constructor(threadId: string, result: Promise<ConsensusResult>, abort: (reason?: unknown) => void) {
    this.threadId = threadId;
    this.result = result;
    this.#abort = abort;
    // The outcome is also reported in-band; an unobserved rejection must not crash the process.
    result.catch(() => {});
  }

  /** @internal Called by the engine for each event. */
  push(event: ConsensusEvent): void {
    if (this.#closed) return;
    this.#queue.push(event);
    this.#notify();
  }

  /** @internal Called by the engine when the run has ended. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }

  /** Cancel the run and every model call in flight; `result` rejects with an `AbortedError`. */
  abort(reason?: unknown): void {
    this.#abort(reason);
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #claim(): void {
    if (this.#consumed) {
      throw new DuhError('STREAM_CONSUMED', 'This ConsensusStream was already consumed; iterate it or convert it once (start another run, or pass `onEvent` to fan events out).');
    }
    this.#consumed = true;
  }

  async #next(): Promise<IteratorResult<ConsensusEvent>> {
    while (this.#head >= this.#queue.length) {
      if (this.#closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    const event = this.#queue[this.#head]!;
    // Drop references to delivered events so a long run does not keep every delta alive.
    (this.#queue as (ConsensusEvent | undefined)[])[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return { done: false, value: event };
  }

  #stop(): void {
    if (!this.#closed) this.#abort(new AbortedError('The event stream was left before the run ended.'));
  }

  [Symbol.asyncIterator](): AsyncIterator<ConsensusEvent> {
    this.#claim();
    return {
      next: () => this.#next(),
      return: async () => {
        this.#stop();
        return { done: true, value: undefined };
      },
    };
  }

  /** The events as a Web `ReadableStream` (for `Response` bodies, `pipeThrough`, and so on). */
  toReadableStream(): ReadableStream<ConsensusEvent> {
    this.#claim();
    return new ReadableStream<ConsensusEvent>({
      pull: async (controller) => {
        const next = await this.#next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: () => this.#stop(),
    });
  }
}
