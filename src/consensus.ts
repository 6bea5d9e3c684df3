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
import { consensusPlan, planConsensus, runConsensus } from './engine/consensus-run.js';
import { type Governance, runAdmitted } from './engine/admission.js';
import { AuditTrail } from './engine/audit.js';
import { resolveGovernance } from './governance.js';
import { memoryLimiter } from '../limiter/memory.js';
import { InvalidOptionError } from './errors.js';
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
  type BackupOptions,
  type CostOptions,
  type ExportOptions,
  type FeedbackOptions,
  type RecallOptions,
  checkPrincipal,
  Records,
  type RestoreOptions,
  scopeOf,
  type ThreadsApi,
} from './records.js';
import { type CostRow, type OutcomeResult, type RecallHit, type StorageDriver, type StoredThread } from './storage.js';
import { ConsensusStream } from './stream.js';
import { memoryStorage } from '../storage/memory.js';

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
  readonly #records: Records;
  readonly #governance: Governance;

  /** @throws {InvalidOptionError} naming the first bad option. */
  constructor(options: ConsensusOptions) {
    const { models, fallbacks } = validateConsensusOptions(options);
    this.#models = models;
    this.#fallbacks = fallbacks;
    const { models: _models, fallbacks: _fallbacks, storage, logger, onEvent, clock, random, circuitBreaker, policy, limits, budget, limiter, credentials, audit, ...defaults } =
      options;
    if (policy !== undefined && typeof policy !== 'function') {
      throw new InvalidOptionError('policy', policy, 'The `policy` option must be a function (principal, action, resource) => decision, e.g. rbac().');
    }
    if (credentials !== undefined && typeof credentials !== 'function') {
      throw new InvalidOptionError('credentials', credentials, 'The `credentials` option must be a function ({ tenant, provider }) => Promise<{ apiKey } | undefined>, e.g. identity.credentials().');
    }
    if (audit !== undefined && typeof audit !== 'boolean') throw new InvalidOptionError('audit', audit, 'The `audit` option must be a boolean.');
    this.#breakers =
      circuitBreaker === false
        ? undefined
        : new CircuitBreakers({ failureThreshold: circuitBreaker?.failureThreshold ?? 5, cooldownMs: circuitBreaker?.cooldownMs ?? 30_000 });
    this.#defaults = defaults;
    this.#storage = storage ?? memoryStorage();
    this.#logger = logger ?? silentLogger;
    this.#clock = clock ?? systemClock;
    this.#random = random ?? Math.random;
    this.#onEvent = onEvent;
    this.#governance = {
      policy,
      limits: resolveGovernance(limits, budget, limiter, () => memoryLimiter()),
      credentials,
      audit: new AuditTrail(this.#storage, this.#logger, this.#clock, audit ?? policy !== undefined),
      keyed: new Map(),
    };
    this.#records = new Records(this.#storage, this.#clock, policy, this.#governance.audit);
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

  /** Wait for background writes (audit entries) to finish, e.g. before a serverless function returns. */
  flush(): Promise<void> {
    return this.#governance.audit.flush();
  }

  /** Stored runs of the principal's tenant: list them, fetch one by id or prefix, delete one. */
  get threads(): ThreadsApi {
    return this.#records.threads;
  }

  /**
   * Past runs whose question or decision matches `query`, best first (newest first for drivers without
   * full-text search), each with its latest decision.
   */
  recall(query: string, options: RecallOptions = {}): Promise<RecallHit[]> {
    return this.#records.recall(query, options);
  }

  /** Record whether a thread's latest decision worked out (`success`, `failure`, `partial`); giving it again replaces it. */
  feedback(idOrPrefix: string, result: OutcomeResult, options: FeedbackOptions = {}): Promise<StoredThread> {
    return this.#records.feedback(idOrPrefix, result, options);
  }

  /**
   * What runs cost (contributions and votes), grouped by model, provider, user, day or tenant, most expensive
   * first; in the principal's tenant, or in every tenant with `allTenants` (a policy-checked, cross-tenant report).
   */
  cost(options: CostOptions = {}): Promise<CostRow[]> {
    return this.#records.cost(options);
  }

  /** One thread as duh's JSON document or Markdown report. */
  export(idOrPrefix: string, options: ExportOptions = {}): Promise<string> {
    return this.#records.export(idOrPrefix, options);
  }

  /** Every thread of the principal's tenant (or all tenants) as portable JSON lines. */
  backup(options: BackupOptions = {}): AsyncIterable<string> {
    return this.#records.backup(options);
  }

  /** Restore a backup, all or nothing: a corrupt or truncated backup writes nothing. */
  restore(backup: string | AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: RestoreOptions = {}): Promise<{ threads: number }> {
    return this.#records.restore(backup, options);
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
    const principal = checkPrincipal(options.principal);
    const threadId = uuidv7(this.#clock.now());
    const listeners = [push, options.onEvent, this.#onEvent].filter((listener) => listener !== undefined);
    const context: RunContext = {
      threadId,
      scope: scopeOf(principal),
      userId: principal?.id ?? null,
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
      principal,
      origin: options.origin,
      governance: this.#governance,
    };
    if (options.onBudget !== undefined && options.onBudget !== 'refuse' && options.onBudget !== 'degrade') {
      throw new InvalidOptionError('onBudget', options.onBudget, "The `onBudget` option must be 'refuse' or 'degrade'.");
    }
    const result = runAdmitted(context, cast, consensusPlan, options.onBudget, runConsensus);
    return { threadId, result, abort: (reason?: unknown) => controller.abort(reason) };
  }
}
