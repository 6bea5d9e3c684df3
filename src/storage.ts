/**
 * The storage driver contract, version 1.
 *
 * A run is stored as a thread: created when the run starts (or, with `startThread`, together with its first
 * write), one turn per round, built phase by phase as each phase completes (`appendPhase`: PROPOSE, CHALLENGE,
 * REVISE, COMMIT, each atomic) or, for drivers without it, appended whole at commit (`appendTurn`), and closed
 * as `complete` or `failed`. Reads list, fetch, search and cost threads, and see a round in progress as a turn
 * without a decision; feedback attaches to the latest decision; whole threads move in and out for backups.
 * Every operation is scoped to one tenant. `appendPhase`, `startThread`, `search` and `costReport` are
 * optional: the core falls back (a separate `createThread`, one `appendTurn` per round, scanning) when a driver
 * lacks them.
 *
 * A thread also holds the voting protocol's votes and the decomposition protocol's subtasks (always present,
 * empty when there are none). Writing them (`saveVotes`, `saveSubtasks`, `updateSubtask`) is optional; cost
 * reports count votes as model calls and can span every tenant (`'all'`, grouped by `tenant`).
 *
 * Identity records are optional parts of the same contract (still `v1`, so drivers written before them keep
 * working): users, API keys, per-tenant provider keys (encrypted by the caller) and an append-only,
 * hash-chained audit log. Code that needs one of them asks with {@link requireStorageMethod}, which raises a
 * `StorageError` naming the driver and the missing method.
 *
 * @module
 */
import type { FinishReason, ModelRef } from './adapter.js';
import { StorageError } from './errors.js';
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

/** duh's turn states: the phases of a round, in the order a round goes through them. */
export type TurnState = 'PROPOSE' | 'CHALLENGE' | 'REVISE' | 'COMMIT';

/** Every {@link TurnState}, in phase order. */
export const TURN_STATES: readonly TurnState[] = ['PROPOSE', 'CHALLENGE', 'REVISE', 'COMMIT'];

/**
 * One round of a thread. A committed round has state `COMMIT`; a round still in progress (written phase by phase
 * with {@link StorageDriver.appendPhase}, and left so when a run stopped mid-round) has the state of its last
 * stored phase, holds exactly that phase's and the earlier phases' contributions, and has no decision.
 */
export interface StoredTurn {
  roundNumber: number;
  /** The last phase whose contributions are stored: `COMMIT` for a committed round. */
  state: TurnState;
  contributions: readonly StoredContribution[];
  /** Non-null only at `COMMIT` (and null there too when the round produced none). */
  decision: StoredDecision | null;
  /** ISO timestamps: when the round's first phase was stored, and when its latest one was. */
  createdAt: string;
  completedAt: string;
}

/** One phase of a round, as the engine stores it when the phase completes ({@link StorageDriver.appendPhase}). */
export interface TurnPhase {
  roundNumber: number;
  state: TurnState;
  /** The contributions this phase added, in order (they follow the earlier phases' ones). */
  contributions: readonly StoredContribution[];
  /** The round's decision: only at `COMMIT` (where it may still be null); null for every other phase. */
  decision: StoredDecision | null;
  /** When the phase completed (ISO): the turn's `completedAt` and the thread's `updatedAt` become it. */
  at: string;
}

// ---- Votes and subtasks (records of the voting and decomposition protocols; optional writes of contract v1) ----

/**
 * One model's answer in the voting protocol (duh's `votes` table). A vote is a model call, so it carries the
 * same usage fields as a {@link StoredContribution}; cost reports count it (bounded and dated by `createdAt`).
 */
export interface StoredVote {
  model: ModelRef;
  content: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  finishReason: FinishReason;
  truncated: boolean;
  /** Provider extras (e.g. Perplexity citations): JSON values only; drivers need not keep key order. */
  providerMetadata?: Readonly<Record<string, unknown>>;
  /** ISO 8601 in UTC: when the vote was cast. */
  createdAt: string;
}

/** Lifecycle of a subtask (duh's values). */
export type SubtaskStatus = 'pending' | 'running' | 'complete' | 'failed';

/** Every {@link SubtaskStatus}. */
export const SUBTASK_STATUSES: readonly SubtaskStatus[] = ['pending', 'running', 'complete', 'failed'];

/** The longest subtask label, in characters (duh's `String(200)`). */
export const MAX_SUBTASK_LABEL_LENGTH = 200;

/**
 * One node of a decomposition plan (duh's `subtasks` table): a part of the thread's question, answered by a
 * one-round consensus of its own (`childThreadId`, a thread of the same tenant).
 */
export interface StoredSubtask {
  /** 1–200 characters, unique within the parent thread; dependencies name subtasks by it. */
  label: string;
  description: string;
  /** Labels of subtasks of the same thread this one needs first (a DAG: no self-reference, no cycle). */
  dependencies: readonly string[];
  status: SubtaskStatus;
  /** Where the subtask sits in the plan; a thread's subtasks are read in this order (then in the order written). */
  sequenceOrder: number;
  /**
   * The thread of the subtask's own consensus, in the same tenant, or null before it starts. Checked when
   * written; deleting that thread later leaves the reference as it is (reading it then finds nothing).
   */
  childThreadId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A change of one subtask with {@link StorageDriver.updateSubtask}. */
export interface SubtaskUpdate {
  status: SubtaskStatus;
  /** The subtask's thread (a thread of the same tenant), or null to clear it; absent keeps it. */
  childThreadId?: string | null;
  /** When the change happens: the subtask's (and its parent thread's) new `updatedAt`. */
  at: string;
}

const isPlainRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** What is wrong with a vote, or undefined when every driver can store it. Shared by drivers and backups. */
export function voteProblem(vote: unknown): string | undefined {
  if (!isPlainRecord(vote)) return 'a vote must be an object';
  for (const field of ['model', 'content', 'finishReason', 'createdAt'] as const) if (typeof vote[field] !== 'string') return `\`${field}\` of a vote must be a string`;
  if (vote['model'] === '') return '`model` of a vote must be a non-empty string';
  for (const field of ['inputTokens', 'outputTokens', 'costUsd', 'latencyMs'] as const) if (!isFiniteNumber(vote[field])) return `\`${field}\` of a vote must be a finite number`;
  if (typeof vote['truncated'] !== 'boolean') return '`truncated` of a vote must be a boolean';
  if (vote['providerMetadata'] !== undefined && !isPlainRecord(vote['providerMetadata'])) return '`providerMetadata` of a vote must be an object';
  return undefined;
}

/** What is wrong with one subtask taken alone, or undefined. */
function subtaskShapeProblem(subtask: unknown): string | undefined {
  if (!isPlainRecord(subtask)) return 'a subtask must be an object';
  const { label } = subtask;
  if (typeof label !== 'string' || label === '' || [...label].length > MAX_SUBTASK_LABEL_LENGTH) return `\`label\` must be a string of 1 to ${MAX_SUBTASK_LABEL_LENGTH} characters`;
  for (const field of ['description', 'createdAt', 'updatedAt'] as const) if (typeof subtask[field] !== 'string') return `\`${field}\` of subtask \`${label}\` must be a string`;
  const { dependencies } = subtask;
  if (!Array.isArray(dependencies) || !dependencies.every((each) => typeof each === 'string')) return `\`dependencies\` of subtask \`${label}\` must be an array of labels`;
  if (!SUBTASK_STATUSES.includes(subtask['status'] as SubtaskStatus)) return `\`status\` of subtask \`${label}\` must be one of ${SUBTASK_STATUSES.join(', ')}`;
  if (!Number.isSafeInteger(subtask['sequenceOrder'])) return `\`sequenceOrder\` of subtask \`${label}\` must be an integer`;
  const child = subtask['childThreadId'];
  if (child !== null && (typeof child !== 'string' || child === '')) return `\`childThreadId\` of subtask \`${label}\` must be a thread id or null`;
  return undefined;
}

/**
 * What is wrong with adding `incoming` subtasks to a thread that has `existing` ones, or undefined: each subtask
 * well formed, labels unique across both, every dependency naming a subtask of either (not itself), and no
 * cycle. Pure: drivers call it inside their write, with the subtasks stored at that moment; backups call it
 * with no existing ones. Whether a `childThreadId` names a thread of the tenant is the driver's check.
 */
export function subtaskPlanProblem(existing: readonly StoredSubtask[], incoming: readonly unknown[]): string | undefined {
  if (!Array.isArray(incoming)) return 'subtasks must be an array';
  for (const subtask of incoming) {
    const problem = subtaskShapeProblem(subtask);
    if (problem) return problem;
  }
  const added = incoming as readonly StoredSubtask[];
  const labels = new Set(existing.map((subtask) => subtask.label));
  for (const subtask of added) {
    if (labels.has(subtask.label)) return `the label \`${subtask.label}\` is used twice; labels are unique within a thread`;
    labels.add(subtask.label);
  }
  for (const subtask of added) {
    for (const dependency of subtask.dependencies) {
      if (dependency === subtask.label) return `subtask \`${subtask.label}\` depends on itself`;
      if (!labels.has(dependency)) return `subtask \`${subtask.label}\` depends on \`${dependency}\`, which is not a subtask of the thread`;
    }
  }
  // Stored subtasks were checked when written and cannot depend on new ones: a cycle can only run through new ones.
  const byLabel = new Map(added.map((subtask) => [subtask.label, subtask]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (label: string, path: string[]): string | undefined => {
    if (state.get(label) === 'done' || !byLabel.has(label)) return undefined;
    if (state.get(label) === 'visiting') return `the dependencies form a cycle (${[...path.slice(path.indexOf(label)), label].join(' → ')})`;
    state.set(label, 'visiting');
    for (const dependency of byLabel.get(label)!.dependencies) {
      const cycle = visit(dependency, [...path, label]);
      if (cycle) return cycle;
    }
    state.set(label, 'done');
    return undefined;
  };
  for (const subtask of added) {
    const cycle = visit(subtask.label, []);
    if (cycle) return cycle;
  }
  return undefined;
}

/** A thread's subtasks in reading order: by `sequenceOrder`, then in the order written (a stable sort). */
export function subtasksInOrder<T extends Pick<StoredSubtask, 'sequenceOrder'>>(subtasks: readonly T[]): T[] {
  return [...subtasks].sort((a, b) => a.sequenceOrder - b.sequenceOrder);
}

/** The latest of ISO timestamps (UTC text sorts as time), or undefined for none: the `updatedAt` a write moves a thread to. */
export function latestTimestamp(timestamps: readonly string[]): string | undefined {
  return timestamps.reduce<string | undefined>((latest, each) => (latest === undefined || each > latest ? each : latest), undefined);
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
  /**
   * The voting protocol's votes, in the order written ({@link StorageDriver.saveVotes}); empty for other
   * protocols, for drivers without the method, and in backups written before votes existed.
   */
  votes: readonly StoredVote[];
  /**
   * The decomposition plan ({@link StorageDriver.saveSubtasks}), by `sequenceOrder` then in the order written;
   * empty when there is none.
   */
  subtasks: readonly StoredSubtask[];
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
export type CostGroup = 'model' | 'provider' | 'user' | 'day' | 'tenant';

/** Every {@link CostGroup}. */
export const COST_GROUPS: readonly CostGroup[] = ['model', 'provider', 'user', 'day', 'tenant'];

/**
 * Filters of a cost report; ISO bounds are inclusive and apply to each contribution's turn completion time and
 * each vote's `createdAt`.
 */
export interface CostQuery {
  groupBy: CostGroup;
  since?: string;
  until?: string;
}

/** One row of a cost report, most expensive first. */
export interface CostRow {
  /** The model ref, provider, user id (`anonymous` when none), `YYYY-MM-DD` (UTC) or tenant. */
  key: string;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** Stored model calls: contributions and votes. */
  calls: number;
}

// ---- Identity records (optional methods of contract v1) ----

/**
 * A new user, as the identity service creates it. `email` is stored exactly as given and is unique within a
 * tenant (exact, case-sensitive match: the identity service lowercases emails before they get here).
 */
export interface NewUser {
  /** Unique within the tenant (the identity service uses UUIDv7s). */
  id: string;
  email: string;
  displayName: string;
  /** A role name for policies (duh's are `admin`, `contributor`, `viewer`). */
  role: string;
  /** A self-describing password hash (`$scrypt$…`), or null for a user who signs in with API keys only. Never a password. */
  passwordHash: string | null;
  /** Inactive users cannot sign in or use their keys. */
  active: boolean;
  /** ISO 8601 in UTC; a new user's `updatedAt` equals it. */
  createdAt: string;
}

/** A stored user. */
export interface StoredUser extends NewUser {
  tenant: string;
  updatedAt: string;
  /**
   * When the user's sessions were last ended (ISO 8601): session tokens issued before are refused. Absent when
   * they never were. Set with {@link UserUpdate.sessionsEndedAt}.
   */
  sessionsEndedAt?: string;
}

/** Paging for {@link StorageDriver.listUsers}: oldest first (by `createdAt`, then `id`). */
export interface UserQuery {
  limit: number;
  offset: number;
}

/** A page of users with the total count of the tenant's users. */
export interface UserPage {
  users: StoredUser[];
  total: number;
}

/** Fields {@link StorageDriver.updateUser} may change; absent fields stay as they are. */
export interface UserUpdate {
  role?: string;
  displayName?: string;
  active?: boolean;
  passwordHash?: string | null;
  /**
   * Write only if the stored `passwordHash` is still exactly this (null: no password): a compare-and-set, so a
   * password re-hash on sign-in never overwrites a password changed meanwhile. When it differs nothing changes
   * and the user is returned as stored (compare its `passwordHash` with the one written to tell).
   */
  ifPasswordHash?: string | null;
  /** End the user's sessions as of this time (ISO 8601): stored as {@link StoredUser.sessionsEndedAt}. */
  sessionsEndedAt?: string;
  /**
   * Write only if the stored `sessionsEndedAt` is still exactly this (null: never ended), like
   * {@link ifPasswordHash} (both must hold when both are given). A miss changes nothing and returns the user as
   * stored.
   */
  ifSessionsEndedAt?: string | null;
  /** When the change happens: the new `updatedAt`. */
  at: string;
}

/**
 * A new API key. Only a hash of the secret is stored: the plaintext key is shown to its owner once and never
 * reaches a driver.
 */
export interface NewApiKey {
  /**
   * Unique across **all** tenants: keys are looked up by id alone to authenticate ({@link StorageDriver.findApiKey}),
   * and the tenant comes from the row found.
   */
  id: string;
  /** The user the key acts as (a user of the same tenant). */
  userId: string;
  /** A label for people (`ci`, `laptop`). */
  name: string;
  /** Hex SHA-256 of the key's secret part. Never the secret itself. */
  secretHash: string;
  /** What the key may be used for (`ask`, `read`, `admin`). */
  scopes: readonly string[];
  createdAt: string;
  /** When the key stops working, or null for never. */
  expiresAt: string | null;
}

/** A stored API key. */
export interface StoredApiKey extends Omit<NewApiKey, 'scopes'> {
  tenant: string;
  scopes: string[];
  /** When the key was revoked (the first time), or null. */
  revokedAt: string | null;
  /** When the key was last used to authenticate (roughly: touches are throttled), or null. */
  lastUsedAt: string | null;
}

/** Filters of {@link StorageDriver.listApiKeys}. */
export interface ApiKeyQuery {
  /** Only the keys of this user. */
  userId?: string;
}

/**
 * A provider key (bring your own key) as the driver stores it: already encrypted by the caller. Every field is
 * opaque to the driver; none is ever the plaintext key.
 */
export interface ProviderKeyWrite {
  /** The provider name the key is for (`openai`, `anthropic`, …). One key per provider and tenant. */
  provider: string;
  /** Encrypted key material (base64). */
  ciphertext: string;
  /** Initialisation vector (base64). */
  iv: string;
  /** Authentication tag (base64). */
  tag: string;
  /** Id of the master key that encrypted it (in the vault's keyring). */
  keyId: string;
  /** When it is written: `updatedAt`, and `createdAt` for a provider that had no key yet. */
  at: string;
}

/** A stored provider key: ciphertext and the ids needed to decrypt it. */
export interface StoredProviderKey extends Omit<ProviderKeyWrite, 'at'> {
  tenant: string;
  createdAt: string;
  updatedAt: string;
}

/** What listings show of a provider key: never the ciphertext. */
export interface ProviderKeyInfo {
  tenant: string;
  provider: string;
  keyId: string;
  createdAt: string;
  updatedAt: string;
}

/** Options of {@link StorageDriver.putProviderKey}. */
export interface ProviderKeyPutOptions {
  /**
   * Write only if the stored record still has this ciphertext (a compare-and-set, for key rotation: a key
   * changed since it was read is left alone). Without it the write is an upsert.
   */
  ifCiphertext?: string;
}

/** Outcome of an audited action: a policy decision (`allow`, `deny`) or an operation's result. */
export type AuditOutcome = 'allow' | 'deny' | 'success' | 'failure';

/** Every {@link AuditOutcome}. */
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['allow', 'deny', 'success', 'failure'];

/** One audit entry as written. It must never carry a secret (keys, passwords, tokens). */
export interface AuditEntryInput {
  at: string;                 // ISO 8601 UTC
  actor: string | null;       // principal id, null when anonymous/system
  action: string;             // e.g. 'run:start', 'thread:delete', 'user:create', 'key:revoke'
  resource: string;           // e.g. 'thread:0195…', 'user:u1', 'tenant:acme'
  outcome: AuditOutcome;
  reason?: string | null;     // why denied / failed (never a secret)
  ip?: string | null;         // from where
  userAgent?: string | null;
  details?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * A stored audit entry: one link of its tenant's hash chain. `hash` is the hex SHA-256 of
 * {@link auditCanonicalString}(entry), whose input starts with `prevHash`, so changing, removing or reordering
 * any entry breaks every later link.
 */
export interface StoredAuditEvent extends Required<Omit<AuditEntryInput, 'details'>> {
  details: Record<string, string | number | boolean | null>;
  tenant: string;
  /** 1, 2, 3, … per tenant, without gaps. */
  seq: number;
  /** A UUIDv7. */
  id: string;
  /** The previous entry's `hash`; 64 zeros ({@link AUDIT_GENESIS_HASH}) for the first entry. */
  prevHash: string;
  /** 64 lowercase hex digits. */
  hash: string;
}

/** Paging of {@link StorageDriver.listAudit}: ascending `seq`, entries after `afterSeq` (default 0). */
export interface AuditQuery {
  afterSeq?: number;
  limit: number;
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
  /**
   * Append one whole round (contributions and decision together); atomic; a round number is written once. The
   * engine uses it only with drivers that lack {@link appendPhase} (then once per round, at commit); restores and
   * simple drivers keep it.
   */
  appendTurn(scope: StorageScope, threadId: string, turn: StoredTurn): Promise<void>;
  /**
   * Optional: store one phase of a round as it completes, atomically (the phase's contributions and state
   * together, or nothing). `PROPOSE` creates the turn of the next round (rounds contiguous from 1: round N
   * needs round N - 1 at `COMMIT`); `CHALLENGE`, `REVISE` and `COMMIT` must follow in that order on the
   * thread's latest turn, each once, adding their contributions after the earlier ones and setting `state`;
   * `COMMIT` also sets the decision. Every phase sets the turn's `completedAt` (and, for `PROPOSE`, `createdAt`)
   * and the thread's `updatedAt` to `phase.at`. A duplicate, out-of-order or malformed phase, or an unknown
   * thread, is a `StorageError` naming the round and the states, and writes nothing; of two concurrent writes
   * of one phase exactly one succeeds. Phases built up to `COMMIT` read back exactly as the same round written
   * by {@link appendTurn}. Without it the engine writes each round once, with `appendTurn`, at commit.
   */
  appendPhase?(scope: StorageScope, threadId: string, phase: TurnPhase): Promise<void>;
  /**
   * Optional: create a thread (status `active`) together with its first round, in one atomic write: both or
   * nothing (one transaction; one statement, so one round trip, on Postgres). `first` is round 1 as it stands,
   * in the shape {@link appendTurn} takes: in progress (the state of its last phase, holding that phase's and the
   * earlier phases' contributions, no decision) or committed. The thread's `updatedAt` becomes
   * `first.completedAt`, and the result reads back exactly as {@link createThread} followed by
   * {@link appendTurn}. A duplicate id, or a turn {@link firstTurnProblem} rejects, is a `StorageError` that
   * writes nothing. {@link appendPhase} continues a round started here in progress.
   *
   * When a driver has it, the engine stores a run's thread with the run's first write (round 1's `PROPOSE` phase,
   * or, without {@link appendPhase}, the whole first round) instead of creating it up front: a run costs one
   * write fewer, and nothing waits on storage before the first model call. A run that fails before that write
   * is then stored as `failed` (with `createThread` and `finishThread`). Without it the engine creates the
   * thread when the run starts.
   */
  startThread?(scope: StorageScope, thread: NewThread, first: StoredTurn): Promise<void>;
  /** Close a thread as `complete` or `failed`. */
  finishThread(scope: StorageScope, threadId: string, outcome: { status: Exclude<ThreadStatus, 'active'>; error?: string; at: string }): Promise<void>;
  /**
   * Optional: mark a thread `failed` (with `error`, and `updatedAt = at`) only if it is still `active` and its
   * `updatedAt` is still exactly `idleSince`, in one atomic step (a compare-and-set); true when it was marked,
   * false when the thread moved on, finished or does not exist in the tenant (then nothing changes).
   * `threads.sweep` uses it, so a run that writes a phase or finishes while the sweep runs is never marked.
   * Without it the sweep reads the thread again just before `finishThread`, which leaves a short window.
   */
  failIdleThread?(scope: StorageScope, threadId: string, outcome: { idleSince: string; error: string; at: string }): Promise<boolean>;
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
  /**
   * Optional: spending (contributions and votes) grouped by model, provider, user, day or tenant, in one tenant
   * or, for `'all'`, across every tenant (the records API asks the policy with `allTenants` first). Without it
   * the core scans {@link exportThreads}.
   */
  costReport?(scope: StorageScope | 'all', query: CostQuery): Promise<CostRow[]>;
  /**
   * Every thread of the scope (or of every tenant, for `'all'`), oldest first within each tenant, for backups.
   * Each thread is read whole; threads written during an export may or may not appear (it is not a snapshot).
   */
  exportThreads(scope: StorageScope | 'all'): AsyncIterable<StoredThread>;
  /**
   * Write threads from a backup, all or nothing. `replace` deletes the tenants' existing threads first (an
   * empty batch changes nothing); `merge` upserts by id. Running the same restore twice gives the same store.
   * Votes and subtasks come along (a thread without those fields, from an older backup, has none).
   */
  importThreads(threads: readonly StoredThread[], options: { mode: RestoreMode }): Promise<{ threads: number }>;

  // ---- Votes and subtasks (optional: written by the voting and decomposition protocols; ask with
  // requireStorageMethod). They belong to their thread: deleting it deletes them, and exports, imports and
  // backups carry them. Each write moves the thread's `updatedAt` to its time, as appendTurn does.

  /**
   * Append votes to a thread, after the ones it has, all or nothing. A vote {@link voteProblem} rejects, or an
   * unknown thread (also another tenant's), is a `StorageError` that writes nothing. The thread's `updatedAt`
   * becomes the latest vote's `createdAt`.
   */
  saveVotes?(scope: StorageScope, threadId: string, votes: readonly StoredVote[]): Promise<void>;
  /**
   * Add subtasks to a thread's plan, all or nothing: {@link subtaskPlanProblem} against the subtasks already
   * stored (labels unique, dependencies naming existing labels, no cycle), and each `childThreadId` a thread
   * of the same tenant other than the parent. Anything wrong, or an unknown thread, is a `StorageError` that
   * writes nothing. The thread's `updatedAt` becomes the latest subtask `updatedAt`.
   */
  saveSubtasks?(scope: StorageScope, threadId: string, subtasks: readonly StoredSubtask[]): Promise<void>;
  /**
   * Set a subtask's status (and `childThreadId` when given) and its `updatedAt` (and the thread's) to `at`. The
   * subtask as stored after, or null when the thread (in this tenant) has no subtask with that label. A bad
   * status, or a child that is not another thread of the tenant, is a `StorageError` that changes nothing.
   */
  updateSubtask?(scope: StorageScope, threadId: string, label: string, update: SubtaskUpdate): Promise<StoredSubtask | null>;

  // ---- Identity (all optional; see the module notes). None of these touches threads, and deleting or
  // restoring threads never touches them: audit entries outlive the threads they are about.

  /** Store a new user. A duplicate id, or an email another user of the tenant has, is a `StorageError`. */
  createUser?(scope: StorageScope, user: NewUser): Promise<void>;
  /** A user by id, or null (also for another tenant's user). */
  getUser?(scope: StorageScope, id: string): Promise<StoredUser | null>;
  /** A user by exact email, or null. */
  getUserByEmail?(scope: StorageScope, email: string): Promise<StoredUser | null>;
  /** The tenant's users, oldest first, with the total. */
  listUsers?(scope: StorageScope, query: UserQuery): Promise<UserPage>;
  /**
   * Change a user's role, display name, active flag, password hash or `sessionsEndedAt`; the user as stored
   * after, or null when there is none. With `ifPasswordHash`, only when the stored hash still matches (otherwise unchanged).
   */
  updateUser?(scope: StorageScope, id: string, update: UserUpdate): Promise<StoredUser | null>;

  /** Store a new API key for a user of the tenant. A duplicate id (in any tenant) or an unknown user is a `StorageError`. */
  createApiKey?(scope: StorageScope, key: NewApiKey): Promise<void>;
  /**
   * The key with this id **in any tenant**, or null: the one unscoped read, for authentication (the caller then
   * checks the secret against `secretHash`, and the row's `tenant` becomes the principal's tenant). Revoked and
   * expired keys are returned too; the caller refuses them.
   */
  findApiKey?(id: string): Promise<StoredApiKey | null>;
  /** The tenant's keys (optionally one user's), newest first, revoked ones included. */
  listApiKeys?(scope: StorageScope, query?: ApiKeyQuery): Promise<StoredApiKey[]>;
  /** Revoke a key: the key as stored after (an already revoked key keeps its first `revokedAt`), or null when the tenant has none with this id. */
  revokeApiKey?(scope: StorageScope, id: string, at: string): Promise<StoredApiKey | null>;
  /** Record a use of the key: `lastUsedAt` becomes `at` unless it is already later. Unknown ids are ignored. */
  touchApiKey?(scope: StorageScope, id: string, at: string): Promise<void>;

  /** Store (or replace) the tenant's encrypted key for a provider; false only when `ifCiphertext` did not match. */
  putProviderKey?(scope: StorageScope, key: ProviderKeyWrite, options?: ProviderKeyPutOptions): Promise<boolean>;
  /** The tenant's encrypted key for a provider, or null. */
  getProviderKey?(scope: StorageScope, provider: string): Promise<StoredProviderKey | null>;
  /**
   * What provider keys exist (never their ciphertext), by tenant then provider. `'all'` lists every tenant's,
   * for maintenance that spans tenants (re-encrypting every key under a new master key).
   */
  listProviderKeys?(scope: StorageScope | 'all'): Promise<ProviderKeyInfo[]>;
  /** Delete the tenant's key for a provider; false when there was none. */
  deleteProviderKey?(scope: StorageScope, provider: string): Promise<boolean>;

  /**
   * Append an entry to the tenant's audit chain: the driver gives it the next `seq`, a UUIDv7 `id`, the previous
   * entry's hash as `prevHash`, and `hash` = hex SHA-256 of {@link auditCanonicalString}. Atomic, and safe under
   * concurrency across connections and processes (appends of one tenant are serialised, so the chain never
   * forks or skips). An entry that {@link auditEntryProblem} rejects is a `StorageError`, writing nothing.
   * There is no way to change or delete an entry through the contract.
   */
  appendAudit?(scope: StorageScope, entry: AuditEntryInput): Promise<StoredAuditEvent>;
  /** The tenant's audit entries in ascending `seq`, after `afterSeq`, at most `limit`. */
  listAudit?(scope: StorageScope, query: AuditQuery): Promise<StoredAuditEvent[]>;

  /** Release connections or file handles the driver opened itself (not ones passed in). */
  close?(): Promise<void>;
}

/**
 * A decision as the seven column values SQL drivers store, in order: content, confidence, rigor, dissent and the
 * taxonomy's intent, category and genus (all null for a turn without a decision).
 */
export function decisionColumns(decision: StoredDecision | null): [string | null, number | null, number | null, string | null, string | null, string | null, string | null] {
  return [
    decision?.content ?? null,
    decision?.confidence ?? null,
    decision?.rigor ?? null,
    decision?.dissent ?? null,
    decision?.taxonomy?.intent ?? null,
    decision?.taxonomy?.category ?? null,
    decision?.taxonomy?.genus ?? null,
  ];
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

/**
 * What is wrong with a phase by itself, or undefined when it is well formed: `state` one of
 * {@link TURN_STATES}, `roundNumber` a positive integer, `contributions` an array of objects, `at` a non-empty
 * string, and a decision only at `COMMIT`. Drivers check it before anything else, so a malformed phase writes
 * nothing.
 */
export function phaseShapeProblem(phase: TurnPhase): string | undefined {
  if (typeof phase !== 'object' || phase === null) return 'the phase must be an object';
  if (!TURN_STATES.includes(phase.state)) return `\`state\` must be one of ${TURN_STATES.join(', ')}, got ${JSON.stringify(phase.state)}`;
  if (!Number.isSafeInteger(phase.roundNumber) || phase.roundNumber < 1) return `\`roundNumber\` must be a positive integer, got ${JSON.stringify(phase.roundNumber)}`;
  if (!Array.isArray(phase.contributions) || !phase.contributions.every((contribution) => typeof contribution === 'object' && contribution !== null)) {
    return '`contributions` must be an array of contributions';
  }
  if (typeof phase.at !== 'string' || phase.at === '') return '`at` must be an ISO timestamp';
  if (phase.decision !== null && (phase.decision === undefined || phase.state !== 'COMMIT')) return `only a COMMIT phase carries a decision; a ${phase.state} phase needs \`decision: null\``;
  return undefined;
}

/**
 * Why `turn` cannot be the first round of a new thread ({@link StorageDriver.startThread}), or undefined when it
 * can: round 1, a known state, an array of contributions, ISO `createdAt` and `completedAt`, and a decision only at
 * `COMMIT`. Shared by every driver, so all of them accept and refuse the same first rounds.
 */
export function firstTurnProblem(turn: StoredTurn): string | undefined {
  if (typeof turn !== 'object' || turn === null) return 'the first round must be an object';
  if (turn.roundNumber !== 1) return `the first round must be round 1 (\`roundNumber: 1\`), got ${JSON.stringify(turn.roundNumber)}`;
  if (!TURN_STATES.includes(turn.state)) return `\`state\` must be one of ${TURN_STATES.join(', ')}, got ${JSON.stringify(turn.state)}`;
  if (!Array.isArray(turn.contributions) || !turn.contributions.every((contribution) => typeof contribution === 'object' && contribution !== null)) {
    return '`contributions` must be an array of contributions';
  }
  for (const field of ['createdAt', 'completedAt'] as const) {
    if (typeof turn[field] !== 'string' || turn[field] === '') return `\`${field}\` must be an ISO timestamp`;
  }
  if (turn.decision !== null && (turn.decision === undefined || turn.state !== 'COMMIT')) return `only a round at COMMIT carries a decision; a round at ${turn.state} needs \`decision: null\``;
  return undefined;
}

/**
 * Why `phase` cannot follow a thread whose latest turn (highest round) is `latest` (undefined when it has no
 * turns), or undefined when it can: `PROPOSE` of round N needs round N - 1 at `COMMIT` (no turn for round 1);
 * any other phase needs round N at the state right before it. The answer names the round and the states, for
 * the `StorageError` drivers throw. Shared by every driver, so all of them accept and refuse the same phases.
 */
export function phaseOrderProblem(latest: { roundNumber: number; state: string } | undefined, phase: Pick<TurnPhase, 'roundNumber' | 'state'>): string | undefined {
  const round = phase.roundNumber;
  const found = latest ? `the latest turn is round ${latest.roundNumber} at ${latest.state}` : 'the thread has no turns';
  if (phase.state === 'PROPOSE') {
    if (round === 1 ? latest === undefined : latest?.roundNumber === round - 1 && latest.state === 'COMMIT') return undefined;
    if (latest && latest.roundNumber >= round) return `round ${round} is already stored (${found}); each phase is written once`;
    return round === 1 ? `PROPOSE of round 1 must be the thread's first phase, but ${found}` : `PROPOSE of round ${round} must follow round ${round - 1} at COMMIT, but ${found}`;
  }
  const previous = TURN_STATES[TURN_STATES.indexOf(phase.state) - 1]!;
  if (latest?.roundNumber === round && latest.state === previous) return undefined;
  if (latest?.roundNumber === round && TURN_STATES.indexOf(latest.state as TurnState) >= TURN_STATES.indexOf(phase.state)) {
    return `${phase.state} of round ${round} is already stored (${found}); each phase is written once`;
  }
  return `${phase.state} of round ${round} must follow ${previous} of round ${round}, but ${found}`;
}


/** The optional driver methods, by name. */
export type OptionalStorageMethod =
  | 'appendPhase'
  | 'startThread'
  | 'failIdleThread'
  | 'search'
  | 'costReport'
  | 'saveVotes'
  | 'saveSubtasks'
  | 'updateSubtask'
  | 'createUser'
  | 'getUser'
  | 'getUserByEmail'
  | 'listUsers'
  | 'updateUser'
  | 'createApiKey'
  | 'findApiKey'
  | 'listApiKeys'
  | 'revokeApiKey'
  | 'touchApiKey'
  | 'putProviderKey'
  | 'getProviderKey'
  | 'listProviderKeys'
  | 'deleteProviderKey'
  | 'appendAudit'
  | 'listAudit';

/**
 * An optional driver method, bound to its driver, or a `StorageError` naming the driver and the method when the
 * driver does not implement it.
 *
 * @param usedFor what needs it, for the message (`user management`, `the audit log`)
 * @throws {StorageError} when the driver lacks the method
 */
export function requireStorageMethod<M extends OptionalStorageMethod>(driver: StorageDriver, method: M, usedFor: string): NonNullable<StorageDriver[M]> {
  const fn = driver[method] as unknown;
  if (typeof fn !== 'function') {
    throw new StorageError(
      driver.name,
      `The storage driver \`${driver.name}\` does not implement ${method}(), which ${usedFor} needs. Use a driver that implements it (memory, sqlite, postgres), or add ${method}() to yours (storage contract v1, optional methods).`,
    );
  }
  return (fn as (...args: unknown[]) => unknown).bind(driver) as NonNullable<StorageDriver[M]>;
}

/** The `prevHash` of a tenant's first audit entry: 64 zeros. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/** Marks the canonical form, so a future change of it cannot be mistaken for tampering with old entries. */
const AUDIT_FORMAT = 'duh-audit-v1';

/**
 * The part of an audit entry's hash input that does not depend on its place in the chain: a JSON array of the
 * format tag, tenant, id, at, actor, action, resource, outcome, reason, ip, userAgent and the details as
 * `[key, value]` pairs sorted by key. Pure; a driver that computes the hash in SQL sends this text and adds the
 * chain part itself (see {@link auditCanonicalString}).
 */
export function auditCanonicalBody(event: Omit<StoredAuditEvent, 'seq' | 'prevHash' | 'hash'>): string {
  const details = Object.keys(event.details)
    .sort()
    .map((key) => [key, event.details[key]]);
  return JSON.stringify([AUDIT_FORMAT, event.tenant, event.id, event.at, event.actor, event.action, event.resource, event.outcome, event.reason, event.ip, event.userAgent, details]);
}

/**
 * The exact text an audit entry's `hash` is the SHA-256 (over its UTF-8 bytes, as lowercase hex) of:
 * `prevHash`, a line feed, the decimal `seq`, a line feed, then {@link auditCanonicalBody}. Every driver and
 * the verifier hash this same text, so a chain written by one can be checked by any.
 */
export function auditCanonicalString(event: Omit<StoredAuditEvent, 'hash'>): string {
  return `${event.prevHash}\n${event.seq}\n${auditCanonicalBody(event)}`;
}

const isNullableString = (value: unknown) => value === undefined || value === null || typeof value === 'string';
/** Text every driver can store and read back unchanged (PostgreSQL refuses NUL; lone surrogates do not survive UTF-8). */
const storableText = (value: string) => !value.includes('\u0000') && value.isWellFormed();

/**
 * What is wrong with an audit entry, or undefined when every driver can store it and hash it identically:
 * `at` an ISO 8601 timestamp; `action`, `resource` non-empty; `outcome` one of {@link AUDIT_OUTCOMES};
 * `actor`, `reason`, `ip`, `userAgent` strings or null; `details` a plain object of strings, finite numbers,
 * booleans and nulls; no text with NUL characters or unpaired surrogates.
 */
export function auditEntryProblem(entry: AuditEntryInput): string | undefined {
  if (typeof entry !== 'object' || entry === null) return 'the entry must be an object';
  if (typeof entry.at !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(entry.at) || !Number.isFinite(Date.parse(entry.at))) return '`at` must be an ISO 8601 timestamp';
  for (const field of ['action', 'resource'] as const) if (typeof entry[field] !== 'string' || entry[field] === '') return `\`${field}\` must be a non-empty string`;
  if (!AUDIT_OUTCOMES.includes(entry.outcome)) return `\`outcome\` must be one of ${AUDIT_OUTCOMES.join(', ')}`;
  for (const field of ['actor', 'reason', 'ip', 'userAgent'] as const) if (!isNullableString(entry[field])) return `\`${field}\` must be a string or null`;
  if (entry.actor === undefined) return '`actor` must be a string or null';
  const texts: string[] = [entry.at, entry.action, entry.resource, entry.actor ?? '', entry.reason ?? '', entry.ip ?? '', entry.userAgent ?? ''];
  const { details } = entry;
  if (details !== undefined) {
    if (typeof details !== 'object' || details === null || Array.isArray(details) || (Object.getPrototypeOf(details) !== Object.prototype && Object.getPrototypeOf(details) !== null)) {
      return '`details` must be a plain object';
    }
    for (const [key, value] of Object.entries(details)) {
      if (!(value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))) {
        return `\`details.${key}\` must be a string, a finite number, a boolean or null`;
      }
      texts.push(key);
      if (typeof value === 'string') texts.push(value);
    }
  }
  if (!texts.every(storableText)) return 'text must not contain NUL characters or unpaired surrogates';
  return undefined;
}

/**
 * The stored form of a valid entry before the driver links it: optional fields as null, details copied with
 * sorted keys (a number `-0` becomes `0`, as JSON would store it).
 */
export function auditEventOf(tenant: string, id: string, entry: AuditEntryInput): Omit<StoredAuditEvent, 'seq' | 'prevHash' | 'hash'> {
  const details: Record<string, string | number | boolean | null> = {};
  for (const key of Object.keys(entry.details ?? {}).sort()) {
    const value = entry.details![key]!;
    details[key] = typeof value === 'number' && Object.is(value, -0) ? 0 : value;
  }
  return {
    tenant,
    id,
    at: entry.at,
    actor: entry.actor,
    action: entry.action,
    resource: entry.resource,
    outcome: entry.outcome,
    reason: entry.reason ?? null,
    ip: entry.ip ?? null,
    userAgent: entry.userAgent ?? null,
    details,
  };
}

let lastAuditMs = -1;
let auditCounter = 0;

/**
 * A UUIDv7 for an audit entry (time-ordered; a counter keeps ids made in the same millisecond in order), from
 * `globalThis.crypto`, so drivers need no import for it.
 */
export function auditEventId(now: number = Date.now()): string {
  let ms = Math.max(0, Math.floor(now));
  if (ms <= lastAuditMs) {
    ms = lastAuditMs;
    if (++auditCounter > 0xfff) {
      ms = ++lastAuditMs;
      auditCounter = 0;
    }
  } else {
    lastAuditMs = ms;
    auditCounter = Math.floor(Math.random() * 0x800);
  }
  const time = ms.toString(16).padStart(12, '0').slice(-12);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${auditCounter.toString(16).padStart(3, '0')}${globalThis.crypto.randomUUID().slice(18)}`;
}
