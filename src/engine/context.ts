/**
 * Per-run plumbing shared by the phases: event emission with sequence numbers, the cost ledger, and the
 * services a run needs (clock, logger, storage, signal).
 *
 * @module
 */
import type { ModelAdapter, ModelRef } from '../adapter.js';
import type { Clock } from '../clock.js';
import type { ConsensusEvent, EventPayload } from '../events.js';
import { serializeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResolvedRun } from '../options.js';
import type { StorageDriver, StorageScope } from '../storage.js';
import type { CircuitBreakers } from './circuit-breaker.js';
import type { Principal, RequestOrigin } from '../principal.js';
import type { ResolvedBuckets } from '../governance.js';
import type { Governance } from './admission.js';

type Listener = (event: ConsensusEvent) => void;

/** Stamps `v`, `seq`, `threadId` and `time` on each event and hands it to every listener. */
export class RunEvents {
  #seq = 0;
  readonly #threadId: string;
  readonly #clock: Clock;
  readonly #listeners: readonly Listener[];
  readonly #logger: Logger;

  constructor(threadId: string, clock: Clock, listeners: readonly Listener[], logger: Logger) {
    this.#threadId = threadId;
    this.#clock = clock;
    this.#listeners = listeners;
    this.#logger = logger;
  }

  /** Whether anyone listens: callers can skip building an event nobody will see (token deltas). */
  get listened(): boolean {
    return this.#listeners.length > 0;
  }

  emit(payload: EventPayload): void {
    // Nobody listens (an `ask()` without `onEvent`): keep the sequence, build nothing.
    if (this.#listeners.length === 0) {
      this.#seq++;
      return;
    }
    const event = { v: 1, seq: this.#seq++, threadId: this.#threadId, time: this.#clock.now(), ...payload } as ConsensusEvent;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // A listener's bug must not break the run; say so once per failure.
        this.#logger.warn({ threadId: this.#threadId, eventType: event.type, err: serializeError(error).message }, 'duh: an onEvent listener threw; ignored');
      }
    }
  }
}

/** What a run has spent, checked against its limit and warning threshold. */
export class CostLedger {
  #spent = 0;
  #warned = false;
  readonly #byModel: Record<string, number> = {};
  readonly #byRound: number[] = [];
  readonly limitUsd: number | undefined;
  readonly warnUsd: number;

  constructor(limitUsd: number | undefined, warnUsd: number) {
    this.limitUsd = limitUsd;
    this.warnUsd = warnUsd;
  }

  get spentUsd(): number {
    return this.#spent;
  }

  /** Whether `amountUsd` more can be spent without crossing the limit. */
  canAfford(amountUsd: number): boolean {
    return this.limitUsd === undefined || this.#spent + amountUsd <= this.limitUsd + 1e-12;
  }

  /** Record a call's cost; returns true the first time the warning threshold is crossed. */
  record(round: number, model: ModelRef, usd: number): boolean {
    this.#spent += usd;
    this.#byModel[model] = (this.#byModel[model] ?? 0) + usd;
    while (this.#byRound.length < round) this.#byRound.push(0);
    this.#byRound[round - 1]! += usd;
    if (!this.#warned && this.warnUsd > 0 && this.#spent >= this.warnUsd) {
      this.#warned = true;
      return true;
    }
    return false;
  }

  summary(): { totalUsd: number; byRound: number[]; byModel: Record<string, number> } {
    return { totalUsd: this.#spent, byRound: [...this.#byRound], byModel: { ...this.#byModel } };
  }
}

/** Everything one run's phases share. */
export interface RunContext {
  threadId: string;
  /** The tenant every record of this run belongs to. */
  scope: StorageScope;
  /** The principal's id, or null for an anonymous run. */
  userId: string | null;
  settings: ResolvedRun;
  /** Models allowed in this run (panel applied for selection; overrides may name any known model). */
  models: ReadonlyMap<ModelRef, ModelAdapter>;
  fallbacks: ReadonlyMap<ModelRef, readonly ModelAdapter[]>;
  storage: StorageDriver;
  clock: Clock;
  random: () => number;
  logger: Logger;
  signal: AbortSignal;
  events: RunEvents;
  ledger: CostLedger;
  /** Per-model circuit breakers shared by the engine's runs; undefined when disabled. */
  breakers: CircuitBreakers | undefined;
  /** Who the run is for (undefined: anonymous in the default tenant). */
  principal: Principal | undefined;
  /** Where the request came from, for the audit log. */
  origin: RequestOrigin | undefined;
  /** Policy, limits, budgets, credentials and the audit trail of the engine. */
  governance: Governance;
  /** The user's and tenant's call buckets, when calls are metered (set by admission). */
  meter?: { user: ResolvedBuckets | undefined; tenant: ResolvedBuckets | undefined };
  /** Settle the run's budgets with what it spent; the protocol calls it before `run-end` or `error`. Idempotent. */
  finish?: (spentUsd: number) => Promise<void>;
}
