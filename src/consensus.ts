/**
 * The {@link Consensus} engine: several models answer one question together and duh commits a decision with a
 * confidence figure and the dissent that survived.
 *
 * @module
 */
import type { ModelAdapter, ModelInfo, ModelRef } from './adapter.js';
import { type Clock, systemClock } from './clock.js';
import { CircuitBreakers, type CircuitStatus } from './engine/circuit-breaker.js';
import { CostLedger, RunEvents, type RunContext } from './engine/context.js';
import { planConsensus, runConsensus } from './engine/consensus-run.js';
import { InvalidOptionError, NotFoundError } from './errors.js';
import type { ConsensusEvent } from './events.js';
import { uuidv7 } from './internal/ids.js';
import { type Logger, silentLogger } from './logger.js';
import {
  type ConsensusOptions,
  resolveRunSettings,
  type RunOptions,
  type RunSettings,
  validateConsensusOptions,
} from './options.js';
import type { ConsensusResult } from './record.js';
import {
  matchesRecall,
  THREAD_STATUSES,
  toRecallHit,
  type RecallHit,
  type StorageDriver,
  type StoredThread,
  type ThreadPage,
  type ThreadStatus,
} from './storage.js';
import { ConsensusStream } from './stream.js';
import { memoryStorage } from '../storage/memory.js';

/** Shortest id prefix accepted by `threads.get()`. */
export const MIN_ID_PREFIX = 8;

/** Filters for {@link Consensus.threads}.list. */
export interface ListThreadsOptions {
  status?: ThreadStatus;
  /** @default 20 */
  limit?: number;
  /** @default 0 */
  offset?: number;
}

/** Options for {@link Consensus.recall}. */
export interface RecallOptions {
  /** @default 10 */
  limit?: number;
}

/** Stored runs, read back. */
export interface ThreadsApi {
  /** Threads, newest first, with the total matching the filter. */
  list(options?: ListThreadsOptions): Promise<ThreadPage>;
  /**
   * A thread by full id or by a unique prefix of at least 8 characters.
   * @throws {NotFoundError} when nothing matches
   * @throws {InvalidOptionError} when the prefix is too short or matches several threads
   */
  get(idOrPrefix: string): Promise<StoredThread>;
}

function limitOption(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, value, `The \`${option}\` option must be an integer between ${min} and ${max}, received ${String(value)}.`);
  }
  return value;
}

/**
 * A multi-model consensus engine.
 *
 * Construct it once with your models (and optionally storage, a logger, limits and defaults), then call
 * {@link ask} or {@link stream} for each question. Options are validated at construction.
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * import { demoPanel } from 'duh/testing';
 * const duh = new Consensus({ models: demoPanel() }); // or your own ModelAdapter objects

 * const { decision, confidence, dissent } = await duh.ask('Should we shard by tenant or by region?');
 * ```
 */
export class Consensus {
  readonly #models: Map<ModelRef, ModelAdapter>;
  readonly #fallbacks: Map<ModelRef, ModelAdapter[]>;
  readonly #defaults: RunSettings;
  readonly #storage: StorageDriver;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onEvent: ((event: ConsensusEvent) => void) | undefined;
  readonly #breakers: CircuitBreakers | undefined;

  /** @throws {InvalidOptionError} naming the first bad option. */
  constructor(options: ConsensusOptions) {
    const { models, fallbacks } = validateConsensusOptions(options);
    this.#models = models;
    this.#fallbacks = fallbacks;
    const { models: _models, fallbacks: _fallbacks, storage, logger, onEvent, clock, random, circuitBreaker, ...defaults } = options;
    this.#breakers =
      circuitBreaker === false ? undefined : new CircuitBreakers({ failureThreshold: 5, cooldownMs: 30_000, ...circuitBreaker });
    this.#defaults = defaults;
    this.#storage = storage ?? memoryStorage();
    this.#logger = logger ?? silentLogger;
    this.#clock = clock ?? systemClock;
    this.#random = random ?? Math.random;
    this.#onEvent = onEvent;
  }

  /** The catalog facts of every model, in the order given. */
  get models(): readonly (ModelInfo & { ref: ModelRef })[] {
    return [...this.#models].map(([ref, adapter]) => ({ ...adapter.info, ref }));
  }

  /** The circuit of every model that has failed lately (closed circuits with no failures are not listed). */
  get circuits(): CircuitStatus[] {
    return this.#breakers?.snapshot() ?? [];
  }

  /** The storage driver runs are kept in. */
  get storage(): StorageDriver {
    return this.#storage;
  }

  /**
   * Run the protocol and resolve to the decision record.
   *
   * @throws {InvalidOptionError} for a bad question or option (before any model is called)
   * @throws {ProviderError} when the proposer or reviser fails after retries and fallbacks
   * @throws {AllChallengersFailedError} when every challenger of a round fails
   * @throws {CostLimitError} when not even the first round fits `costLimitUsd`
   * @throws {StorageError} when the storage driver cannot record the run
   * @throws {AbortedError} when `signal` aborts (also when it was aborted before the call)
   */
  async ask(question: string, options: RunOptions = {}): Promise<ConsensusResult> {
    return this.#start(question, options, undefined).result;
  }

  /**
   * Run the protocol and watch it: the returned {@link ConsensusStream} yields every event (token deltas
   * included) and has a `result` promise. The run starts at once, whether or not the events are read.
   *
   * @throws {InvalidOptionError} synchronously, for a bad question or option
   */
  stream(question: string, options: RunOptions = {}): ConsensusStream {
    // The run starts synchronously and emits `run-start` before the stream object exists: hold those events.
    const early: ConsensusEvent[] = [];
    let stream: ConsensusStream | undefined;
    const started = this.#start(question, options, (event) => (stream ? stream.push(event) : early.push(event)));
    const view = new ConsensusStream(started.threadId, started.result, started.abort);
    for (const event of early) view.push(event);
    stream = view;
    started.result.then(() => view.close(), () => view.close());
    return view;
  }

  /** Stored runs: list them, or fetch one by id or prefix. */
  readonly threads: ThreadsApi = {
    list: async (options: ListThreadsOptions = {}) => {
      if (options.status !== undefined && !THREAD_STATUSES.includes(options.status)) {
        throw new InvalidOptionError('status', options.status, `The \`status\` option must be one of ${THREAD_STATUSES.join(', ')}, received ${String(options.status)}.`);
      }
      return this.#storage.listThreads({
        ...(options.status ? { status: options.status } : {}),
        limit: limitOption('limit', options.limit, 20, 1, 1000),
        offset: limitOption('offset', options.offset, 0, 0, Number.MAX_SAFE_INTEGER),
      });
    },
    get: async (idOrPrefix: string) => {
      if (typeof idOrPrefix !== 'string' || !idOrPrefix.trim()) {
        throw new InvalidOptionError('id', idOrPrefix, 'Pass a thread id, or a prefix of at least 8 characters.');
      }
      const id = idOrPrefix.trim();
      const exact = await this.#storage.getThread(id);
      if (exact) return exact;
      if (id.length < MIN_ID_PREFIX) {
        throw new InvalidOptionError('id', id, `The id prefix \`${id}\` is too short; use at least ${MIN_ID_PREFIX} characters.`);
      }
      const page = await this.#storage.listThreads({ idPrefix: id, limit: 2, offset: 0 });
      if (page.total === 0) throw new NotFoundError('thread', id);
      if (page.total > 1) {
        throw new InvalidOptionError('id', id, `The id prefix \`${id}\` matches ${page.total} threads; use more characters.`);
      }
      const found = await this.#storage.getThread(page.threads[0]!.id);
      if (!found) throw new NotFoundError('thread', id);
      return found;
    },
  };

  /**
   * Past runs whose question or decision contains `query` (case-insensitive), newest first, each with its
   * latest decision.
   */
  async recall(query: string, options: RecallOptions = {}): Promise<RecallHit[]> {
    if (typeof query !== 'string' || !query.trim()) {
      throw new InvalidOptionError('query', query, 'The recall `query` must be a non-empty string.');
    }
    const limit = limitOption('limit', options.limit, 10, 1, 1000);
    if (this.#storage.search) return this.#storage.search(query.trim(), { limit });
    // The driver cannot search: scan pages of threads instead.
    const hits: RecallHit[] = [];
    for (let offset = 0; hits.length < limit; offset += 100) {
      const page = await this.#storage.listThreads({ limit: 100, offset });
      for (const summary of page.threads) {
        const thread = await this.#storage.getThread(summary.id);
        if (thread && matchesRecall(thread, query.trim())) hits.push(toRecallHit(thread));
        if (hits.length >= limit) break;
      }
      if (offset + 100 >= page.total) break;
    }
    return hits;
  }

  #start(question: string, options: RunOptions, push: ((event: ConsensusEvent) => void) | undefined) {
    const settings = resolveRunSettings(this.#defaults, options, question, this.#models);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidOptionError('signal', options.signal, 'The `signal` option must be an AbortSignal.');
    }
    const plan = { settings, models: this.#models };
    const cast = planConsensus(plan);
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const threadId = uuidv7(this.#clock.now());
    const listeners = [push, options.onEvent, this.#onEvent].filter((listener) => listener !== undefined);
    const context: RunContext = {
      threadId,
      settings,
      models: this.#models,
      fallbacks: this.#fallbacks,
      storage: this.#storage,
      clock: this.#clock,
      random: this.#random,
      logger: this.#logger,
      signal,
      events: new RunEvents(threadId, this.#clock, listeners, this.#logger),
      ledger: new CostLedger(settings.costLimitUsd, settings.costWarnUsd),
      breakers: this.#breakers,
    };
    const result = runConsensus(context, cast);
    return { threadId, result, abort: (reason?: unknown) => controller.abort(reason) };
  }
}
