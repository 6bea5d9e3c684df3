/**
 * The storage driver contract, version 1.
 *
 * A run is stored as a thread: created when the run starts, one turn appended atomically per committed round
 * (its contributions and decision together), and closed as `complete` or `failed`. Reads list, fetch, search
 * and cost threads; feedback attaches to the latest decision; whole threads move in and out for backups.
 * Every operation is scoped to one tenant. `search` and `costReport` are optional: the core falls back to
 * scanning when a driver lacks them. Users, API keys and audit events arrive with the multi-user work.
 *
 * @module
 */
import type { FinishReason, ModelRef } from './adapter.js';
import type { ChallengeFraming, ContributionRole, ProtocolName, Taxonomy } from './record.js';

/** Lifecycle of a stored thread (duh's values). */
export type ThreadStatus = 'active' | 'complete' | 'failed';

/** Every {@link ThreadStatus}. */
export const THREAD_STATUSES: readonly ThreadStatus[] = ['active', 'complete', 'failed'];

/** A stored model call. */
export interface StoredContribution {
  model: ModelRef;
  role: ContributionRole;
  content: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  finishReason: FinishReason;
  truncated: boolean;
  framing?: ChallengeFraming;
  sycophantic?: boolean;
  /** Provider extras (e.g. Perplexity citations): JSON values only; drivers need not keep key order. */
  providerMetadata?: Readonly<Record<string, unknown>>;
}

/** A stored decision. */
export interface StoredDecision {
  content: string;
  confidence: number;
  rigor: number;
  dissent: string | null;
  taxonomy: Taxonomy | null;
}

/** One round of a thread, written atomically at commit. */
export interface StoredTurn {
  roundNumber: number;
  /** duh writes `COMMIT` for a committed round. */
  state: 'COMMIT';
  contributions: readonly StoredContribution[];
  decision: StoredDecision | null;
  /** ISO timestamps. */
  createdAt: string;
  completedAt: string;
}

/**
 * Who a record belongs to. Every storage operation runs within one tenant: a record of tenant A is never
 * visible, countable or changeable from tenant B, through any operation, in any driver.
 */
export interface StorageScope {
  tenant: string;
}

/** The tenant of runs made without a principal. */
export const DEFAULT_TENANT = 'default';

/** A new thread, as the engine creates it at run start. */
export interface NewThread {
  /** A UUIDv7 (time-ordered). */
  id: string;
  question: string;
  protocol: ProtocolName;
  /** The principal the run was made for; null for anonymous runs. */
  userId: string | null;
  /** ISO 8601 in UTC, as `Date#toISOString()` writes it (every timestamp in this contract is). A new thread's `updatedAt` equals it. */
  createdAt: string;
}

/** Outcome feedback on a thread's latest decision (duh's `success | failure | partial`). */
export type OutcomeResult = 'success' | 'failure' | 'partial';

/** Every {@link OutcomeResult}. */
export const OUTCOME_RESULTS: readonly OutcomeResult[] = ['success', 'failure', 'partial'];

/** Stored feedback. One per thread: giving feedback again replaces it (duh answered HTTP 500 instead). */
export interface StoredOutcome {
  result: OutcomeResult;
  notes: string | null;
  /** The round whose decision the feedback is about (the latest one when it was given). */
  roundNumber: number;
  createdAt: string;
  updatedAt: string;
}

/** A stored thread with every turn. */
export interface StoredThread extends NewThread {
  tenant: string;
  status: ThreadStatus;
  updatedAt: string;
  /** Why the run failed, when `status` is `failed` (secrets redacted). */
  error: string | null;
  turns: readonly StoredTurn[];
  outcome: StoredOutcome | null;
}

/** A thread in a listing (no turns). */
export interface ThreadSummary {
  id: string;
  question: string;
  status: ThreadStatus;
  protocol: ProtocolName;
  userId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Filters and paging for {@link StorageDriver.listThreads}. Newest first. */
export interface ThreadQuery {
  status?: ThreadStatus;
  /** Only threads whose id starts with this. */
  idPrefix?: string;
  /** Only threads of this principal. */
  userId?: string;
  /** Page size. */
  limit: number;
  offset: number;
}

/** A page of threads with the total count matching the filter (not just this page). */
export interface ThreadPage {
  threads: ThreadSummary[];
  total: number;
}

/** One recall match: a thread and its latest decision. */
export interface RecallHit {
  threadId: string;
  question: string;
  status: ThreadStatus;
  createdAt: string;
  /** The latest decision's text, or null when the thread has none. */
  decision: string | null;
  confidence: number | null;
  rigor: number | null;
  /** Relevance, higher is better (drivers rank by it; its scale is the driver's own). */
  score: number;
}

/** How {@link StorageDriver.costReport} groups spending. */
export type CostGroup = 'model' | 'provider' | 'user' | 'day';

/** Filters of a cost report; ISO bounds are inclusive and apply to contributions' turn completion time. */
export interface CostQuery {
  groupBy: CostGroup;
  since?: string;
  until?: string;
}

/** One row of a cost report, most expensive first. */
export interface CostRow {
  /** The model ref, provider, user id (`anonymous` when none) or `YYYY-MM-DD` (UTC). */
  key: string;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** Contributions (successful model calls). */
  calls: number;
}

/** How a restore treats what is already stored. */
export type RestoreMode = 'merge' | 'replace';

/**
 * Where runs are kept. Every method may throw `StorageError`; none may lose or corrupt what is already
 * stored: a failed write leaves the store as it was (each write is atomic).
 */
export interface StorageDriver {
  readonly specificationVersion: 'v1';
  /** Driver name used in errors (`memory`, `sqlite`, `postgres`). */
  readonly name: string;
  /** Store a new thread with status `active`. A duplicate id is a `StorageError`. */
  createThread(scope: StorageScope, thread: NewThread): Promise<void>;
  /** Append one committed round (contributions and decision together); atomic; a round number is written once. */
  appendTurn(scope: StorageScope, threadId: string, turn: StoredTurn): Promise<void>;
  /** Close a thread as `complete` or `failed`. */
  finishThread(scope: StorageScope, threadId: string, outcome: { status: Exclude<ThreadStatus, 'active'>; error?: string; at: string }): Promise<void>;
  /** A thread by its full id, or null (also null for another tenant's thread). */
  getThread(scope: StorageScope, id: string): Promise<StoredThread | null>;
  /** Threads matching `query`, newest first. */
  listThreads(scope: StorageScope, query: ThreadQuery): Promise<ThreadPage>;
  /** Delete a thread with everything under it; false when there was none. */
  deleteThread(scope: StorageScope, id: string): Promise<boolean>;
  /** Record (or replace) feedback on the thread's latest decision. A thread without a decision is a `StorageError`. */
  saveOutcome(scope: StorageScope, threadId: string, outcome: { result: OutcomeResult; notes: string | null; at: string }): Promise<void>;
  /**
   * Optional: recall over questions and decision texts, best match first. Drivers with full-text search match
   * words and rank (SQLite FTS5, Postgres tsvector), so their hits differ from duh's case-insensitive substring
   * match, which the memory driver and the core's scan fallback use (newest first). Without it the core scans.
   */
  search?(scope: StorageScope, query: string, options: { limit: number }): Promise<RecallHit[]>;
  /** Optional: spending grouped by model, provider, user or day. Without it the core scans. */
  costReport?(scope: StorageScope, query: CostQuery): Promise<CostRow[]>;
  /**
   * Every thread of the scope (or of every tenant, for `'all'`), oldest first within each tenant, for backups.
   * Each thread is read whole; threads written during an export may or may not appear (it is not a snapshot).
   */
  exportThreads(scope: StorageScope | 'all'): AsyncIterable<StoredThread>;
  /**
   * Write threads from a backup, all or nothing. `replace` deletes the tenants' existing threads first (an
   * empty batch changes nothing); `merge` upserts by id. Running the same restore twice gives the same store.
   */
  importThreads(threads: readonly StoredThread[], options: { mode: RestoreMode }): Promise<{ threads: number }>;
  /** Release connections or file handles the driver opened itself (not ones passed in). */
  close?(): Promise<void>;
}

/** The recall view of a thread: its latest decision. Shared by drivers and the core's scan fallback. */
export function toRecallHit(thread: StoredThread): RecallHit {
  const latest = [...thread.turns].reverse().find((turn) => turn.decision !== null)?.decision ?? null;
  return {
    threadId: thread.id,
    question: thread.question,
    status: thread.status,
    createdAt: thread.createdAt,
    decision: latest?.content ?? null,
    confidence: latest?.confidence ?? null,
    rigor: latest?.rigor ?? null,
    score: 0,
  };
}

/** duh's recall match: the whole query, case-insensitively, as a substring of the question or any decision. */
export function matchesRecall(thread: StoredThread, query: string): boolean {
  const needle = query.toLowerCase();
  if (thread.question.toLowerCase().includes(needle)) return true;
  return thread.turns.some((turn) => turn.decision?.content.toLowerCase().includes(needle) ?? false);
}
