/**
 * SQLite storage on Node's built-in `node:sqlite`: runs kept in one file, with no extra dependency.
 *
 * - Every multi-table write (`createThread`, `appendPhase`, `appendTurn`, `deleteThread`, `importThreads`, …)
 *   is one `BEGIN IMMEDIATE … COMMIT` transaction, so a failed write leaves the file as it was.
 * - File databases run in WAL mode with `synchronous=NORMAL`, and wait (`busy_timeout`) when another
 *   connection or process is writing, instead of failing.
 * - Recall uses an FTS5 index with one row per text: a thread's question (written by `createThread`) and each
 *   committed decision (written with its round, never re-indexing the question). `search` matches every word
 *   somewhere in a thread's texts and ranks threads by their texts' `bm25()` (schema version 4).
 * - Cost reports are computed in SQL.
 * - The schema is versioned (`duh_migrations`); each migration runs once, even when two processes open the
 *   same new file at the same moment.
 * - Users, API keys, encrypted provider keys and the audit log live in their own tables (schema version 2).
 *   An audit append reads the tenant's chain head and inserts the next entry inside one `BEGIN IMMEDIATE`
 *   transaction, so appends from any number of connections and processes form one unbroken chain; triggers
 *   refuse `UPDATE` and `DELETE` on audit rows.
 * - Votes and subtasks have their own tables (schema version 3), deleted with their thread.
 *
 * `node:sqlite` is imported on first use, so importing this module costs nothing. It needs Node 22.13 or later;
 * on older Node, pass an open better-sqlite3 `Database` as `database`.
 *
 * @example
 * ```ts
 * import { Consensus } from 'duh';
 * import { sqliteStorage } from 'duh/storage/sqlite';
 * const duh = new Consensus({ models, storage: sqliteStorage({ path: './duh.db' }) });
 * ```
 *
 * @module
 */
import { InvalidOptionError, StorageError } from '../src/errors.js';
import {
  decisionColumns,
  type ApiKeyQuery,
  AUDIT_GENESIS_HASH,
  auditCanonicalString,
  auditEntryProblem,
  auditEventId,
  auditEventOf,
  type AuditEntryInput,
  type CostGroup,
  type CostQuery,
  type CostRow,
  type NewApiKey,
  type NewThread,
  type NewUser,
  OUTCOME_RESULTS,
  type OutcomeResult,
  firstTurnProblem,
  phaseOrderProblem,
  phaseShapeProblem,
  type ProviderKeyInfo,
  type ProviderKeyPutOptions,
  type ProviderKeyWrite,
  type RecallHit,
  type StorageDriver,
  type StorageScope,
  type StoredApiKey,
  type StoredAuditEvent,
  type StoredContribution,
  type StoredOutcome,
  type StoredProviderKey,
  type StoredSubtask,
  type StoredThread,
  type StoredVote,
  latestTimestamp,
  SUBTASK_STATUSES,
  subtaskPlanProblem,
  type SubtaskStatus,
  voteProblem,
  type StoredTurn,
  type StoredUser,
  THREAD_STATUSES,
  type ThreadPage,
  type ThreadQuery,
  type ThreadStatus,
  type UserPage,
  type UserQuery,
  type UserUpdate,
} from '../src/storage.js';

const DRIVER_NAME = 'sqlite';

/** A value SQLite can bind. Booleans and `undefined` are not among them (the driver converts its own). */
export type SqliteValue = string | number | bigint | null | Uint8Array;

/** The prepared-statement subset the driver uses: `node:sqlite`'s `StatementSync` and better-sqlite3's `Statement` both fit. */
export interface SqliteStatementLike {
  run(...params: SqliteValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqliteValue[]): unknown;
  all(...params: SqliteValue[]): unknown[];
}

/**
 * The database subset the driver uses: an open `node:sqlite` `DatabaseSync` or better-sqlite3 `Database`
 * fits. Typed structurally, so neither package is needed for the types.
 */
export interface SqliteDatabaseLike {
  prepare(sql: string): SqliteStatementLike;
  exec(sql: string): unknown;
  close(): unknown;
  /** `node:sqlite`: true inside an open transaction. */
  readonly isTransaction?: boolean;
  /** better-sqlite3: true inside an open transaction. */
  readonly inTransaction?: boolean;
}

/** Options for {@link sqliteStorage}. Pass `path` or `database`, not both. */
export interface SqliteStorageOptions {
  /**
   * The database file, created (with its folder) when missing. `':memory:'` gives a private in-memory database
   * that is gone when the driver closes. Relative paths start at the working directory.
   * @default './duh.db'
   */
  path?: string;
  /**
   * An open database to use instead of opening `path`: a `node:sqlite` `DatabaseSync` or a better-sqlite3
   * `Database`. The driver creates its tables in it, turns foreign keys on, and sets a busy timeout when it
   * has none; it leaves the journal mode as it is, and `close()` does not close it.
   */
  database?: SqliteDatabaseLike;
  /**
   * How long a write waits for another connection's write lock before failing, in milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The schema, one step per version. Never edit a released step: add a new one. Each runs once, inside a
 * `BEGIN IMMEDIATE` transaction that re-reads the version first.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'threads, turns, contributions, outcomes, recall index',
    sql: `
      CREATE TABLE threads (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        question TEXT NOT NULL,
        status TEXT NOT NULL,
        protocol TEXT NOT NULL,
        user_id TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        recall_rowid INTEGER NOT NULL UNIQUE,
        PRIMARY KEY (tenant, id)
      );
      CREATE INDEX threads_listing ON threads (tenant, created_at, id);
      CREATE INDEX threads_user ON threads (tenant, user_id, created_at);
      CREATE TABLE turns (
        tenant TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        round_number INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        decision TEXT,
        confidence REAL,
        rigor REAL,
        dissent TEXT,
        intent TEXT,
        category TEXT,
        genus TEXT,
        PRIMARY KEY (tenant, thread_id, round_number),
        FOREIGN KEY (tenant, thread_id) REFERENCES threads (tenant, id) ON DELETE CASCADE
      );
      CREATE INDEX turns_completed ON turns (tenant, completed_at);
      CREATE TABLE contributions (
        tenant TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        round_number INTEGER NOT NULL,
        position INTEGER NOT NULL,
        model_ref TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        latency_ms REAL NOT NULL,
        finish_reason TEXT NOT NULL,
        truncated INTEGER NOT NULL,
        framing TEXT,
        sycophantic INTEGER,
        provider_metadata TEXT,
        PRIMARY KEY (tenant, thread_id, round_number, position),
        FOREIGN KEY (tenant, thread_id, round_number) REFERENCES turns (tenant, thread_id, round_number) ON DELETE CASCADE
      );
      CREATE INDEX contributions_cost ON contributions (tenant, thread_id, round_number, model_ref, cost_usd, input_tokens, output_tokens);
      CREATE TABLE outcomes (
        tenant TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        result TEXT NOT NULL,
        notes TEXT,
        round_number INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, thread_id),
        FOREIGN KEY (tenant, thread_id) REFERENCES threads (tenant, id) ON DELETE CASCADE
      );
      CREATE VIRTUAL TABLE threads_recall USING fts5 (question, decisions, tokenize = 'unicode61 remove_diacritics 2');
    `,
  },
  {
    version: 2,
    name: 'users, api keys, provider keys, audit log',
    sql: `
      CREATE TABLE users (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        email TEXT NOT NULL,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        password_hash TEXT,
        active INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id),
        UNIQUE (tenant, email)
      );
      CREATE INDEX users_listing ON users (tenant, created_at, id);
      CREATE TABLE api_keys (
        id TEXT NOT NULL PRIMARY KEY,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT,
        last_used_at TEXT,
        FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id)
      );
      CREATE INDEX api_keys_listing ON api_keys (tenant, user_id, created_at);
      CREATE TABLE provider_keys (
        tenant TEXT NOT NULL,
        provider TEXT NOT NULL,
        ciphertext TEXT NOT NULL,
        iv TEXT NOT NULL,
        tag TEXT NOT NULL,
        key_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, provider)
      );
      CREATE TABLE audit_events (
        tenant TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT,
        action TEXT NOT NULL,
        resource TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        ip TEXT,
        user_agent TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (tenant, seq)
      );
      CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
      CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
    `,
  },
  {
    version: 3,
    name: 'votes, subtasks',
    // Both hang off their thread (deleted with it); `position` keeps the order written. A subtask's child thread
    // is a plain id, not a foreign key: deleting the child leaves the reference (the contract says so).
    sql: `
      CREATE TABLE votes (
        tenant TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        model_ref TEXT NOT NULL,
        content TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        latency_ms REAL NOT NULL,
        finish_reason TEXT NOT NULL,
        truncated INTEGER NOT NULL,
        provider_metadata TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, thread_id, position),
        FOREIGN KEY (tenant, thread_id) REFERENCES threads (tenant, id) ON DELETE CASCADE
      );
      CREATE INDEX votes_created ON votes (tenant, created_at);
      CREATE TABLE subtasks (
        tenant TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        label TEXT NOT NULL,
        description TEXT NOT NULL,
        dependencies TEXT NOT NULL,
        status TEXT NOT NULL,
        sequence_order INTEGER NOT NULL,
        child_thread_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, thread_id, position),
        UNIQUE (tenant, thread_id, label),
        FOREIGN KEY (tenant, thread_id) REFERENCES threads (tenant, id) ON DELETE CASCADE
      );
    `,
  },
  {
    version: 4,
    name: 'recall rows: one per question and per decision',
    // The recall index is derived data: rebuild it from threads and turns. Question rows keep their rowids
    // (threads.recall_rowid); each turn with a decision gets a row past them, numbered by the turn's rowid, and
    // remembers it (turns.recall_rowid) so deleting the thread can delete it.
    sql: `
      DROP TABLE threads_recall;
      CREATE VIRTUAL TABLE recall_texts USING fts5 (text, tenant UNINDEXED, thread_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
      ALTER TABLE turns ADD COLUMN recall_rowid INTEGER;
      INSERT INTO recall_texts (rowid, text, tenant, thread_id) SELECT recall_rowid, question, tenant, id FROM threads;
      UPDATE turns SET recall_rowid = (SELECT coalesce(max(recall_rowid), 0) FROM threads) + rowid WHERE decision IS NOT NULL;
      INSERT INTO recall_texts (rowid, text, tenant, thread_id) SELECT recall_rowid, decision, tenant, thread_id FROM turns WHERE decision IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: 'users: when their sessions were last ended',
    sql: `ALTER TABLE users ADD COLUMN sessions_ended_at TEXT;`,
  },
];

/** The schema version this driver writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

interface Connection {
  db: SqliteDatabaseLike;
  /** Whether the driver opened it (and so closes it). */
  owned: boolean;
  statements: Map<string, SqliteStatementLike>;
}

interface ThreadRow {
  id: string;
  question: string;
  protocol: string;
  user_id: string | null;
  created_at: string;
  tenant: string;
  status: string;
  updated_at: string;
  error: string | null;
}
interface TurnRow {
  round_number: number | bigint;
  state: string;
  created_at: string;
  completed_at: string;
  decision: string | null;
  confidence: number | null;
  rigor: number | null;
  dissent: string | null;
  intent: string | null;
  category: string | null;
  genus: string | null;
}
interface ContributionRow {
  round_number: number | bigint;
  model_ref: string;
  role: string;
  content: string;
  input_tokens: number | bigint;
  output_tokens: number | bigint;
  cost_usd: number;
  latency_ms: number;
  finish_reason: string;
  truncated: number | bigint;
  framing: string | null;
  sycophantic: number | bigint | null;
  provider_metadata: string | null;
}
interface OutcomeRow {
  result: string;
  notes: string | null;
  round_number: number | bigint;
  created_at: string;
  updated_at: string;
}
interface VoteRow {
  model_ref: string;
  content: string;
  input_tokens: number | bigint;
  output_tokens: number | bigint;
  cost_usd: number;
  latency_ms: number;
  finish_reason: string;
  truncated: number | bigint;
  provider_metadata: string | null;
  created_at: string;
}
interface SubtaskRow {
  label: string;
  description: string;
  dependencies: string;
  status: string;
  sequence_order: number | bigint;
  child_thread_id: string | null;
  created_at: string;
  updated_at: string;
}
interface HitRow {
  id: string;
  question: string;
  status: string;
  created_at: string;
  decision: string | null;
  confidence: number | null;
  rigor: number | null;
  rank: number;
}

interface UserRow {
  tenant: string;
  id: string;
  email: string;
  display_name: string;
  role: string;
  password_hash: string | null;
  active: number | bigint;
  created_at: string;
  updated_at: string;
  sessions_ended_at: string | null;
}
interface ApiKeyRow {
  id: string;
  tenant: string;
  user_id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}
interface ProviderKeyRow {
  tenant: string;
  provider: string;
  ciphertext: string;
  iv: string;
  tag: string;
  key_id: string;
  created_at: string;
  updated_at: string;
}
interface AuditRow {
  tenant: string;
  seq: number | bigint;
  id: string;
  at: string;
  actor: string | null;
  action: string;
  resource: string;
  outcome: string;
  reason: string | null;
  ip: string | null;
  user_agent: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

const USER_COLUMNS = 'tenant, id, email, display_name, role, password_hash, active, created_at, updated_at, sessions_ended_at';
const API_KEY_COLUMNS = 'id, tenant, user_id, name, secret_hash, scopes, created_at, expires_at, revoked_at, last_used_at';
const AUDIT_COLUMNS = 'tenant, seq, id, at, actor, action, resource, outcome, reason, ip, user_agent, details, prev_hash, hash';

const toUser = (row: UserRow): StoredUser => ({
  id: row.id,
  email: row.email,
  displayName: row.display_name,
  role: row.role,
  passwordHash: row.password_hash,
  active: Number(row.active) !== 0,
  createdAt: row.created_at,
  tenant: row.tenant,
  updatedAt: row.updated_at,
  ...(row.sessions_ended_at !== null ? { sessionsEndedAt: row.sessions_ended_at } : {}),
});
const toApiKey = (row: ApiKeyRow): StoredApiKey => ({
  id: row.id,
  userId: row.user_id,
  name: row.name,
  secretHash: row.secret_hash,
  scopes: JSON.parse(row.scopes) as string[],
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  tenant: row.tenant,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});
const toVote = (row: VoteRow): StoredVote => ({
  model: row.model_ref as StoredVote['model'],
  content: row.content,
  inputTokens: num(row.input_tokens),
  outputTokens: num(row.output_tokens),
  costUsd: row.cost_usd,
  latencyMs: row.latency_ms,
  finishReason: row.finish_reason as StoredVote['finishReason'],
  truncated: num(row.truncated) !== 0,
  ...(row.provider_metadata === null ? {} : { providerMetadata: JSON.parse(row.provider_metadata) as Record<string, unknown> }),
  createdAt: row.created_at,
});
const toSubtask = (row: SubtaskRow): StoredSubtask => ({
  label: row.label,
  description: row.description,
  dependencies: JSON.parse(row.dependencies) as string[],
  status: row.status as SubtaskStatus,
  sequenceOrder: num(row.sequence_order),
  childThreadId: row.child_thread_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});
const toAuditEvent = (row: AuditRow): StoredAuditEvent => ({
  tenant: row.tenant,
  seq: Number(row.seq),
  id: row.id,
  at: row.at,
  actor: row.actor,
  action: row.action,
  resource: row.resource,
  outcome: row.outcome as StoredAuditEvent['outcome'],
  reason: row.reason,
  ip: row.ip,
  userAgent: row.user_agent,
  details: JSON.parse(row.details) as StoredAuditEvent['details'],
  prevHash: row.prev_hash,
  hash: row.hash,
});

let sha256Hex: ((text: string) => string) | undefined;
/** Hex SHA-256 of a text's UTF-8 bytes, with `node:crypto` (loaded on the first audit append). */
async function loadSha256(): Promise<(text: string) => string> {
  if (!sha256Hex) {
    const { createHash } = await import('node:crypto');
    sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');
  }
  return sha256Hex;
}

const num = (value: number | bigint): number => (typeof value === 'bigint' ? Number(value) : value);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const isBusy = (error: unknown) => {
  const { code, errcode } = (error ?? {}) as { code?: unknown; errcode?: unknown };
  return errcode === 5 || errcode === 6 || code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || /database is locked|database table is locked/i.test(messageOf(error));
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Escape GLOB's wildcards so a user prefix matches literally (GLOB is case-sensitive and can use the index). */
const globPrefix = (prefix: string) => `${prefix.replace(/[*?[]/g, (char) => `[${char}]`)}*`;

/**
 * Turn a free-text query into an FTS5 MATCH expression that cannot carry FTS syntax: every run of letters and
 * digits becomes a quoted prefix term (`"shard"* "tenant"*`, all required). Undefined when the query has no
 * such run (then the driver falls back to a substring match).
 */
export function recallMatchExpression(query: string): string | undefined {
  return recallMatchTerms(query)?.join(' ');
}

/** The terms of {@link recallMatchExpression} one by one (`['"shard"*', '"tenant"*']`); undefined likewise. */
export function recallMatchTerms(query: string): string[] | undefined {
  const terms = query.match(/[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu);
  if (!terms) return undefined;
  // Only letters, digits and marks reach the quotes, so no `"` needs doubling; the `*` is ours.
  return terms.map((term) => `"${term}"*`);
}

/** The provider part of a model ref in SQL: exactly `parseModelRef(ref)?.provider ?? ref`. */
const PROVIDER_SQL =
  "CASE WHEN instr(c.model_ref, ':') > 1 AND instr(c.model_ref, ':') < length(c.model_ref) THEN substr(c.model_ref, 1, instr(c.model_ref, ':') - 1) ELSE c.model_ref END";

/** The group key of a cost row over a call `c` (a contribution or a vote) made at `at`: exactly costRowsOf's key. */
const COST_KEY_SQL: Record<CostGroup, (at: string) => string> = {
  model: () => 'c.model_ref',
  provider: () => PROVIDER_SQL,
  user: () => "coalesce(t.user_id, 'anonymous')",
  day: (at) => `substr(${at}, 1, 10)`,
  tenant: () => 'c.tenant',
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isString = (value: unknown): value is string => typeof value === 'string';
const isOptionalString = (value: unknown) => value === undefined || value === null || typeof value === 'string';

/** What is wrong with a backup thread, or undefined when it can be written. */
function problemOf(thread: unknown): string | undefined {
  if (!isObject(thread)) return 'it is not an object';
  for (const field of ['id', 'tenant'] as const) if (!isString(thread[field]) || thread[field] === '') return `\`${field}\` must be a non-empty string`;
  for (const field of ['question', 'protocol', 'createdAt', 'updatedAt'] as const) if (!isString(thread[field])) return `\`${field}\` must be a string`;
  if (!THREAD_STATUSES.includes(thread['status'] as ThreadStatus)) return `\`status\` must be one of ${THREAD_STATUSES.join(', ')}`;
  if (!isOptionalString(thread['userId'])) return '`userId` must be a string or null';
  if (!isOptionalString(thread['error'])) return '`error` must be a string or null';
  if (!Array.isArray(thread['turns'])) return '`turns` must be an array';
  const rounds = new Set<number>();
  for (const [t, turn] of (thread['turns'] as unknown[]).entries()) {
    const at = `turns[${t}]`;
    if (!isObject(turn)) return `${at} must be an object`;
    const round = turn['roundNumber'];
    if (typeof round !== 'number' || !Number.isSafeInteger(round)) return `${at}.roundNumber must be an integer`;
    if (rounds.has(round)) return `round ${round} appears twice`;
    rounds.add(round);
    for (const field of ['state', 'createdAt', 'completedAt'] as const) if (!isString(turn[field])) return `${at}.${field} must be a string`;
    if (!Array.isArray(turn['contributions'])) return `${at}.contributions must be an array`;
    for (const [c, contribution] of (turn['contributions'] as unknown[]).entries()) {
      const cat = `${at}.contributions[${c}]`;
      if (!isObject(contribution)) return `${cat} must be an object`;
      for (const field of ['model', 'role', 'content', 'finishReason'] as const) if (!isString(contribution[field])) return `${cat}.${field} must be a string`;
      for (const field of ['inputTokens', 'outputTokens', 'costUsd', 'latencyMs'] as const) {
        if (!isFiniteNumber(contribution[field])) return `${cat}.${field} must be a finite number`;
      }
      if (typeof contribution['truncated'] !== 'boolean') return `${cat}.truncated must be a boolean`;
      if (contribution['framing'] !== undefined && !isString(contribution['framing'])) return `${cat}.framing must be a string`;
      if (contribution['sycophantic'] !== undefined && typeof contribution['sycophantic'] !== 'boolean') return `${cat}.sycophantic must be a boolean`;
      if (contribution['providerMetadata'] !== undefined && !isObject(contribution['providerMetadata'])) return `${cat}.providerMetadata must be an object`;
    }
    const decision = turn['decision'];
    if (decision !== null && decision !== undefined) {
      if (!isObject(decision) || !isString(decision['content'])) return `${at}.decision.content must be a string`;
      if (!isFiniteNumber(decision['confidence']) || !isFiniteNumber(decision['rigor'])) return `${at}.decision.confidence and rigor must be finite numbers`;
      if (!isOptionalString(decision['dissent'])) return `${at}.decision.dissent must be a string or null`;
      const taxonomy = decision['taxonomy'];
      if (taxonomy !== null && taxonomy !== undefined && (!isObject(taxonomy) || !isString(taxonomy['intent']) || !isString(taxonomy['category']) || !isString(taxonomy['genus']))) {
        return `${at}.decision.taxonomy must be { intent, category, genus } strings or null`;
      }
    }
  }
  const outcome = thread['outcome'];
  if (outcome !== null && outcome !== undefined) {
    if (!isObject(outcome) || !OUTCOME_RESULTS.includes(outcome['result'] as OutcomeResult)) return `\`outcome.result\` must be one of ${OUTCOME_RESULTS.join(', ')}`;
    if (!isOptionalString(outcome['notes'])) return '`outcome.notes` must be a string or null';
    if (typeof outcome['roundNumber'] !== 'number' || !Number.isSafeInteger(outcome['roundNumber'])) return '`outcome.roundNumber` must be an integer';
    if (!isString(outcome['createdAt']) || !isString(outcome['updatedAt'])) return '`outcome.createdAt` and `updatedAt` must be strings';
  }
  // Votes and subtasks: absent (a backup older than them) means none.
  for (const field of ['votes', 'subtasks'] as const) if (thread[field] !== undefined && !Array.isArray(thread[field])) return `\`${field}\` must be an array`;
  for (const vote of (thread['votes'] as unknown[] | undefined) ?? []) {
    const problem = voteProblem(vote);
    if (problem) return problem;
  }
  return subtaskPlanProblem([], (thread['subtasks'] as unknown[] | undefined) ?? []);
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => SqliteDatabaseLike;
}

async function loadNodeSqlite(): Promise<NodeSqliteModule> {
  try {
    const module = (await import('node:sqlite')) as unknown as NodeSqliteModule;
    if (typeof module.DatabaseSync !== 'function') throw new Error('node:sqlite has no DatabaseSync');
    return module;
  } catch (error) {
    const version = typeof process === 'undefined' ? 'this runtime' : `Node ${process.version}`;
    throw new StorageError(
      DRIVER_NAME,
      `sqliteStorage() needs the built-in \`node:sqlite\` module, which ${version} does not provide without a flag. ` +
        'Use Node 22.13 or later, or pass an open better-sqlite3 Database as the `database` option.',
      { cause: error },
    );
  }
}

/**
 * Create a SQLite storage driver. Nothing is opened until the first call; then the file is opened (or
 * created), configured and migrated.
 *
 * @throws {InvalidOptionError} for a bad option (at once, not on first use)
 */
export function sqliteStorage(options: SqliteStorageOptions = {}): StorageDriver {
  if (!isObject(options as unknown)) throw new InvalidOptionError('options', options, 'sqliteStorage() takes an options object: `{ path }` or `{ database }`.');
  const { path, database, busyTimeoutMs = 5000 } = options;
  if (path !== undefined && database !== undefined) {
    throw new InvalidOptionError('database', database, 'Pass either `path` or `database` to sqliteStorage(), not both.');
  }
  if (path !== undefined && (typeof path !== 'string' || path === '')) {
    throw new InvalidOptionError('path', path, `The \`path\` option must be a non-empty file path or ':memory:', received ${JSON.stringify(path)}.`);
  }
  if (database !== undefined && (typeof database !== 'object' || database === null || typeof database.prepare !== 'function' || typeof database.exec !== 'function')) {
    throw new InvalidOptionError('database', database, 'The `database` option must be an open node:sqlite DatabaseSync or better-sqlite3 Database (with prepare() and exec()).');
  }
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new InvalidOptionError('busyTimeoutMs', busyTimeoutMs, `The \`busyTimeoutMs\` option must be a non-negative integer, received ${String(busyTimeoutMs)}.`);
  }
  const file = path ?? './duh.db';
  const where = database ? 'the database passed in' : `\`${file}\``;

  let opening: Promise<Connection> | undefined;
  let closed = false;

  const fail = (what: string, error: unknown, wrote: boolean): StorageError => {
    if (StorageError.isInstance(error)) return error;
    const hint = isBusy(error)
      ? ` Another connection held the write lock for more than ${busyTimeoutMs} ms; retry, or raise \`busyTimeoutMs\`.`
      : '';
    return new StorageError(DRIVER_NAME, `Could not ${what} in ${where}: ${messageOf(error)}.${hint}${wrote ? ' Nothing was written.' : ''}`, { cause: error });
  };

  const statement = (conn: Connection, sql: string): SqliteStatementLike => {
    let prepared = conn.statements.get(sql);
    if (!prepared) conn.statements.set(sql, (prepared = conn.db.prepare(sql)));
    return prepared;
  };
  const run = (conn: Connection, sql: string, ...params: SqliteValue[]) => statement(conn, sql).run(...params);
  const get = <T>(conn: Connection, sql: string, ...params: SqliteValue[]) => statement(conn, sql).get(...params) as T | undefined;
  const all = <T>(conn: Connection, sql: string, ...params: SqliteValue[]) => statement(conn, sql).all(...params) as T[];
  const inTransaction = (db: SqliteDatabaseLike) => db.isTransaction ?? db.inTransaction ?? false;

  /**
   * Run `body` in a write transaction (`BEGIN IMMEDIATE`: the write lock is taken up front, so the busy
   * timeout applies and no read-to-write upgrade can fail later). Inside a transaction the caller already opened
   * on a passed-in database, a savepoint gives the same all-or-nothing.
   */
  const write = <T>(conn: Connection, body: () => T): T => {
    const nested = inTransaction(conn.db);
    conn.db.exec(nested ? 'SAVEPOINT duh_write' : 'BEGIN IMMEDIATE');
    try {
      const result = body();
      conn.db.exec(nested ? 'RELEASE duh_write' : 'COMMIT');
      return result;
    } catch (error) {
      try {
        conn.db.exec(nested ? 'ROLLBACK TO duh_write; RELEASE duh_write' : 'ROLLBACK');
      } catch {
        // Already rolled back by SQLite (some errors end the transaction themselves).
      }
      throw error;
    }
  };
  /** Several reads that must agree with each other (one snapshot). */
  const read = <T>(conn: Connection, body: () => T): T => {
    if (inTransaction(conn.db)) return body();
    conn.db.exec('BEGIN');
    try {
      return body();
    } finally {
      conn.db.exec('COMMIT');
    }
  };

  const currentVersion = (db: SqliteDatabaseLike): number => {
    const table = db.prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'duh_migrations'").get();
    if (!table) return 0;
    const row = db.prepare('SELECT max(version) AS version FROM duh_migrations').get() as { version: number | bigint | null } | undefined;
    return row?.version == null ? 0 : num(row.version);
  };

  const migrate = (conn: Connection) => {
    const newer = (version: number) =>
      new StorageError(
        DRIVER_NAME,
        `${where} has schema version ${version}, written by a newer duh; this one knows versions up to ${SQLITE_SCHEMA_VERSION}. Upgrade duh to use it.`,
      );
    const seen = currentVersion(conn.db);
    if (seen > SQLITE_SCHEMA_VERSION) throw newer(seen);
    for (const migration of MIGRATIONS) {
      if (migration.version <= seen) continue;
      write(conn, () => {
        conn.db.exec('CREATE TABLE IF NOT EXISTS duh_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
        // Re-read under the write lock: another connection may have migrated since the check above.
        const version = currentVersion(conn.db);
        if (version > SQLITE_SCHEMA_VERSION) throw newer(version);
        if (version >= migration.version) return;
        conn.db.exec(migration.sql);
        conn.db.prepare('INSERT INTO duh_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, new Date().toISOString());
      });
    }
  };

  const configure = async (conn: Connection, memory: boolean) => {
    const { db } = conn;
    if (conn.owned) db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    else {
      const row = db.prepare('PRAGMA busy_timeout').get() as Record<string, unknown> | undefined;
      if (Object.values(row ?? {})[0] === 0) db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    }
    db.exec('PRAGMA foreign_keys = ON');
    if (!conn.owned || memory) return;
    // Switching to WAL takes an exclusive lock without consulting the busy handler, so two processes opening a
    // new file together can see SQLITE_BUSY here: retry until the busy timeout is spent.
    const deadline = Date.now() + busyTimeoutMs;
    for (;;) {
      try {
        db.exec('PRAGMA journal_mode = WAL');
        break;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
        await sleep(5 + Math.random() * 20);
      }
    }
    db.exec('PRAGMA synchronous = NORMAL');
  };

  const open = async (): Promise<Connection> => {
    let conn: Connection;
    if (database) conn = { db: database, owned: false, statements: new Map() };
    else {
      const { DatabaseSync } = await loadNodeSqlite();
      const memory = file === ':memory:';
      if (!memory) {
        const [{ mkdirSync }, { dirname }] = await Promise.all([import('node:fs'), import('node:path')]);
        try {
          mkdirSync(dirname(file), { recursive: true });
        } catch (error) {
          throw new StorageError(DRIVER_NAME, `Could not create the folder of \`${file}\`: ${messageOf(error)}. Check the path and its permissions.`, { cause: error });
        }
      }
      try {
        conn = { db: new DatabaseSync(file), owned: true, statements: new Map() };
      } catch (error) {
        throw new StorageError(DRIVER_NAME, `Could not open \`${file}\`: ${messageOf(error)}. Check that the path is a writable file (or ':memory:').`, { cause: error });
      }
    }
    try {
      await configure(conn, file === ':memory:' && !database);
      migrate(conn);
    } catch (error) {
      if (conn.owned) conn.db.close();
      if (StorageError.isInstance(error)) throw error;
      const fts = /no such module: fts5/i.test(messageOf(error)) ? ' This SQLite build lacks FTS5, which the driver needs for recall.' : '';
      throw new StorageError(DRIVER_NAME, `Could not prepare ${where}: ${messageOf(error)}.${fts}${isBusy(error) ? ' Another process kept it locked; retry, or raise `busyTimeoutMs`.' : ''}`, { cause: error });
    }
    return conn;
  };

  const connect = (): Promise<Connection> => {
    if (closed) return Promise.reject(new StorageError(DRIVER_NAME, 'This storage was closed; create a new sqliteStorage() to use the database again.'));
    opening ??= open().catch((error: unknown) => {
      opening = undefined; // let a later call try again (e.g. after a lock was released)
      throw error;
    });
    return opening;
  };

  /** Open if needed, then run one synchronous unit of work; every failure is a StorageError. */
  const use = async <T>(what: string, wrote: boolean, body: (conn: Connection) => T): Promise<T> => {
    const conn = await connect();
    if (closed) throw new StorageError(DRIVER_NAME, 'This storage was closed; create a new sqliteStorage() to use the database again.');
    try {
      return body(conn);
    } catch (error) {
      throw fail(what, error, wrote);
    }
  };

  /** Resolves on the next macrotask (after the caller's synchronous code and microtasks have run). */
  const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

  const missing = (id: string) => new StorageError(DRIVER_NAME, `Thread \`${id}\` does not exist; create it with createThread() first.`);

  /** Index one text of a thread (its question, or one decision) for recall; the new row's rowid. */
  const insertRecall = (conn: Connection, tenant: string, threadId: string, text: string) =>
    run(conn, 'INSERT INTO recall_texts (text, tenant, thread_id) VALUES (?, ?, ?)', text, tenant, threadId).lastInsertRowid;

  /** Insert a turn, its contributions and (when it has a decision) the decision's recall row. */
  const insertTurn = (conn: Connection, tenant: string, threadId: string, turn: StoredTurn) => {
    const { decision } = turn;
    run(
      conn,
      `INSERT INTO turns (tenant, thread_id, round_number, state, created_at, completed_at, decision, confidence, rigor, dissent, intent, category, genus, recall_rowid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      tenant,
      threadId,
      turn.roundNumber,
      turn.state,
      turn.createdAt,
      turn.completedAt,
      ...decisionColumns(decision),
      decision ? insertRecall(conn, tenant, threadId, decision.content) : null,
    );
    insertContributions(conn, tenant, threadId, turn.roundNumber, turn.contributions, 0);
  };

  /** Insert contributions of a round at positions `first`, `first + 1`, … (after the ones an earlier phase stored). */
  const insertContributions = (conn: Connection, tenant: string, threadId: string, round: number, contributions: readonly StoredContribution[], first: number) => {
    for (const [index, contribution] of contributions.entries()) {
      run(
        conn,
        `INSERT INTO contributions (tenant, thread_id, round_number, position, model_ref, role, content, input_tokens, output_tokens, cost_usd,
           latency_ms, finish_reason, truncated, framing, sycophantic, provider_metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        tenant,
        threadId,
        round,
        first + index,
        contribution.model,
        contribution.role,
        contribution.content,
        contribution.inputTokens,
        contribution.outputTokens,
        contribution.costUsd,
        contribution.latencyMs,
        contribution.finishReason,
        contribution.truncated ? 1 : 0,
        contribution.framing ?? null,
        contribution.sycophantic === undefined ? null : contribution.sycophantic ? 1 : 0,
        contribution.providerMetadata === undefined ? null : JSON.stringify(contribution.providerMetadata),
      );
    }
  };

  /** Insert a thread row and its question's recall row (its turns add their decisions' rows). */
  const insertThread = (conn: Connection, tenant: string, thread: NewThread, status: ThreadStatus, error: string | null, updatedAt: string) => {
    const recall = insertRecall(conn, tenant, thread.id, thread.question);
    run(
      conn,
      `INSERT INTO threads (tenant, id, question, status, protocol, user_id, error, created_at, updated_at, recall_rowid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      tenant,
      thread.id,
      thread.question,
      status,
      thread.protocol,
      thread.userId ?? null,
      error,
      thread.createdAt,
      updatedAt,
      recall,
    );
  };

  /** A run's new thread (status `active`, last updated at `updatedAt`); a duplicate id is a StorageError. */
  const insertNewThread = (conn: Connection, tenant: string, thread: NewThread, updatedAt: string) => {
    if (get(conn, 'SELECT 1 AS found FROM threads WHERE tenant = ? AND id = ?', tenant, thread.id)) {
      throw new StorageError(DRIVER_NAME, `Thread \`${thread.id}\` already exists; thread ids must be unique.`);
    }
    insertThread(conn, tenant, thread, 'active', null, updatedAt);
  };

  const removeThread = (conn: Connection, tenant: string, id: string): boolean => {
    const row = get<{ recall_rowid: number | bigint }>(conn, 'SELECT recall_rowid FROM threads WHERE tenant = ? AND id = ?', tenant, id);
    if (!row) return false;
    run(conn, 'DELETE FROM recall_texts WHERE rowid = ?', row.recall_rowid);
    run(conn, 'DELETE FROM recall_texts WHERE rowid IN (SELECT recall_rowid FROM turns WHERE tenant = ? AND thread_id = ? AND recall_rowid IS NOT NULL)', tenant, id);
    // ON DELETE CASCADE would do this, but only where foreign keys are on; a passed-in connection inside its own
    // transaction cannot have them switched on, so delete the children explicitly.
    for (const table of ['contributions', 'turns', 'outcomes', 'votes', 'subtasks']) run(conn, `DELETE FROM ${table} WHERE tenant = ? AND thread_id = ?`, tenant, id);
    run(conn, 'DELETE FROM threads WHERE tenant = ? AND id = ?', tenant, id);
    return true;
  };

  /** Append votes after the thread's stored ones (inside the caller's write). */
  const insertVotes = (conn: Connection, tenant: string, threadId: string, votes: readonly StoredVote[]) => {
    const next = num(get<{ next: number | bigint }>(conn, 'SELECT coalesce(max(position) + 1, 0) AS next FROM votes WHERE tenant = ? AND thread_id = ?', tenant, threadId)!.next);
    for (const [index, vote] of votes.entries()) {
      run(
        conn,
        `INSERT INTO votes (tenant, thread_id, position, model_ref, content, input_tokens, output_tokens, cost_usd, latency_ms, finish_reason, truncated,
           provider_metadata, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        tenant,
        threadId,
        next + index,
        vote.model,
        vote.content,
        vote.inputTokens,
        vote.outputTokens,
        vote.costUsd,
        vote.latencyMs,
        vote.finishReason,
        vote.truncated ? 1 : 0,
        vote.providerMetadata === undefined ? null : JSON.stringify(vote.providerMetadata),
        vote.createdAt,
      );
    }
  };

  /** Append subtasks after the thread's stored ones (inside the caller's write; checked by the caller). */
  const insertSubtasks = (conn: Connection, tenant: string, threadId: string, subtasks: readonly StoredSubtask[]) => {
    const next = num(get<{ next: number | bigint }>(conn, 'SELECT coalesce(max(position) + 1, 0) AS next FROM subtasks WHERE tenant = ? AND thread_id = ?', tenant, threadId)!.next);
    for (const [index, subtask] of subtasks.entries()) {
      run(
        conn,
        `INSERT INTO subtasks (tenant, thread_id, position, label, description, dependencies, status, sequence_order, child_thread_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        tenant,
        threadId,
        next + index,
        subtask.label,
        subtask.description,
        JSON.stringify(subtask.dependencies),
        subtask.status,
        subtask.sequenceOrder,
        subtask.childThreadId ?? null,
        subtask.createdAt,
        subtask.updatedAt,
      );
    }
  };

  const SUBTASK_COLUMNS = 'label, description, dependencies, status, sequence_order, child_thread_id, created_at, updated_at';
  const readSubtasks = (conn: Connection, tenant: string, threadId: string): StoredSubtask[] =>
    all<SubtaskRow>(conn, `SELECT ${SUBTASK_COLUMNS} FROM subtasks WHERE tenant = ? AND thread_id = ? ORDER BY sequence_order, position`, tenant, threadId).map(toSubtask);

  /** Why a subtask of `parentId` cannot point at `child` (another thread of the tenant, or null), or undefined. */
  const childProblem = (conn: Connection, tenant: string, parentId: string, child: string | null | undefined): string | undefined => {
    if (child === null || child === undefined) return undefined;
    if (typeof child !== 'string' || child === '') return 'needs a thread id or null as `childThreadId`';
    if (child === parentId) return 'cannot have its own parent thread as `childThreadId`';
    return get(conn, 'SELECT 1 AS found FROM threads WHERE tenant = ? AND id = ?', tenant, child) ? undefined : `names \`${child}\` as \`childThreadId\`, which is not a thread of this tenant`;
  };

  const readThread = (conn: Connection, tenant: string, id: string): StoredThread | null => {
    const row = get<ThreadRow>(
      conn,
      'SELECT id, question, protocol, user_id, created_at, tenant, status, updated_at, error FROM threads WHERE tenant = ? AND id = ?',
      tenant,
      id,
    );
    if (!row) return null;
    const turnRows = all<TurnRow>(
      conn,
      `SELECT round_number, state, created_at, completed_at, decision, confidence, rigor, dissent, intent, category, genus
       FROM turns WHERE tenant = ? AND thread_id = ? ORDER BY round_number`,
      tenant,
      id,
    );
    const contributionRows = all<ContributionRow>(
      conn,
      `SELECT round_number, model_ref, role, content, input_tokens, output_tokens, cost_usd, latency_ms, finish_reason, truncated, framing,
         sycophantic, provider_metadata
       FROM contributions WHERE tenant = ? AND thread_id = ? ORDER BY round_number, position`,
      tenant,
      id,
    );
    const outcomeRow = get<OutcomeRow>(conn, 'SELECT result, notes, round_number, created_at, updated_at FROM outcomes WHERE tenant = ? AND thread_id = ?', tenant, id);
    const byRound = new Map<number, StoredContribution[]>();
    for (const c of contributionRows) {
      const round = num(c.round_number);
      let list = byRound.get(round);
      if (!list) byRound.set(round, (list = []));
      list.push({
        model: c.model_ref as StoredContribution['model'],
        role: c.role as StoredContribution['role'],
        content: c.content,
        inputTokens: num(c.input_tokens),
        outputTokens: num(c.output_tokens),
        costUsd: c.cost_usd,
        latencyMs: c.latency_ms,
        finishReason: c.finish_reason as StoredContribution['finishReason'],
        truncated: num(c.truncated) !== 0,
        ...(c.framing === null ? {} : { framing: c.framing as NonNullable<StoredContribution['framing']> }),
        ...(c.sycophantic === null ? {} : { sycophantic: num(c.sycophantic) !== 0 }),
        ...(c.provider_metadata === null ? {} : { providerMetadata: JSON.parse(c.provider_metadata) as Record<string, unknown> }),
      });
    }
    const turns: StoredTurn[] = turnRows.map((t) => ({
      roundNumber: num(t.round_number),
      state: t.state as StoredTurn['state'],
      contributions: byRound.get(num(t.round_number)) ?? [],
      decision:
        t.decision === null
          ? null
          : {
              content: t.decision,
              confidence: t.confidence ?? 0,
              rigor: t.rigor ?? 0,
              dissent: t.dissent,
              taxonomy: t.intent === null ? null : { intent: t.intent, category: t.category ?? '', genus: t.genus ?? '' },
            },
      createdAt: t.created_at,
      completedAt: t.completed_at,
    }));
    const outcome: StoredOutcome | null = outcomeRow
      ? {
          result: outcomeRow.result as OutcomeResult,
          notes: outcomeRow.notes,
          roundNumber: num(outcomeRow.round_number),
          createdAt: outcomeRow.created_at,
          updatedAt: outcomeRow.updated_at,
        }
      : null;
    return {
      id: row.id,
      question: row.question,
      protocol: row.protocol as StoredThread['protocol'],
      userId: row.user_id,
      createdAt: row.created_at,
      tenant: row.tenant,
      status: row.status as ThreadStatus,
      updatedAt: row.updated_at,
      error: row.error,
      turns,
      outcome,
      votes: all<VoteRow>(
        conn,
        `SELECT model_ref, content, input_tokens, output_tokens, cost_usd, latency_ms, finish_reason, truncated, provider_metadata, created_at
         FROM votes WHERE tenant = ? AND thread_id = ? ORDER BY position`,
        tenant,
        id,
      ).map(toVote),
      subtasks: readSubtasks(conn, tenant, id),
    };
  };

  const toHit = (row: HitRow, ranked: boolean): RecallHit => ({
    threadId: row.id,
    question: row.question,
    status: row.status as ThreadStatus,
    createdAt: row.created_at,
    decision: row.decision,
    confidence: row.decision === null ? null : row.confidence,
    rigor: row.decision === null ? null : row.rigor,
    // bm25() is lower-is-better and never positive in FTS5; flip it so higher is better.
    score: ranked ? 0 - row.rank : 0,
  });

  const HIT_COLUMNS = `t.id, t.question, t.status, t.created_at, u.decision, u.confidence, u.rigor`;
  const LATEST_DECISION_JOIN = `LEFT JOIN turns u ON u.tenant = t.tenant AND u.thread_id = t.id AND u.round_number =
    (SELECT max(x.round_number) FROM turns x WHERE x.tenant = t.tenant AND x.thread_id = t.id AND x.decision IS NOT NULL)`;

  return {
    specificationVersion: 'v1',
    name: DRIVER_NAME,

    createThread: (scope: StorageScope, thread: NewThread) =>
      use('create thread `' + String(thread?.id) + '`', true, (conn) =>
        write(conn, () => insertNewThread(conn, scope.tenant, thread, thread.createdAt)),
      ),

    startThread: (scope: StorageScope, thread: NewThread, first: StoredTurn) => {
      const problem = firstTurnProblem(first);
      if (problem) return Promise.reject(new StorageError(DRIVER_NAME, `Thread \`${String(thread?.id)}\` cannot start with that round: ${problem}. Nothing was written.`));
      // Handed over like a phase (see appendPhase): the write waits for the next macrotask, overlapping the
      // engine's next model call.
      return nextMacrotask().then(() =>
        use('create thread `' + String(thread?.id) + '` with its first round', true, (conn) =>
          write(conn, () => {
            insertNewThread(conn, scope.tenant, thread, first.completedAt);
            insertTurn(conn, scope.tenant, thread.id, first); // with the decision's recall row, when committed
          }),
        ),
      );
    },

    appendTurn: (scope, threadId, turn) =>
      use(`save round ${String(turn?.roundNumber)} of thread \`${threadId}\``, true, (conn) =>
        write(conn, () => {
          const thread = get<{ taken: number | bigint }>(
            conn,
            `SELECT EXISTS (SELECT 1 FROM turns u WHERE u.tenant = t.tenant AND u.thread_id = t.id AND u.round_number = ?) AS taken
             FROM threads t WHERE t.tenant = ? AND t.id = ?`,
            turn.roundNumber,
            scope.tenant,
            threadId,
          );
          if (!thread) throw missing(threadId);
          if (num(thread.taken) !== 0) {
            throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` already has round ${turn.roundNumber}; rounds are written once.`);
          }
          insertTurn(conn, scope.tenant, threadId, turn); // with the decision's recall row
          run(conn, 'UPDATE threads SET updated_at = ? WHERE tenant = ? AND id = ?', turn.completedAt, scope.tenant, threadId);
        }),
      ),

    appendPhase: (scope, threadId, phase) => {
      const cannot = (problem: string) =>
        new StorageError(DRIVER_NAME, `Thread \`${threadId}\` cannot take the ${String(phase?.state)} phase of round ${String(phase?.roundNumber)}: ${problem}. Nothing was written.`);
      const shape = phaseShapeProblem(phase);
      if (shape) return Promise.reject(cannot(shape));
      const { roundNumber: round, decision } = phase;
      // node:sqlite does the whole write synchronously, inside the call. The engine hands a phase over and goes
      // straight on to the next model call, so the write waits for the next macrotask: by then that call has
      // sent its request (or started its timer), and the write overlaps it instead of delaying it.
      return nextMacrotask().then(() => use(`save the ${phase.state} phase of round ${round} of thread \`${threadId}\``, true, (conn) =>
        // One write transaction: the order check, the turn and its new contributions, the recall text and the
        // thread's updatedAt land together or not at all, and concurrent phases of one thread queue on the lock.
        write(conn, () => {
          // One read for the thread, its latest turn and the contributions stored for this round so far.
          const thread = get<{ round_number: number | bigint | null; state: string | null; stored: number | bigint }>(
            conn,
            `SELECT u.round_number, u.state,
               (SELECT count(*) FROM contributions c WHERE c.tenant = t.tenant AND c.thread_id = t.id AND c.round_number = ?) AS stored
             FROM threads t
             LEFT JOIN turns u ON u.tenant = t.tenant AND u.thread_id = t.id
               AND u.round_number = (SELECT max(x.round_number) FROM turns x WHERE x.tenant = t.tenant AND x.thread_id = t.id)
             WHERE t.tenant = ? AND t.id = ?`,
            round,
            scope.tenant,
            threadId,
          );
          if (!thread) throw missing(threadId);
          const latest = thread.round_number === null ? undefined : { roundNumber: num(thread.round_number), state: thread.state! };
          const problem = phaseOrderProblem(latest, phase);
          if (problem) throw cannot(problem);
          if (phase.state === 'PROPOSE') {
            insertTurn(conn, scope.tenant, threadId, { roundNumber: round, state: 'PROPOSE', contributions: phase.contributions, decision: null, createdAt: phase.at, completedAt: phase.at });
          } else {
            run(
              conn,
              `UPDATE turns SET state = ?, completed_at = ?, decision = ?, confidence = ?, rigor = ?, dissent = ?, intent = ?, category = ?, genus = ?, recall_rowid = ?
               WHERE tenant = ? AND thread_id = ? AND round_number = ?`,
              phase.state,
              phase.at,
              ...decisionColumns(decision),
              // The decision gets its own recall row; the question's row is left as it is.
              decision ? insertRecall(conn, scope.tenant, threadId, decision.content) : null,
              scope.tenant,
              threadId,
              round,
            );
            insertContributions(conn, scope.tenant, threadId, round, phase.contributions, num(thread.stored));
          }
          run(conn, 'UPDATE threads SET updated_at = ? WHERE tenant = ? AND id = ?', phase.at, scope.tenant, threadId);
        }),
      ));
    },

    finishThread: (scope, threadId, outcome) =>
      use(`close thread \`${threadId}\``, true, (conn) => {
        const result = run(conn, 'UPDATE threads SET status = ?, error = ?, updated_at = ? WHERE tenant = ? AND id = ?', outcome.status, outcome.error ?? null, outcome.at, scope.tenant, threadId);
        if (num(result.changes) === 0) throw missing(threadId);
      }),

    failIdleThread: (scope, threadId, outcome) =>
      use(`mark idle thread \`${threadId}\` failed`, true, (conn) => {
        const result = run(
          conn,
          "UPDATE threads SET status = 'failed', error = ?, updated_at = ? WHERE tenant = ? AND id = ? AND status = 'active' AND updated_at = ?",
          outcome.error,
          outcome.at,
          scope.tenant,
          threadId,
          outcome.idleSince,
        );
        return num(result.changes) === 1;
      }),

    getThread: (scope, id) => use(`read thread \`${id}\``, false, (conn) => read(conn, () => readThread(conn, scope.tenant, id))),

    listThreads: (scope, query: ThreadQuery): Promise<ThreadPage> =>
      use('list threads', false, (conn) => {
        const where = ['tenant = ?'];
        const params: SqliteValue[] = [scope.tenant];
        if (query.status !== undefined) {
          where.push('status = ?');
          params.push(query.status);
        }
        if (query.idPrefix !== undefined) {
          where.push('id GLOB ?');
          params.push(globPrefix(query.idPrefix));
        }
        if (query.userId !== undefined) {
          where.push('user_id = ?');
          params.push(query.userId);
        }
        const filter = where.join(' AND ');
        return read(conn, () => {
          const total = num(get<{ total: number | bigint }>(conn, `SELECT count(*) AS total FROM threads WHERE ${filter}`, ...params)!.total);
          const rows = all<ThreadRow>(
            conn,
            `SELECT id, question, status, protocol, user_id, created_at, updated_at FROM threads WHERE ${filter}
             ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
            ...params,
            query.limit,
            query.offset,
          );
          return {
            total,
            threads: rows.map((row) => ({
              id: row.id,
              question: row.question,
              status: row.status as ThreadStatus,
              protocol: row.protocol as StoredThread['protocol'],
              userId: row.user_id,
              createdAt: row.created_at,
              updatedAt: row.updated_at,
            })),
          };
        });
      }),

    deleteThread: (scope, id) => use(`delete thread \`${id}\``, true, (conn) => write(conn, () => removeThread(conn, scope.tenant, id))),

    saveOutcome: (scope, threadId, outcome) =>
      use(`save feedback on thread \`${threadId}\``, true, (conn) =>
        write(conn, () => {
          if (!get(conn, 'SELECT 1 AS found FROM threads WHERE tenant = ? AND id = ?', scope.tenant, threadId)) throw missing(threadId);
          const latest = get<{ round: number | bigint | null }>(
            conn,
            'SELECT max(round_number) AS round FROM turns WHERE tenant = ? AND thread_id = ? AND decision IS NOT NULL',
            scope.tenant,
            threadId,
          );
          if (latest?.round == null) throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` has no decision yet; feedback needs a committed round.`);
          run(
            conn,
            `INSERT INTO outcomes (tenant, thread_id, result, notes, round_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant, thread_id) DO UPDATE SET result = excluded.result, notes = excluded.notes,
               round_number = excluded.round_number, updated_at = excluded.updated_at`,
            scope.tenant,
            threadId,
            outcome.result,
            outcome.notes,
            latest.round,
            outcome.at,
            outcome.at,
          );
        }),
      ),

    search: (scope, query, { limit }) =>
      use('search threads', false, (conn) => {
        const match = recallMatchTerms(query);
        if (match === undefined) {
          // Nothing FTS5 can index (only punctuation or symbols): duh's substring match, newest first.
          return all<HitRow>(
            conn,
            `SELECT ${HIT_COLUMNS}, 0 AS rank FROM threads t ${LATEST_DECISION_JOIN}
             WHERE t.tenant = ? AND (instr(t.question, ?) > 0
               OR EXISTS (SELECT 1 FROM turns d WHERE d.tenant = t.tenant AND d.thread_id = t.id AND instr(d.decision, ?) > 0))
             ORDER BY t.created_at DESC, t.id DESC LIMIT ?`,
            scope.tenant,
            query,
            query,
            limit,
          ).map((row) => toHit(row, false));
        }
        // One full-text query per word (json_each feeds them to MATCH): a thread matches when every word is in
        // one of its texts (its question or any decision), as when they were one document. Its rank sums, over
        // the words, its texts' bm25() for the word with diminishing weight (the best text in full, the next at
        // a half, then a quarter, …), so matching in several texts counts, but never more than twice the best.
        // MATERIALIZED keeps bm25() in the full-text scan, out of the window and the aggregate.
        const terms = JSON.stringify(match);
        return all<HitRow>(
          conn,
          `WITH matched AS MATERIALIZED (
             SELECT w.key AS word, recall_texts.thread_id, bm25(recall_texts) AS rank
             FROM json_each(?) AS w CROSS JOIN recall_texts
             WHERE recall_texts MATCH w.value AND recall_texts.tenant = ?
           ), weighted AS (
             SELECT thread_id, word, rank, row_number() OVER (PARTITION BY thread_id, word ORDER BY rank) AS nth FROM matched
           ), threads_matched AS (
             SELECT thread_id, sum(CASE WHEN nth > 60 THEN 0 ELSE rank / (1 << (nth - 1)) END) AS rank
             FROM weighted GROUP BY thread_id HAVING count(DISTINCT word) = json_array_length(?)
           )
           SELECT ${HIT_COLUMNS}, m.rank AS rank
           FROM threads_matched m CROSS JOIN threads t ON t.tenant = ? AND t.id = m.thread_id ${LATEST_DECISION_JOIN}
           ORDER BY rank, t.created_at DESC, t.id DESC LIMIT ?`,
          terms,
          scope.tenant,
          terms,
          scope.tenant,
          limit,
        ).map((row) => toHit(row, true));
      }),

    costReport: (scope: StorageScope | 'all', query: CostQuery): Promise<CostRow[]> =>
      use('compute the cost report', false, (conn) => {
        if (!Object.hasOwn(COST_KEY_SQL, query.groupBy)) {
          throw new StorageError(DRIVER_NAME, `Unknown cost grouping ${JSON.stringify(query.groupBy)}; use model, provider, user, day or tenant.`);
        }
        const since = query.since || undefined;
        const until = query.until || undefined;
        type Sums = { key: string; cost: number | null; input: number | bigint; output: number | bigint; calls: number | bigint };
        /** One GROUP BY over contributions (timed by their turn's completion) or votes (by their own time). */
        const sums = (source: 'contributions' | 'votes'): Sums[] => {
          const at = source === 'votes' ? 'c.created_at' : 'u.completed_at';
          const joinTurns = source === 'contributions' && (since !== undefined || until !== undefined || query.groupBy === 'day');
          const where: string[] = [];
          const params: SqliteValue[] = [];
          if (scope !== 'all') {
            where.push('c.tenant = ?');
            params.push(scope.tenant);
          }
          if (since !== undefined) {
            where.push(`${at} >= ?`);
            params.push(since);
          }
          if (until !== undefined) {
            where.push(`${at} <= ?`);
            params.push(until);
          }
          return all<Sums>(
            conn,
            `SELECT ${COST_KEY_SQL[query.groupBy](at)} AS key, sum(c.cost_usd) AS cost, sum(c.input_tokens) AS input, sum(c.output_tokens) AS output, count(*) AS calls
             FROM ${source} c
             ${joinTurns ? 'JOIN turns u ON u.tenant = c.tenant AND u.thread_id = c.thread_id AND u.round_number = c.round_number' : ''}
             ${query.groupBy === 'user' ? 'JOIN threads t ON t.tenant = c.tenant AND t.id = c.thread_id' : ''}
             ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY 1`,
            ...params,
          );
        };
        const rows = new Map<string, CostRow>();
        for (const row of read(conn, () => [...sums('contributions'), ...sums('votes')])) {
          const total = rows.get(row.key) ?? { key: row.key, costUsd: 0, inputTokens: 0, outputTokens: 0, calls: 0 };
          total.costUsd += row.cost ?? 0;
          total.inputTokens += num(row.input);
          total.outputTokens += num(row.output);
          total.calls += num(row.calls);
          rows.set(row.key, total);
        }
        // Sorted here, not in SQL: costRowsOf breaks ties with localeCompare, which SQL collations cannot express.
        return [...rows.values()].sort((a, b) => b.costUsd - a.costUsd || a.key.localeCompare(b.key));
      }),

    async *exportThreads(scope: StorageScope | 'all'): AsyncIterable<StoredThread> {
      const all_ = scope === 'all';
      const tenant = all_ ? null : scope.tenant;
      const PAGE = 100;
      let after: { created_at: string; id: string; tenant: string } | undefined;
      for (;;) {
        // Keyset pages, each thread read in its own short snapshot: no transaction stays open across a yield.
        const keys = await use('export threads', false, (conn) => {
          const where: string[] = [];
          const params: SqliteValue[] = [];
          if (tenant !== null) {
            where.push('tenant = ?');
            params.push(tenant);
          }
          if (after) {
            where.push(all_ ? '(created_at, id, tenant) > (?, ?, ?)' : '(created_at, id) > (?, ?)');
            params.push(after.created_at, after.id, ...(all_ ? [after.tenant] : []));
          }
          return all<{ created_at: string; id: string; tenant: string }>(
            conn,
            `SELECT created_at, id, tenant FROM threads ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id, tenant LIMIT ${PAGE}`,
            ...params,
          );
        });
        for (const key of keys) {
          const thread = await use(`export thread \`${key.id}\``, false, (conn) => read(conn, () => readThread(conn, key.tenant, key.id)));
          if (thread) yield thread; // null: deleted since the page was read
        }
        if (keys.length < PAGE) return;
        after = keys[keys.length - 1];
      }
    },

    async importThreads(threads, { mode }): Promise<{ threads: number }> {
      if (mode !== 'merge' && mode !== 'replace') throw new StorageError(DRIVER_NAME, `Unknown restore mode ${JSON.stringify(mode)}; use merge or replace. Nothing was restored.`);
      if (!Array.isArray(threads)) throw new StorageError(DRIVER_NAME, 'importThreads() takes an array of threads. Nothing was restored.');
      // Check everything first, so a bad record is reported with its place and nothing is written.
      for (const [index, thread] of threads.entries()) {
        const problem = problemOf(thread);
        if (problem) {
          const id = isObject(thread) && isString(thread['id']) ? ` (\`${thread['id']}\`)` : '';
          throw new StorageError(DRIVER_NAME, `Backup thread ${index + 1}${id} cannot be restored: ${problem}. Nothing was restored.`);
        }
      }
      return use('restore the backup', true, (conn) =>
        write(conn, () => {
          if (mode === 'replace') {
            for (const tenant of new Set(threads.map((thread) => thread.tenant))) {
              run(conn, 'DELETE FROM recall_texts WHERE rowid IN (SELECT recall_rowid FROM threads WHERE tenant = ?)', tenant);
              run(conn, 'DELETE FROM recall_texts WHERE rowid IN (SELECT recall_rowid FROM turns WHERE tenant = ? AND recall_rowid IS NOT NULL)', tenant);
              for (const table of ['contributions', 'turns', 'outcomes', 'votes', 'subtasks', 'threads']) run(conn, `DELETE FROM ${table} WHERE tenant = ?`, tenant);
            }
          }
          for (const thread of threads) {
            removeThread(conn, thread.tenant, thread.id); // merge upserts by id: the backup's copy wins
            const turns = [...thread.turns].sort((a, b) => a.roundNumber - b.roundNumber);
            insertThread(conn, thread.tenant, thread, thread.status, thread.error ?? null, thread.updatedAt);
            for (const turn of turns) insertTurn(conn, thread.tenant, thread.id, turn); // each decision's recall row with its turn
            const { outcome } = thread;
            if (outcome) {
              run(
                conn,
                'INSERT INTO outcomes (tenant, thread_id, result, notes, round_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
                thread.tenant,
                thread.id,
                outcome.result,
                outcome.notes ?? null,
                outcome.roundNumber,
                outcome.createdAt,
                outcome.updatedAt,
              );
            }
            // Absent in a backup written before votes and subtasks existed.
            insertVotes(conn, thread.tenant, thread.id, thread.votes ?? []);
            insertSubtasks(conn, thread.tenant, thread.id, thread.subtasks ?? []);
          }
          return { threads: threads.length };
        }),
      );
    },

    // ---- votes and subtasks ----

    saveVotes: (scope: StorageScope, threadId: string, votes: readonly StoredVote[]) => {
      const problem = Array.isArray(votes) ? votes.map(voteProblem).find((each) => each !== undefined) : 'votes must be an array';
      if (problem) return Promise.reject(new StorageError(DRIVER_NAME, `Cannot save votes on thread \`${threadId}\`: ${problem}. Nothing was written.`));
      return use(`save votes on thread \`${threadId}\``, true, (conn) =>
        write(conn, () => {
          if (!get(conn, 'SELECT 1 AS found FROM threads WHERE tenant = ? AND id = ?', scope.tenant, threadId)) throw missing(threadId);
          insertVotes(conn, scope.tenant, threadId, votes);
          const latest = latestTimestamp(votes.map((vote) => vote.createdAt));
          if (latest !== undefined) run(conn, 'UPDATE threads SET updated_at = ? WHERE tenant = ? AND id = ?', latest, scope.tenant, threadId);
        }),
      );
    },

    saveSubtasks: (scope: StorageScope, threadId: string, subtasks: readonly StoredSubtask[]) =>
      use(`save the subtasks of thread \`${threadId}\``, true, (conn) =>
        // The write lock makes the check and the insert one step: concurrent plans of one thread queue here.
        write(conn, () => {
          if (!get(conn, 'SELECT 1 AS found FROM threads WHERE tenant = ? AND id = ?', scope.tenant, threadId)) throw missing(threadId);
          const cannot = (why: string) => new StorageError(DRIVER_NAME, `Cannot save the subtasks of thread \`${threadId}\`: ${why}. Nothing was written.`);
          const problem = subtaskPlanProblem(readSubtasks(conn, scope.tenant, threadId), subtasks);
          if (problem) throw cannot(problem);
          for (const subtask of subtasks) {
            const child = childProblem(conn, scope.tenant, threadId, subtask.childThreadId);
            if (child) throw cannot(`subtask \`${subtask.label}\` ${child}`);
          }
          insertSubtasks(conn, scope.tenant, threadId, subtasks);
          const latest = latestTimestamp(subtasks.map((subtask) => subtask.updatedAt));
          if (latest !== undefined) run(conn, 'UPDATE threads SET updated_at = ? WHERE tenant = ? AND id = ?', latest, scope.tenant, threadId);
        }),
      ),

    updateSubtask: (scope: StorageScope, threadId: string, label: string, update) => {
      const cannot = (why: string) => new StorageError(DRIVER_NAME, `Cannot update subtask \`${label}\` of thread \`${threadId}\`: ${why}. Nothing was written.`);
      if (!SUBTASK_STATUSES.includes(update?.status)) return Promise.reject(cannot(`\`status\` must be one of ${SUBTASK_STATUSES.join(', ')}`));
      if (typeof update.at !== 'string' || update.at === '') return Promise.reject(cannot('`at` must be an ISO timestamp'));
      return use(`update subtask \`${label}\` of thread \`${threadId}\``, true, (conn) =>
        write(conn, (): StoredSubtask | null => {
          if (!get(conn, 'SELECT 1 AS found FROM subtasks WHERE tenant = ? AND thread_id = ? AND label = ?', scope.tenant, threadId, label)) return null;
          const child = update.childThreadId === undefined ? undefined : childProblem(conn, scope.tenant, threadId, update.childThreadId);
          if (child) throw cannot(`it ${child}`);
          run(
            conn,
            `UPDATE subtasks SET status = ?, updated_at = ?${update.childThreadId === undefined ? '' : ', child_thread_id = ?'} WHERE tenant = ? AND thread_id = ? AND label = ?`,
            update.status,
            update.at,
            ...(update.childThreadId === undefined ? [] : [update.childThreadId]),
            scope.tenant,
            threadId,
            label,
          );
          run(conn, 'UPDATE threads SET updated_at = ? WHERE tenant = ? AND id = ?', update.at, scope.tenant, threadId);
          return toSubtask(get<SubtaskRow>(conn, `SELECT ${SUBTASK_COLUMNS} FROM subtasks WHERE tenant = ? AND thread_id = ? AND label = ?`, scope.tenant, threadId, label)!);
        }),
      );
    },

    createUser: (scope: StorageScope, user: NewUser) =>
      use(`create user \`${String(user?.id)}\``, true, (conn) =>
        write(conn, () => {
          if (get(conn, 'SELECT 1 AS found FROM users WHERE tenant = ? AND id = ?', scope.tenant, user.id)) {
            throw new StorageError(DRIVER_NAME, `User \`${user.id}\` already exists; user ids must be unique.`);
          }
          if (get(conn, 'SELECT 1 AS found FROM users WHERE tenant = ? AND email = ?', scope.tenant, user.email)) {
            throw new StorageError(DRIVER_NAME, `Another user of this tenant already has the email \`${user.email}\`; emails are unique per tenant.`);
          }
          run(
            conn,
            `INSERT INTO users (tenant, id, email, display_name, role, password_hash, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            scope.tenant,
            user.id,
            user.email,
            user.displayName,
            user.role,
            user.passwordHash ?? null,
            user.active ? 1 : 0,
            user.createdAt,
            user.createdAt,
          );
        }),
      ),

    getUser: (scope, id) =>
      use(`read user \`${id}\``, false, (conn) => {
        const row = get<UserRow>(conn, `SELECT ${USER_COLUMNS} FROM users WHERE tenant = ? AND id = ?`, scope.tenant, id);
        return row ? toUser(row) : null;
      }),

    getUserByEmail: (scope, email) =>
      use('read a user by email', false, (conn) => {
        const row = get<UserRow>(conn, `SELECT ${USER_COLUMNS} FROM users WHERE tenant = ? AND email = ?`, scope.tenant, email);
        return row ? toUser(row) : null;
      }),

    listUsers: (scope, query: UserQuery): Promise<UserPage> =>
      use('list users', false, (conn) =>
        read(conn, () => ({
          total: num(get<{ total: number | bigint }>(conn, 'SELECT count(*) AS total FROM users WHERE tenant = ?', scope.tenant)!.total),
          users: all<UserRow>(conn, `SELECT ${USER_COLUMNS} FROM users WHERE tenant = ? ORDER BY created_at, id LIMIT ? OFFSET ?`, scope.tenant, query.limit, query.offset).map(toUser),
        })),
      ),

    updateUser: (scope, id, update: UserUpdate) =>
      use(`update user \`${id}\``, true, (conn) =>
        write(conn, () => {
          const sets = ['updated_at = ?'];
          const params: SqliteValue[] = [update.at];
          if (update.role !== undefined) (sets.push('role = ?'), params.push(update.role));
          if (update.displayName !== undefined) (sets.push('display_name = ?'), params.push(update.displayName));
          if (update.active !== undefined) (sets.push('active = ?'), params.push(update.active ? 1 : 0));
          if (update.passwordHash !== undefined) (sets.push('password_hash = ?'), params.push(update.passwordHash));
          if (update.sessionsEndedAt !== undefined) (sets.push('sessions_ended_at = ?'), params.push(update.sessionsEndedAt));
          // With ifPasswordHash / ifSessionsEndedAt, a compare-and-set: a value changed meanwhile leaves the row as it is.
          let guard = '';
          params.push(scope.tenant, id);
          if (update.ifPasswordHash !== undefined) (guard += ' AND password_hash IS ?'), params.push(update.ifPasswordHash);
          if (update.ifSessionsEndedAt !== undefined) (guard += ' AND sessions_ended_at IS ?'), params.push(update.ifSessionsEndedAt);
          run(conn, `UPDATE users SET ${sets.join(', ')} WHERE tenant = ? AND id = ?${guard}`, ...params);
          const row = get<UserRow>(conn, `SELECT ${USER_COLUMNS} FROM users WHERE tenant = ? AND id = ?`, scope.tenant, id);
          return row ? toUser(row) : null;
        }),
      ),

    createApiKey: (scope, key: NewApiKey) =>
      use(`create API key \`${String(key?.id)}\``, true, (conn) =>
        write(conn, () => {
          if (!Array.isArray(key.scopes) || !key.scopes.every((each) => typeof each === 'string')) {
            throw new StorageError(DRIVER_NAME, 'Cannot create the API key: `scopes` must be an array of strings. Nothing was written.');
          }
          if (get(conn, 'SELECT 1 AS found FROM api_keys WHERE id = ?', key.id)) {
            throw new StorageError(DRIVER_NAME, `API key \`${key.id}\` already exists; key ids must be unique across tenants.`);
          }
          if (!get(conn, 'SELECT 1 AS found FROM users WHERE tenant = ? AND id = ?', scope.tenant, key.userId)) {
            throw new StorageError(DRIVER_NAME, `User \`${key.userId}\` does not exist in this tenant; create the user before its keys.`);
          }
          run(
            conn,
            `INSERT INTO api_keys (${API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
            key.id,
            scope.tenant,
            key.userId,
            key.name,
            key.secretHash,
            JSON.stringify(key.scopes),
            key.createdAt,
            key.expiresAt ?? null,
          );
        }),
      ),

    findApiKey: (id) =>
      use('look up an API key', false, (conn) => {
        const row = get<ApiKeyRow>(conn, `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE id = ?`, id);
        return row ? toApiKey(row) : null;
      }),

    listApiKeys: (scope, query: ApiKeyQuery = {}) =>
      use('list API keys', false, (conn) =>
        (query.userId === undefined
          ? all<ApiKeyRow>(conn, `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE tenant = ? ORDER BY created_at DESC, id DESC`, scope.tenant)
          : all<ApiKeyRow>(conn, `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE tenant = ? AND user_id = ? ORDER BY created_at DESC, id DESC`, scope.tenant, query.userId)
        ).map(toApiKey),
      ),

    revokeApiKey: (scope, id, at) =>
      use(`revoke API key \`${id}\``, true, (conn) =>
        write(conn, () => {
          run(conn, 'UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND id = ? AND revoked_at IS NULL', at, scope.tenant, id);
          const row = get<ApiKeyRow>(conn, `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE tenant = ? AND id = ?`, scope.tenant, id);
          return row ? toApiKey(row) : null;
        }),
      ),

    touchApiKey: (scope, id, at) =>
      use(`record a use of API key \`${id}\``, true, (conn) => {
        run(conn, 'UPDATE api_keys SET last_used_at = ? WHERE tenant = ? AND id = ? AND (last_used_at IS NULL OR last_used_at < ?)', at, scope.tenant, id, at);
      }),

    putProviderKey: (scope, key: ProviderKeyWrite, options: ProviderKeyPutOptions = {}) =>
      use(`store the ${String(key?.provider)} key`, true, (conn) => {
        for (const field of ['provider', 'ciphertext', 'iv', 'tag', 'keyId', 'at'] as const) {
          if (typeof key[field] !== 'string' || key[field] === '') throw new StorageError(DRIVER_NAME, `Cannot store the provider key: \`${field}\` must be a non-empty string. Nothing was written.`);
        }
        if (options.ifCiphertext !== undefined) {
          const changed = run(
            conn,
            'UPDATE provider_keys SET ciphertext = ?, iv = ?, tag = ?, key_id = ?, updated_at = ? WHERE tenant = ? AND provider = ? AND ciphertext = ?',
            key.ciphertext,
            key.iv,
            key.tag,
            key.keyId,
            key.at,
            scope.tenant,
            key.provider,
            options.ifCiphertext,
          );
          return num(changed.changes) === 1;
        }
        run(
          conn,
          `INSERT INTO provider_keys (tenant, provider, ciphertext, iv, tag, key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (tenant, provider) DO UPDATE SET ciphertext = excluded.ciphertext, iv = excluded.iv, tag = excluded.tag,
             key_id = excluded.key_id, updated_at = excluded.updated_at`,
          scope.tenant,
          key.provider,
          key.ciphertext,
          key.iv,
          key.tag,
          key.keyId,
          key.at,
          key.at,
        );
        return true;
      }),

    getProviderKey: (scope, provider) =>
      use(`read the ${provider} key`, false, (conn) => {
        const row = get<ProviderKeyRow>(conn, 'SELECT tenant, provider, ciphertext, iv, tag, key_id, created_at, updated_at FROM provider_keys WHERE tenant = ? AND provider = ?', scope.tenant, provider);
        return row
          ? ({ tenant: row.tenant, provider: row.provider, ciphertext: row.ciphertext, iv: row.iv, tag: row.tag, keyId: row.key_id, createdAt: row.created_at, updatedAt: row.updated_at } satisfies StoredProviderKey)
          : null;
      }),

    listProviderKeys: (scope: StorageScope | 'all') =>
      use('list provider keys', false, (conn) =>
        (scope === 'all'
          ? all<ProviderKeyRow>(conn, 'SELECT tenant, provider, key_id, created_at, updated_at FROM provider_keys ORDER BY tenant, provider')
          : all<ProviderKeyRow>(conn, 'SELECT tenant, provider, key_id, created_at, updated_at FROM provider_keys WHERE tenant = ? ORDER BY provider', scope.tenant)
        ).map((row): ProviderKeyInfo => ({ tenant: row.tenant, provider: row.provider, keyId: row.key_id, createdAt: row.created_at, updatedAt: row.updated_at })),
      ),

    deleteProviderKey: (scope, provider) =>
      use(`delete the ${provider} key`, true, (conn) => num(run(conn, 'DELETE FROM provider_keys WHERE tenant = ? AND provider = ?', scope.tenant, provider).changes) > 0),

    async appendAudit(scope: StorageScope, entry: AuditEntryInput): Promise<StoredAuditEvent> {
      const problem = auditEntryProblem(entry);
      if (problem) throw new StorageError(DRIVER_NAME, `Cannot append the audit entry: ${problem}. Nothing was written.`);
      const sha256 = await loadSha256();
      const event = auditEventOf(scope.tenant, auditEventId(Date.parse(entry.at)), entry);
      // The write lock (BEGIN IMMEDIATE) serialises appends across connections and processes: the head read
      // here is the head the new entry links to.
      return use('append to the audit log', true, (conn) =>
        write(conn, () => {
          const head = get<{ seq: number | bigint; hash: string }>(conn, 'SELECT seq, hash FROM audit_events WHERE tenant = ? ORDER BY seq DESC LIMIT 1', scope.tenant);
          const linked = { ...event, seq: head ? num(head.seq) + 1 : 1, prevHash: head?.hash ?? AUDIT_GENESIS_HASH };
          const stored: StoredAuditEvent = { ...linked, hash: sha256(auditCanonicalString(linked)) };
          run(
            conn,
            `INSERT INTO audit_events (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            stored.tenant,
            stored.seq,
            stored.id,
            stored.at,
            stored.actor,
            stored.action,
            stored.resource,
            stored.outcome,
            stored.reason,
            stored.ip,
            stored.userAgent,
            JSON.stringify(stored.details),
            stored.prevHash,
            stored.hash,
          );
          return stored;
        }),
      );
    },

    listAudit: (scope, query) =>
      use('read the audit log', false, (conn) =>
        all<AuditRow>(conn, `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?`, scope.tenant, query.afterSeq ?? 0, query.limit).map(toAuditEvent),
      ),

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const pending = opening;
      opening = undefined;
      const conn = await pending?.catch(() => undefined);
      if (!conn) return;
      conn.statements.clear();
      if (conn.owned) conn.db.close();
    },
  };
}
