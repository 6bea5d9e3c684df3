/**
 * The storage driver contract, version 1 (first cut).
 *
 * A run is stored as a thread: created when the run starts, one turn appended atomically per committed round
 * (its contributions and decision together), and closed as `complete` or `failed`. Reads list and fetch threads
 * and search them for recall. Drivers implement the required methods; `search` is optional and the core falls
 * back to scanning when a driver lacks it.
 *
 * The memory driver (`duh/storage/memory`, the default) implements it; SQLite and Postgres drivers, tenant
 * scoping, users, keys and audit arrive with the storage and multi-user issues as additions to this contract.
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
  /** Provider extras (e.g. Perplexity citations). */
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

/** A new thread, as the engine creates it at run start. */
export interface NewThread {
  id: string;
  question: string;
  protocol: ProtocolName;
  createdAt: string;
}

/** A stored thread with every turn. */
export interface StoredThread extends NewThread {
  status: ThreadStatus;
  updatedAt: string;
  /** Why the run failed, when `status` is `failed` (secrets redacted). */
  error: string | null;
  turns: readonly StoredTurn[];
}

/** A thread in a listing (no turns). */
export interface ThreadSummary {
  id: string;
  question: string;
  status: ThreadStatus;
  protocol: ProtocolName;
  createdAt: string;
  updatedAt: string;
}

/** Filters and paging for {@link StorageDriver.listThreads}. Newest first. */
export interface ThreadQuery {
  status?: ThreadStatus;
  /** Only threads whose id starts with this. */
  idPrefix?: string;
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
}

/**
 * Where runs are kept. Every method may throw `StorageError`; none may lose or corrupt what is already
 * stored (a failed `appendTurn` leaves the thread as it was).
 */
export interface StorageDriver {
  readonly specificationVersion: 'v1';
  /** Driver name used in errors (`memory`, `sqlite`). */
  readonly name: string;
  /** Store a new thread with status `active`. */
  createThread(thread: NewThread): Promise<void>;
  /** Append one committed round; atomic. */
  appendTurn(threadId: string, turn: StoredTurn): Promise<void>;
  /** Close a thread as `complete` or `failed`. */
  finishThread(threadId: string, outcome: { status: Exclude<ThreadStatus, 'active'>; error?: string; at: string }): Promise<void>;
  /** A thread by its full id, or null. */
  getThread(id: string): Promise<StoredThread | null>;
  /** Threads matching `query`, newest first. */
  listThreads(query: ThreadQuery): Promise<ThreadPage>;
  /**
   * Optional: case-insensitive substring search over questions and decision texts, newest thread first.
   * Without it, the core scans `listThreads` + `getThread`.
   */
  search?(query: string, options: { limit: number }): Promise<RecallHit[]>;
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
  };
}

/** duh's recall match: the whole query, case-insensitively, as a substring of the question or any decision. */
export function matchesRecall(thread: StoredThread, query: string): boolean {
  const needle = query.toLowerCase();
  if (thread.question.toLowerCase().includes(needle)) return true;
  return thread.turns.some((turn) => turn.decision?.content.toLowerCase().includes(needle) ?? false);
}
