/**
 * PostgreSQL storage: runs kept in their own Postgres schema, shared by every process that points at it.
 *
 * Pass the `pg` pool you already have (`pool`), or a `connectionString` and duh loads `pg` itself and owns the
 * pool it creates. The schema is created and migrated on first use (once, safely, even when several processes
 * start together). Each phase of a round (`appendPhase`), like each whole round (`appendTurn`), is written in one
 * round trip: a single statement that writes the turn and its new contributions and updates the thread, so it
 * is atomic without a client-side transaction.
 *
 * Users, API keys, encrypted provider keys and the audit log live in their own tables (schema version 2). An
 * audit append is one statement too: it advances the tenant's chain-head row (`audit_heads`, locked by the
 * upsert, so concurrent appends from any connection or process queue on it), computes the entry's SHA-256 in
 * SQL (`sha256()`) over the contract's canonical text, and inserts the entry. A trigger refuses `UPDATE`,
 * `DELETE` and `TRUNCATE` on `audit_events`.
 *
 * Votes and subtasks have their own tables (schema version 3), deleted with their thread. Votes are appended in one
 * statement; a subtask plan is checked and written in one transaction that locks its thread's row.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { Consensus } from 'duh';
 * import { postgresStorage } from 'duh/storage/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const duh = new Consensus({ models, storage: postgresStorage({ pool }) });
 * ```
 *
 * @module
 */
import { DuhError, InvalidOptionError, MissingDependencyError, StorageError } from '../src/errors.js';
import {
  decisionColumns,
  AUDIT_GENESIS_HASH,
  auditCanonicalBody,
  auditEntryProblem,
  auditEventId,
  auditEventOf,
  type AuditEntryInput,
  type CostGroup,
  type CostRow,
  type NewApiKey,
  type NewThread,
  type NewUser,
  firstTurnProblem,
  phaseOrderProblem,
  phaseShapeProblem,
  type ProviderKeyInfo,
  type ProviderKeyPutOptions,
  type ProviderKeyWrite,
  type StoredApiKey,
  type StoredAuditEvent,
  type StoredProviderKey,
  type StoredSubtask,
  type StoredUser,
  type StoredVote,
  latestTimestamp,
  SUBTASK_STATUSES,
  subtaskPlanProblem,
  subtasksInOrder,
  type SubtaskStatus,
  voteProblem,
  TURN_STATES,
  type UserPage,
  type UserUpdate,
} from '../src/storage.js';
import type {
  RecallHit,
  StorageDriver,
  StorageScope,
  StoredContribution,
  StoredOutcome,
  StoredThread,
  StoredTurn,
  ThreadPage,
  ThreadQuery,
  ThreadSummary,
} from '../src/storage.js';

const DRIVER_NAME = 'postgres';

/** What duh reads from a query result: the rows. */
export interface PgQueryResultLike {
  rows: readonly unknown[];
}

/**
 * A named statement, the object form `pg`'s `query()` takes (`{ name, text, values }`): `pg` parses and plans
 * it once per connection and later only binds values. duh sends this form only when `preparedStatements` is on.
 */
export interface PgQueryConfigLike {
  name: string;
  text: string;
  values?: unknown[];
}

/**
 * The subset of a `pg` `PoolClient` duh uses (for migrations and restores, which need a transaction). duh calls
 * `query(text, values)`, and passes a {@link PgQueryConfigLike} only with `preparedStatements: true`, so a client
 * that takes `(text, values)` alone still fits.
 */
export interface PgPoolClientLike {
  query(textOrConfig: string | PgQueryConfigLike, values?: unknown[]): Promise<PgQueryResultLike>;
  release(error?: Error | boolean): void;
}

/**
 * The subset of a `pg` `Pool` duh uses. Typed structurally, so duh does not depend on `pg`'s types: a
 * `pg.Pool` fits, and so does any pool with the same three methods (e.g. `@neondatabase/serverless`).
 */
export interface PgPoolLike {
  /**
   * One statement on any pooled connection (parameters as `$1`, `$2`, ...). duh calls it as `query(text, values)`;
   * only with `preparedStatements: true` does it pass a named statement (`{ name, text, values }`) instead, so a
   * pool that supports only `(text, values)` fits as long as that option stays off (the default for `pool`).
   */
  query(textOrConfig: string | PgQueryConfigLike, values?: unknown[]): Promise<PgQueryResultLike>;
  /** A dedicated connection, for transactions. */
  connect(): Promise<PgPoolClientLike>;
  end(): Promise<void>;
}

/** Options for {@link postgresStorage}. Pass exactly one of `pool` and `connectionString`. */
export interface PostgresStorageOptions {
  /**
   * Your pool (or an async function returning it, called once on first use). duh never closes it: `close()`
   * leaves it open for the rest of your app.
   */
  pool?: PgPoolLike | (() => Promise<PgPoolLike>);
  /**
   * A connection string (`postgres://user:password@host:5432/db`). duh imports the optional peer `pg` on first
   * use, creates its own pool and ends it on `close()`.
   */
  connectionString?: string;
  /**
   * The Postgres schema that holds duh's tables (created if missing; quoted, so case-sensitive). Give each app
   * or test its own. @default 'duh'
   */
  schema?: string;
  /** Connections in the pool duh creates from `connectionString` (`pg`'s `max`). @default 10 */
  max?: number;
  /**
   * Send the hot statements (createThread, startThread, appendTurn, appendPhase, finishThread, getThread, deleteThread, saveOutcome, and the
   * identity point reads and writes: getUser, findApiKey, touchApiKey, appendAudit) as
   * named prepared statements (`{ name, text, values }`), so each connection parses and plans them once instead
   * of on every call (faster writes). Needs a pool that accepts `pg`'s config-object form of `query()` and
   * connections that keep session state: a `pg.Pool` straight to the server, or behind PgBouncer in session
   * mode (or 1.21+ with `max_prepared_statements`). Leave it off behind a transaction-mode pooler that does not
   * track prepared statements. @default true with `connectionString` (duh's own `pg` pool), false with `pool`
   */
  preparedStatements?: boolean;
}

/** The newest schema version this driver writes (see `duh_migrations`). */
export const POSTGRES_SCHEMA_VERSION = 4;

const RECORDS_PER_RESTORE_STATEMENT = 200;
const THREADS_PER_EXPORT_PAGE = 100;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Row = Record<string, unknown>;

/** Postgres identifiers duh accepts for `schema`: quoted verbatim, so keep them plain. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Migrations, in order. Each runs once, inside the migration transaction, with `S` the quoted schema. */
const migrations = (S: string): { version: number; name: string; statements: string[] }[] => [
  {
    version: 1,
    name: 'threads, turns, contributions, outcomes',
    statements: [
      // Thread ids and tenants are compared byte-wise (`C`): exact matches, and `LIKE 'prefix%'` can use the
      // primary key. Timestamps are kept twice: `timestamptz` for ordering and SQL users, and the exact ISO
      // text the caller gave (reads return it unchanged; cost bounds compare it the way the core does).
      `CREATE TABLE ${S}.threads (
        tenant text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        question text NOT NULL,
        protocol text NOT NULL,
        user_id text,
        status text NOT NULL CHECK (status IN ('active', 'complete', 'failed')),
        error text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        created_at_iso text COLLATE "C" NOT NULL,
        updated_at_iso text COLLATE "C" NOT NULL,
        search tsvector NOT NULL,
        PRIMARY KEY (tenant, id)
      )`,
      `CREATE INDEX threads_newest ON ${S}.threads (tenant, created_at DESC, seq DESC)`,
      `CREATE INDEX threads_user ON ${S}.threads (tenant, user_id, created_at DESC, seq DESC)`,
      `CREATE INDEX threads_search ON ${S}.threads USING gin (search)`,
      `CREATE TABLE ${S}.turns (
        tenant text COLLATE "C" NOT NULL,
        thread_id text COLLATE "C" NOT NULL,
        round_number integer NOT NULL,
        state text NOT NULL,
        decision text,
        confidence double precision,
        rigor double precision,
        dissent text,
        taxonomy_intent text,
        taxonomy_category text,
        taxonomy_genus text,
        created_at timestamptz NOT NULL,
        completed_at timestamptz NOT NULL,
        created_at_iso text COLLATE "C" NOT NULL,
        completed_at_iso text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, thread_id, round_number),
        FOREIGN KEY (tenant, thread_id) REFERENCES ${S}.threads (tenant, id) ON DELETE CASCADE
      )`,
      `CREATE INDEX turns_completed ON ${S}.turns (tenant, completed_at_iso)`,
      `CREATE TABLE ${S}.contributions (
        tenant text COLLATE "C" NOT NULL,
        thread_id text COLLATE "C" NOT NULL,
        round_number integer NOT NULL,
        position integer NOT NULL,
        model text NOT NULL,
        role text NOT NULL,
        content text NOT NULL,
        input_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        cost_usd double precision NOT NULL,
        latency_ms double precision NOT NULL,
        finish_reason text NOT NULL,
        truncated boolean NOT NULL,
        framing text,
        sycophantic boolean,
        provider_metadata jsonb,
        PRIMARY KEY (tenant, thread_id, round_number, position),
        FOREIGN KEY (tenant, thread_id, round_number) REFERENCES ${S}.turns (tenant, thread_id, round_number) ON DELETE CASCADE
      )`,
      `CREATE TABLE ${S}.outcomes (
        tenant text COLLATE "C" NOT NULL,
        thread_id text COLLATE "C" NOT NULL,
        result text NOT NULL CHECK (result IN ('success', 'failure', 'partial')),
        notes text,
        round_number integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        created_at_iso text COLLATE "C" NOT NULL,
        updated_at_iso text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, thread_id),
        FOREIGN KEY (tenant, thread_id) REFERENCES ${S}.threads (tenant, id) ON DELETE CASCADE
      )`,
      // `a || b || c` over rows, so a restore rebuilds exactly the search vector that live appends built.
      `CREATE AGGREGATE ${S}.tsvector_concat_agg(tsvector) (SFUNC = pg_catalog.tsvector_concat, STYPE = tsvector, INITCOND = '')`,
    ],
  },
  {
    version: 2,
    name: 'users, api keys, provider keys, audit log',
    statements: [
      // Timestamps of identity records are the exact ISO text the caller gave (UTC, so text order is time order).
      `CREATE TABLE ${S}.users (
        tenant text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        email text COLLATE "C" NOT NULL,
        display_name text NOT NULL,
        role text NOT NULL,
        password_hash text,
        active boolean NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, id),
        CONSTRAINT users_email_unique UNIQUE (tenant, email)
      )`,
      `CREATE INDEX users_listing ON ${S}.users (tenant, created_at, id)`,
      // Key ids are unique across tenants: authentication looks a key up by id alone.
      `CREATE TABLE ${S}.api_keys (
        id text COLLATE "C" PRIMARY KEY,
        tenant text COLLATE "C" NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        name text NOT NULL,
        secret_hash text NOT NULL,
        scopes jsonb NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        expires_at text COLLATE "C",
        revoked_at text COLLATE "C",
        last_used_at text COLLATE "C",
        FOREIGN KEY (tenant, user_id) REFERENCES ${S}.users (tenant, id)
      )`,
      `CREATE INDEX api_keys_listing ON ${S}.api_keys (tenant, user_id, created_at)`,
      `CREATE TABLE ${S}.provider_keys (
        tenant text COLLATE "C" NOT NULL,
        provider text COLLATE "C" NOT NULL,
        ciphertext text NOT NULL,
        iv text NOT NULL,
        tag text NOT NULL,
        key_id text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, provider)
      )`,
      // Each tenant's chain head: appends lock and advance it, so they queue per tenant and never fork.
      `CREATE TABLE ${S}.audit_heads (
        tenant text COLLATE "C" PRIMARY KEY,
        seq bigint NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL
      )`,
      // `details` is the JSON text as written (not jsonb, which would rewrite it).
      `CREATE TABLE ${S}.audit_events (
        tenant text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        id text NOT NULL,
        at text NOT NULL,
        actor text,
        action text NOT NULL,
        resource text NOT NULL,
        outcome text NOT NULL,
        reason text,
        ip text,
        user_agent text,
        details text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        PRIMARY KEY (tenant, seq)
      )`,
      `CREATE FUNCTION ${S}.audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$`,
      `CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON ${S}.audit_events
        FOR EACH ROW EXECUTE FUNCTION ${S}.audit_events_append_only()`,
      `CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON ${S}.audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION ${S}.audit_events_append_only()`,
    ],
  },
  {
    version: 3,
    name: 'votes, subtasks',
    statements: [
      // Both are deleted with their thread. `seq` (an identity) keeps the order written, so appends need no
      // max(position) read and concurrent appends cannot collide. A subtask's child thread is a plain id, not a
      // foreign key: deleting the child leaves the reference (the contract says so).
      `CREATE TABLE ${S}.votes (
        tenant text COLLATE "C" NOT NULL,
        thread_id text COLLATE "C" NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        model text NOT NULL,
        content text NOT NULL,
        input_tokens bigint NOT NULL,
        output_tokens bigint NOT NULL,
        cost_usd double precision NOT NULL,
        latency_ms double precision NOT NULL,
        finish_reason text NOT NULL,
        truncated boolean NOT NULL,
        provider_metadata jsonb,
        created_at timestamptz NOT NULL,
        created_at_iso text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, thread_id, seq),
        FOREIGN KEY (tenant, thread_id) REFERENCES ${S}.threads (tenant, id) ON DELETE CASCADE
      )`,
      `CREATE INDEX votes_created ON ${S}.votes (tenant, created_at_iso)`,
      `CREATE TABLE ${S}.subtasks (
        tenant text COLLATE "C" NOT NULL,
        thread_id text COLLATE "C" NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        label text COLLATE "C" NOT NULL CHECK (char_length(label) BETWEEN 1 AND 200),
        description text NOT NULL,
        dependencies jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'running', 'complete', 'failed')),
        sequence_order bigint NOT NULL,
        child_thread_id text COLLATE "C",
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        created_at_iso text COLLATE "C" NOT NULL,
        updated_at_iso text COLLATE "C" NOT NULL,
        PRIMARY KEY (tenant, thread_id, seq),
        CONSTRAINT subtasks_label_unique UNIQUE (tenant, thread_id, label),
        FOREIGN KEY (tenant, thread_id) REFERENCES ${S}.threads (tenant, id) ON DELETE CASCADE
      )`,
    ],
  },
  {
    version: 4,
    name: 'users: when their sessions were last ended',
    statements: [`ALTER TABLE ${S}.users ADD COLUMN IF NOT EXISTS sessions_ended_at text COLLATE "C"`],
  },
];

// The SQL that renders a thread (alias `t`) as one JSON array, turns and contributions nested. Everything is
// read back as JSON text and parsed here, so results do not depend on the pool's type parsers.
const threadJson = (S: string) => `json_build_array(
  t.id, t.tenant, t.question, t.protocol, t.user_id, t.status, t.error, t.created_at_iso, t.updated_at_iso,
  (SELECT coalesce(json_agg(json_build_array(
      tu.round_number, tu.state, tu.decision, tu.confidence, tu.rigor, tu.dissent,
      tu.taxonomy_intent, tu.taxonomy_category, tu.taxonomy_genus, tu.created_at_iso, tu.completed_at_iso,
      (SELECT coalesce(json_agg(json_build_array(
          c.model, c.role, c.content, c.input_tokens, c.output_tokens, c.cost_usd, c.latency_ms,
          c.finish_reason, c.truncated, c.framing, c.sycophantic, c.provider_metadata) ORDER BY c.position), '[]')
       FROM ${S}.contributions c
       WHERE c.tenant = tu.tenant AND c.thread_id = tu.thread_id AND c.round_number = tu.round_number)
    ) ORDER BY tu.round_number), '[]')
   FROM ${S}.turns tu WHERE tu.tenant = t.tenant AND tu.thread_id = t.id),
  (SELECT json_build_array(o.result, o.notes, o.round_number, o.created_at_iso, o.updated_at_iso)
   FROM ${S}.outcomes o WHERE o.tenant = t.tenant AND o.thread_id = t.id),
  t.seq::text,
  (SELECT coalesce(json_agg(json_build_array(
      v.model, v.content, v.input_tokens, v.output_tokens, v.cost_usd, v.latency_ms, v.finish_reason, v.truncated,
      v.provider_metadata, v.created_at_iso) ORDER BY v.seq), '[]')
   FROM ${S}.votes v WHERE v.tenant = t.tenant AND v.thread_id = t.id),
  (SELECT coalesce(json_agg(${subtaskJson('st')} ORDER BY st.sequence_order, st.seq), '[]')
   FROM ${S}.subtasks st WHERE st.tenant = t.tenant AND st.thread_id = t.id)
)`;

/** One subtask row (alias `a`) as a JSON array, read back by {@link toSubtask}. */
const subtaskJson = (a: string) =>
  `json_build_array(${a}.label, ${a}.description, ${a}.dependencies, ${a}.status, ${a}.sequence_order, ${a}.child_thread_id, ${a}.created_at_iso, ${a}.updated_at_iso)`;

/**
 * Insert one turn for the row of the CTE `thread`: round `round` (SQL), state `$state`, the seven decision columns
 * from parameter `$decision` on ({@link decisionColumns}' order), and the ISO times in `createdAt`/`completedAt`.
 */
const insertTurn = (S: string, p: { round: string; state: string; decision: number; createdAt: string; completedAt: string }) => {
  const d = (offset: number) => `$${p.decision + offset}`;
  return `INSERT INTO ${S}.turns (tenant, thread_id, round_number, state, decision, confidence, rigor, dissent,
          taxonomy_intent, taxonomy_category, taxonomy_genus, created_at, completed_at, created_at_iso, completed_at_iso)
        SELECT tenant, id, ${p.round}, ${p.state}::text, ${d(0)}::text, ${d(1)}::float8, ${d(2)}::float8, ${d(3)}::text,
          ${d(4)}::text, ${d(5)}::text, ${d(6)}::text, ${p.createdAt}::text::timestamptz, ${p.completedAt}::text::timestamptz, ${p.createdAt}::text, ${p.completedAt}::text
        FROM thread
        RETURNING tenant, thread_id, round_number`;
};

/** Insert the contributions in JSON parameter `param` (an array of {@link contributionColumns}) under the CTE `turn`. */
const insertContributions = (S: string, param: string) => `INSERT INTO ${S}.contributions (tenant, thread_id, round_number, position, model, role, content, input_tokens,
          output_tokens, cost_usd, latency_ms, finish_reason, truncated, framing, sycophantic, provider_metadata)
        SELECT turn.tenant, turn.thread_id, turn.round_number, c.position, c.model, c.role, c.content, c.input_tokens,
          c.output_tokens, c.cost_usd, c.latency_ms, c.finish_reason, c.truncated, c.framing, c.sycophantic, c.provider_metadata
        FROM turn CROSS JOIN json_to_recordset(${param}::json) AS c(position integer, model text, role text, content text,
          input_tokens bigint, output_tokens bigint, cost_usd float8, latency_ms float8, finish_reason text,
          truncated boolean, framing text, sycophantic boolean, provider_metadata jsonb)`;

/** The statements of one driver instance, with its schema baked in (identifiers only; values are parameters). */
function statements(S: string) {
  return {
    createThread: `INSERT INTO ${S}.threads
        (tenant, id, question, protocol, user_id, status, error, created_at, updated_at, created_at_iso, updated_at_iso, search)
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, 'active', NULL, $6::text::timestamptz, $6::text::timestamptz, $6::text, $6::text,
        to_tsvector('simple', $3::text))`,

    // A new thread and its first round in one statement (one round trip, atomic by itself): the thread row (its
    // search vector from the question and, when the round is committed, its decision), the turn and its
    // contributions. A duplicate id violates the threads primary key and nothing is written.
    startThread: `WITH thread AS (
        INSERT INTO ${S}.threads
          (tenant, id, question, protocol, user_id, status, error, created_at, updated_at, created_at_iso, updated_at_iso, search)
        VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, 'active', NULL, $6::text::timestamptz, $7::text::timestamptz, $6::text, $7::text,
          CASE WHEN $9::text IS NULL THEN to_tsvector('simple', $3::text) ELSE to_tsvector('simple', $3::text) || to_tsvector('simple', $9::text) END)
        RETURNING tenant, id
      ), turn AS (
        ${insertTurn(S, { round: '1', state: '$8', decision: 9, createdAt: '$16', completedAt: '$7' })}
      ), contribution AS (
        ${insertContributions(S, '$17')}
      )
      SELECT count(*)::text AS written FROM turn`,

    // One statement, one round trip, atomic by itself. The UPDATE finds (and locks) the thread in the tenant;
    // when there is none, nothing below inserts anything and the statement reports 0 turns written. A round
    // that exists already violates the turns primary key and the whole statement (thread update included)
    // is rolled back. Concurrent appends to one thread queue on the row lock; each then extends the search
    // vector of the row as the previous one left it.
    appendTurn: `WITH thread AS (
        UPDATE ${S}.threads
           SET updated_at = $4::text::timestamptz, updated_at_iso = $4::text,
               search = CASE WHEN $6::text IS NULL THEN search ELSE search || to_tsvector('simple', $6::text) END
         WHERE tenant = $1::text AND id = $2::text
        RETURNING tenant, id
      ), turn AS (
        ${insertTurn(S, { round: '$3::integer', state: '$5', decision: 6, createdAt: '$13', completedAt: '$4' })}
      ), contribution AS (
        ${insertContributions(S, '$14')}
      )
      SELECT count(*)::text AS written FROM turn`,

    // One phase of a round, in one statement (one round trip), atomic by itself. The thread row is locked first
    // (FOR NO KEY UPDATE, as every write to a thread's rounds takes it), so phases of one thread queue there.
    // PROPOSE ($4) inserts the next round's turn when the latest one is round $3 - 1 at COMMIT (or there is none
    // for round 1): a racing duplicate violates the turns primary key. A later phase moves the latest turn from
    // the state before it ($6) to its own; that condition is on the turn row itself, so PostgreSQL re-checks it
    // on the row's newest version when a concurrent write got there first, and a duplicate updates nothing.
    // Only when a turn was written do the thread (updated_at, and the search vector at COMMIT) and the new
    // contributions (positions after the ones stored, $14) follow; otherwise the statement writes nothing and
    // reports 0.
    appendPhase: `WITH thread AS MATERIALIZED (
        SELECT tenant, id FROM ${S}.threads WHERE tenant = $1::text AND id = $2::text FOR NO KEY UPDATE
      ), latest AS MATERIALIZED (
        SELECT round_number, state FROM ${S}.turns WHERE tenant = $1::text AND thread_id = $2::text
        ORDER BY round_number DESC LIMIT 1
      ), advanced AS (
        UPDATE ${S}.turns tu
           SET state = $4::text, completed_at = $5::text::timestamptz, completed_at_iso = $5::text,
               decision = $7::text, confidence = $8::float8, rigor = $9::float8, dissent = $10::text,
               taxonomy_intent = $11::text, taxonomy_category = $12::text, taxonomy_genus = $13::text
         WHERE tu.tenant = $1::text AND tu.thread_id = $2::text AND tu.round_number = $3::integer AND tu.state = $6::text
           AND $4::text <> 'PROPOSE' AND EXISTS (SELECT 1 FROM thread) AND (SELECT round_number FROM latest) = $3::integer
        RETURNING tu.tenant, tu.thread_id, tu.round_number,
          (SELECT count(*) FROM ${S}.contributions c
           WHERE c.tenant = tu.tenant AND c.thread_id = tu.thread_id AND c.round_number = tu.round_number)::integer AS first
      ), created AS (
        INSERT INTO ${S}.turns (tenant, thread_id, round_number, state, created_at, completed_at, created_at_iso, completed_at_iso)
        SELECT tenant, id, $3::integer, $4::text, $5::text::timestamptz, $5::text::timestamptz, $5::text, $5::text
        FROM thread
        WHERE $4::text = 'PROPOSE' AND coalesce((SELECT round_number FROM latest), 0) = $3::integer - 1
          AND coalesce((SELECT state FROM latest), 'COMMIT') = 'COMMIT'
        RETURNING tenant, thread_id, round_number, 0 AS first
      ), written AS (
        SELECT * FROM advanced UNION ALL SELECT * FROM created
      ), touched AS (
        UPDATE ${S}.threads t
           SET updated_at = $5::text::timestamptz, updated_at_iso = $5::text,
               search = CASE WHEN $7::text IS NULL THEN t.search ELSE t.search || to_tsvector('simple', $7::text) END
         WHERE t.tenant = $1::text AND t.id = $2::text AND EXISTS (SELECT 1 FROM written)
      ), contribution AS (
        INSERT INTO ${S}.contributions (tenant, thread_id, round_number, position, model, role, content, input_tokens,
          output_tokens, cost_usd, latency_ms, finish_reason, truncated, framing, sycophantic, provider_metadata)
        SELECT w.tenant, w.thread_id, w.round_number, w.first + c.position, c.model, c.role, c.content, c.input_tokens,
          c.output_tokens, c.cost_usd, c.latency_ms, c.finish_reason, c.truncated, c.framing, c.sycophantic, c.provider_metadata
        FROM written w CROSS JOIN json_to_recordset($14::json) AS c(position integer, model text, role text, content text,
          input_tokens bigint, output_tokens bigint, cost_usd float8, latency_ms float8, finish_reason text,
          truncated boolean, framing text, sycophantic boolean, provider_metadata jsonb)
      )
      SELECT count(*)::text AS written FROM written`,

    finishThread: `UPDATE ${S}.threads SET status = $3::text, error = $4::text, updated_at = $5::text::timestamptz, updated_at_iso = $5::text
      WHERE tenant = $1::text AND id = $2::text RETURNING 1 AS found`,

    // The sweep's compare-and-set: only a thread still active and untouched since the caller looked.
    failIdleThread: `UPDATE ${S}.threads SET status = 'failed', error = $3::text, updated_at = $4::text::timestamptz, updated_at_iso = $4::text
      WHERE tenant = $1::text AND id = $2::text AND status = 'active' AND updated_at_iso = $5::text RETURNING 1 AS found`,

    getThread: `SELECT ${threadJson(S)}::text AS thread FROM ${S}.threads t WHERE t.tenant = $1::text AND t.id = $2::text`,

    listThreads: `WITH matching AS (
        SELECT id, question, status, protocol, user_id, created_at, created_at_iso, updated_at_iso, seq
        FROM ${S}.threads
        WHERE tenant = $1::text
          AND ($2::text IS NULL OR status = $2::text)
          AND ($3::text IS NULL OR id LIKE $3::text ESCAPE '!')
          AND ($4::text IS NULL OR user_id = $4::text)
      )
      SELECT json_build_array(
        (SELECT count(*) FROM matching),
        (SELECT coalesce(json_agg(json_build_array(p.id, p.question, p.status, p.protocol, p.user_id, p.created_at_iso, p.updated_at_iso)
                  ORDER BY p.created_at DESC, p.seq DESC), '[]')
         FROM (SELECT * FROM matching ORDER BY created_at DESC, seq DESC LIMIT $5::bigint OFFSET $6::bigint) p)
      )::text AS page`,

    deleteThread: `DELETE FROM ${S}.threads WHERE tenant = $1::text AND id = $2::text RETURNING 1 AS found`,

    // Feedback is about the latest round with a decision; giving it again replaces it (created_at is kept).
    saveOutcome: `WITH latest AS (
        SELECT round_number FROM ${S}.turns
        WHERE tenant = $1::text AND thread_id = $2::text AND decision IS NOT NULL
        ORDER BY round_number DESC LIMIT 1
      )
      INSERT INTO ${S}.outcomes (tenant, thread_id, result, notes, round_number, created_at, updated_at, created_at_iso, updated_at_iso)
      SELECT $1::text, $2::text, $3::text, $4::text, round_number, $5::text::timestamptz, $5::text::timestamptz, $5::text, $5::text FROM latest
      ON CONFLICT (tenant, thread_id) DO UPDATE
        SET result = excluded.result, notes = excluded.notes, round_number = excluded.round_number,
            updated_at = excluded.updated_at, updated_at_iso = excluded.updated_at_iso
      RETURNING 1 AS saved`,

    threadExists: `SELECT 1 AS found FROM ${S}.threads WHERE tenant = $1::text AND id = $2::text`,

    // Why a phase was refused (read only then): whether the thread exists, and its latest turn.
    latestTurn: `SELECT (SELECT json_build_array(tu.round_number, tu.state) FROM ${S}.turns tu
        WHERE tu.tenant = t.tenant AND tu.thread_id = t.id ORDER BY tu.round_number DESC LIMIT 1)::text AS latest
      FROM ${S}.threads t WHERE t.tenant = $1::text AND t.id = $2::text`,

    // Ranked full-text recall; when the query has no lexemes (only punctuation) or matches nothing, duh's
    // substring match (newest first, score 0) answers instead, within the same statement.
    search: `WITH q AS (SELECT websearch_to_tsquery('simple', $2::text) AS query),
      ranked AS (
        SELECT t.id, t.question, t.status, t.created_at, t.created_at_iso, t.seq, ts_rank_cd(t.search, q.query) AS score
        FROM ${S}.threads t, q
        WHERE t.tenant = $1::text AND numnode(q.query) > 0 AND t.search @@ q.query
        ORDER BY score DESC, t.created_at DESC, t.seq DESC
        LIMIT $3::bigint
      ),
      substring AS (
        SELECT t.id, t.question, t.status, t.created_at, t.created_at_iso, t.seq, 0::real AS score
        FROM ${S}.threads t
        WHERE t.tenant = $1::text AND NOT EXISTS (SELECT 1 FROM ranked)
          AND (t.question ILIKE $4::text ESCAPE '!' OR EXISTS (
            SELECT 1 FROM ${S}.turns tu WHERE tu.tenant = t.tenant AND tu.thread_id = t.id AND tu.decision ILIKE $4::text ESCAPE '!'))
        ORDER BY t.created_at DESC, t.seq DESC
        LIMIT $3::bigint
      ),
      hits AS (SELECT * FROM ranked UNION ALL SELECT * FROM substring)
      SELECT coalesce(json_agg(json_build_array(h.id, h.question, h.status, h.created_at_iso, d.decision, d.confidence, d.rigor, h.score)
               ORDER BY h.score DESC, h.created_at DESC, h.seq DESC), '[]')::text AS hits
      FROM hits h LEFT JOIN LATERAL (
        SELECT tu.decision, tu.confidence, tu.rigor FROM ${S}.turns tu
        WHERE tu.tenant = $1::text AND tu.thread_id = h.id AND tu.decision IS NOT NULL
        ORDER BY tu.round_number DESC LIMIT 1
      ) d ON true`,

    exportPage: `SELECT ${threadJson(S)}::text AS thread, t.created_at_iso AS cursor_at
      FROM ${S}.threads t
      WHERE ($1::text IS NULL OR t.tenant = $1::text)
        AND ($2::text IS NULL OR (t.created_at, t.seq) > ($2::text::timestamptz, $3::bigint))
      ORDER BY t.created_at, t.seq
      LIMIT $4::bigint`,

    restoreDeleteTenants: `DELETE FROM ${S}.threads WHERE tenant IN (SELECT json_array_elements_text($1::json))`,

    // Restores upsert threads (keeping their place in the listing order) and then replace what hangs off them.
    restoreThreads: `WITH incoming AS (
        SELECT * FROM json_to_recordset($1::json) AS r(tenant text, id text, question text, protocol text, user_id text,
          status text, error text, created_at text, updated_at text)
      ), upserted AS (
        INSERT INTO ${S}.threads (tenant, id, question, protocol, user_id, status, error, created_at, updated_at,
          created_at_iso, updated_at_iso, search)
        SELECT tenant, id, question, protocol, user_id, status, error, created_at::timestamptz, updated_at::timestamptz,
          created_at, updated_at, to_tsvector('simple', question)
        FROM incoming
        ON CONFLICT (tenant, id) DO UPDATE SET question = excluded.question, protocol = excluded.protocol,
          user_id = excluded.user_id, status = excluded.status, error = excluded.error, created_at = excluded.created_at,
          updated_at = excluded.updated_at, created_at_iso = excluded.created_at_iso, updated_at_iso = excluded.updated_at_iso,
          search = excluded.search
        RETURNING 1
      ), old_turns AS (
        DELETE FROM ${S}.turns tu USING incoming i WHERE tu.tenant = i.tenant AND tu.thread_id = i.id RETURNING 1
      ), old_outcomes AS (
        DELETE FROM ${S}.outcomes o USING incoming i WHERE o.tenant = i.tenant AND o.thread_id = i.id RETURNING 1
      ), old_votes AS (
        DELETE FROM ${S}.votes v USING incoming i WHERE v.tenant = i.tenant AND v.thread_id = i.id RETURNING 1
      ), old_subtasks AS (
        DELETE FROM ${S}.subtasks st USING incoming i WHERE st.tenant = i.tenant AND st.thread_id = i.id RETURNING 1
      )
      SELECT (SELECT count(*) FROM upserted)::text AS threads`,

    restoreRounds: `WITH turn AS (
        INSERT INTO ${S}.turns (tenant, thread_id, round_number, state, decision, confidence, rigor, dissent,
          taxonomy_intent, taxonomy_category, taxonomy_genus, created_at, completed_at, created_at_iso, completed_at_iso)
        SELECT tenant, thread_id, round_number, state, decision, confidence, rigor, dissent,
          taxonomy_intent, taxonomy_category, taxonomy_genus, created_at::timestamptz, completed_at::timestamptz, created_at, completed_at
        FROM json_to_recordset($1::json) AS r(tenant text, thread_id text, round_number integer, state text, decision text,
          confidence float8, rigor float8, dissent text, taxonomy_intent text, taxonomy_category text, taxonomy_genus text,
          created_at text, completed_at text)
        RETURNING 1
      ), contribution AS (
        INSERT INTO ${S}.contributions (tenant, thread_id, round_number, position, model, role, content, input_tokens,
          output_tokens, cost_usd, latency_ms, finish_reason, truncated, framing, sycophantic, provider_metadata)
        SELECT tenant, thread_id, round_number, position, model, role, content, input_tokens, output_tokens, cost_usd,
          latency_ms, finish_reason, truncated, framing, sycophantic, provider_metadata
        FROM json_to_recordset($2::json) AS c(tenant text, thread_id text, round_number integer, position integer, model text,
          role text, content text, input_tokens bigint, output_tokens bigint, cost_usd float8, latency_ms float8,
          finish_reason text, truncated boolean, framing text, sycophantic boolean, provider_metadata jsonb)
        RETURNING 1
      ), outcome AS (
        INSERT INTO ${S}.outcomes (tenant, thread_id, result, notes, round_number, created_at, updated_at, created_at_iso, updated_at_iso)
        SELECT tenant, thread_id, result, notes, round_number, created_at::timestamptz, updated_at::timestamptz, created_at, updated_at
        FROM json_to_recordset($3::json) AS o(tenant text, thread_id text, result text, notes text, round_number integer,
          created_at text, updated_at text)
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM turn)::text AS turns`,

    // Rebuild the search vectors of restored threads the way appendTurn builds them (question, then each decision).
    restoreSearch: `UPDATE ${S}.threads t
      SET search = to_tsvector('simple', t.question) || coalesce((
        SELECT ${S}.tsvector_concat_agg(to_tsvector('simple', tu.decision) ORDER BY tu.round_number)
        FROM ${S}.turns tu WHERE tu.tenant = t.tenant AND tu.thread_id = t.id AND tu.decision IS NOT NULL), ''::tsvector)
      FROM json_to_recordset($1::json) AS i(tenant text, id text)
      WHERE t.tenant = i.tenant AND t.id = i.id`,

    // ---- votes and subtasks ----

    // One statement: the UPDATE finds (and locks) the thread in the tenant and moves its updatedAt (when $4 is
    // given); without a thread nothing is inserted and the statement reports 0. Appends to one thread queue on the
    // row lock, and the identity `seq` orders each batch after the previous one.
    saveVotes: `WITH thread AS (
        UPDATE ${S}.threads SET updated_at = coalesce($4::text::timestamptz, updated_at), updated_at_iso = coalesce($4::text, updated_at_iso)
        WHERE tenant = $1::text AND id = $2::text
        RETURNING tenant, id
      ), vote AS (
        INSERT INTO ${S}.votes (tenant, thread_id, model, content, input_tokens, output_tokens, cost_usd, latency_ms, finish_reason,
          truncated, provider_metadata, created_at, created_at_iso)
        SELECT thread.tenant, thread.id, v.model, v.content, v.input_tokens, v.output_tokens, v.cost_usd, v.latency_ms, v.finish_reason,
          v.truncated, v.provider_metadata, v.created_at::timestamptz, v.created_at
        FROM thread CROSS JOIN json_to_recordset($3::json) AS v(position integer, model text, content text, input_tokens bigint,
          output_tokens bigint, cost_usd float8, latency_ms float8, finish_reason text, truncated boolean, provider_metadata jsonb, created_at text)
        ORDER BY v.position
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM thread)::text AS found`,

    // The parent thread, locked for the rest of a saveSubtasks transaction: plans of one thread are checked and
    // written one at a time.
    lockThread: `SELECT 1 AS found FROM ${S}.threads WHERE tenant = $1::text AND id = $2::text FOR UPDATE`,

    subtasksOf: `SELECT coalesce(json_agg(${subtaskJson('st')} ORDER BY st.sequence_order, st.seq), '[]')::text AS subtasks
      FROM ${S}.subtasks st WHERE st.tenant = $1::text AND st.thread_id = $2::text`,

    // Which of the given ids ($2, a JSON array) are threads of the tenant.
    threadsAmong: `SELECT coalesce(json_agg(t.id), '[]')::text AS ids FROM ${S}.threads t
      WHERE t.tenant = $1::text AND t.id IN (SELECT json_array_elements_text($2::json))`,

    insertSubtasks: `WITH subtask AS (
        INSERT INTO ${S}.subtasks (tenant, thread_id, label, description, dependencies, status, sequence_order, child_thread_id,
          created_at, updated_at, created_at_iso, updated_at_iso)
        SELECT $1::text, $2::text, s.label, s.description, s.dependencies, s.status, s.sequence_order, s.child_thread_id,
          s.created_at::timestamptz, s.updated_at::timestamptz, s.created_at, s.updated_at
        FROM json_to_recordset($3::json) AS s(position integer, label text, description text, dependencies jsonb, status text,
          sequence_order bigint, child_thread_id text, created_at text, updated_at text)
        ORDER BY s.position
        RETURNING 1
      )
      UPDATE ${S}.threads SET updated_at = coalesce($4::text::timestamptz, updated_at), updated_at_iso = coalesce($4::text, updated_at_iso)
      WHERE tenant = $1::text AND id = $2::text`,

    // One statement: change the subtask (only when a new child, $7 with $6 true, is a thread of the tenant) and
    // move the thread's updatedAt with it. No row back: no such subtask, or a child that is not there.
    updateSubtask: `WITH target AS (
        UPDATE ${S}.subtasks st SET status = $4::text, updated_at = $5::text::timestamptz, updated_at_iso = $5::text,
          child_thread_id = CASE WHEN $6::boolean THEN $7::text ELSE st.child_thread_id END
        WHERE st.tenant = $1::text AND st.thread_id = $2::text AND st.label = $3::text
          AND (NOT $6::boolean OR $7::text IS NULL OR EXISTS (SELECT 1 FROM ${S}.threads c WHERE c.tenant = $1::text AND c.id = $7::text))
        RETURNING st.*
      ), thread AS (
        UPDATE ${S}.threads SET updated_at = $5::text::timestamptz, updated_at_iso = $5::text
        WHERE tenant = $1::text AND id = $2::text AND EXISTS (SELECT 1 FROM target)
      )
      SELECT ${subtaskJson('target')}::text AS subtask FROM target`,

    subtaskExists: `SELECT 1 AS found FROM ${S}.subtasks WHERE tenant = $1::text AND thread_id = $2::text AND label = $3::text`,

    // Restores write a chunk's votes and subtasks after restoreThreads cleared the old ones (in its own
    // statement, so a label deleted there cannot meet the same label inserted here).
    restoreRecords: `WITH vote AS (
        INSERT INTO ${S}.votes (tenant, thread_id, model, content, input_tokens, output_tokens, cost_usd, latency_ms, finish_reason,
          truncated, provider_metadata, created_at, created_at_iso)
        SELECT v.tenant, v.thread_id, v.model, v.content, v.input_tokens, v.output_tokens, v.cost_usd, v.latency_ms, v.finish_reason,
          v.truncated, v.provider_metadata, v.created_at::timestamptz, v.created_at
        FROM json_to_recordset($1::json) AS v(position integer, tenant text, thread_id text, model text, content text, input_tokens bigint,
          output_tokens bigint, cost_usd float8, latency_ms float8, finish_reason text, truncated boolean, provider_metadata jsonb, created_at text)
        ORDER BY v.position
        RETURNING 1
      ), subtask AS (
        INSERT INTO ${S}.subtasks (tenant, thread_id, label, description, dependencies, status, sequence_order, child_thread_id,
          created_at, updated_at, created_at_iso, updated_at_iso)
        SELECT s.tenant, s.thread_id, s.label, s.description, s.dependencies, s.status, s.sequence_order, s.child_thread_id,
          s.created_at::timestamptz, s.updated_at::timestamptz, s.created_at, s.updated_at
        FROM json_to_recordset($2::json) AS s(position integer, tenant text, thread_id text, label text, description text, dependencies jsonb,
          status text, sequence_order bigint, child_thread_id text, created_at text, updated_at text)
        ORDER BY s.position
        RETURNING 1
      )
      SELECT ((SELECT count(*) FROM vote) + (SELECT count(*) FROM subtask))::text AS written`,

    // ---- identity ----

    createUser: `INSERT INTO ${S}.users (tenant, id, email, display_name, role, password_hash, active, created_at, updated_at)
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::boolean, $8::text, $8::text)`,

    getUser: `SELECT row_to_json(u)::text AS row FROM ${S}.users u WHERE u.tenant = $1::text AND u.id = $2::text`,

    getUserByEmail: `SELECT row_to_json(u)::text AS row FROM ${S}.users u WHERE u.tenant = $1::text AND u.email = $2::text`,

    listUsers: `SELECT json_build_array(
        (SELECT count(*) FROM ${S}.users WHERE tenant = $1::text),
        (SELECT coalesce(json_agg(row_to_json(p) ORDER BY p.created_at, p.id), '[]')
         FROM (SELECT * FROM ${S}.users WHERE tenant = $1::text ORDER BY created_at, id LIMIT $2::bigint OFFSET $3::bigint) p)
      )::text AS page`,

    // Absent fields ($n IS NULL) keep their value; the password hash has its own flag, since null is a value for it.
    // With $9 (ifPasswordHash given), a compare-and-set on the stored hash ($10, null: no password), and with $12
    // (ifSessionsEndedAt given) on sessions_ended_at ($13); either way the statement answers with the user as
    // stored after it.
    updateUser: `WITH changed AS (
        UPDATE ${S}.users u SET role = coalesce($3::text, u.role), display_name = coalesce($4::text, u.display_name),
          active = coalesce($5::boolean, u.active), password_hash = CASE WHEN $6::boolean THEN $7::text ELSE u.password_hash END,
          sessions_ended_at = coalesce($11::text, u.sessions_ended_at), updated_at = $8::text
        WHERE u.tenant = $1::text AND u.id = $2::text AND (NOT $9::boolean OR u.password_hash IS NOT DISTINCT FROM $10::text)
          AND (NOT $12::boolean OR u.sessions_ended_at IS NOT DISTINCT FROM $13::text)
        RETURNING row_to_json(u)::text AS row
      )
      SELECT row FROM changed
      UNION ALL
      SELECT row_to_json(u)::text FROM ${S}.users u WHERE u.tenant = $1::text AND u.id = $2::text AND NOT EXISTS (SELECT 1 FROM changed)`,

    // Inserts nothing when the user is not in the tenant (the caller reports it); a duplicate id violates the key.
    createApiKey: `INSERT INTO ${S}.api_keys (id, tenant, user_id, name, secret_hash, scopes, created_at, expires_at)
      SELECT $2::text, $1::text, $3::text, $4::text, $5::text, $6::jsonb, $7::text, $8::text
      WHERE EXISTS (SELECT 1 FROM ${S}.users WHERE tenant = $1::text AND id = $3::text)
      RETURNING 1 AS created`,

    findApiKey: `SELECT row_to_json(k)::text AS row FROM ${S}.api_keys k WHERE k.id = $1::text`,

    listApiKeys: `SELECT coalesce(json_agg(row_to_json(k) ORDER BY k.created_at DESC, k.id DESC), '[]')::text AS rows
      FROM ${S}.api_keys k WHERE k.tenant = $1::text AND ($2::text IS NULL OR k.user_id = $2::text)`,

    revokeApiKey: `UPDATE ${S}.api_keys k SET revoked_at = coalesce(k.revoked_at, $3::text)
      WHERE k.tenant = $1::text AND k.id = $2::text RETURNING row_to_json(k)::text AS row`,

    touchApiKey: `UPDATE ${S}.api_keys SET last_used_at = $3::text
      WHERE tenant = $1::text AND id = $2::text AND (last_used_at IS NULL OR last_used_at < $3::text)`,

    putProviderKey: `INSERT INTO ${S}.provider_keys (tenant, provider, ciphertext, iv, tag, key_id, created_at, updated_at)
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $7::text)
      ON CONFLICT (tenant, provider) DO UPDATE SET ciphertext = excluded.ciphertext, iv = excluded.iv, tag = excluded.tag,
        key_id = excluded.key_id, updated_at = excluded.updated_at`,

    replaceProviderKey: `UPDATE ${S}.provider_keys SET ciphertext = $3::text, iv = $4::text, tag = $5::text, key_id = $6::text, updated_at = $7::text
      WHERE tenant = $1::text AND provider = $2::text AND ciphertext = $8::text RETURNING 1 AS replaced`,

    getProviderKey: `SELECT row_to_json(p)::text AS row FROM ${S}.provider_keys p WHERE p.tenant = $1::text AND p.provider = $2::text`,

    listProviderKeys: `SELECT coalesce(json_agg(json_build_array(p.tenant, p.provider, p.key_id, p.created_at, p.updated_at) ORDER BY p.tenant, p.provider), '[]')::text AS rows
      FROM ${S}.provider_keys p WHERE $1::text IS NULL OR p.tenant = $1::text`,

    deleteProviderKey: `DELETE FROM ${S}.provider_keys WHERE tenant = $1::text AND provider = $2::text RETURNING 1 AS found`,

    // One statement: advance the tenant's chain head (the upsert locks its row, so appends of one tenant queue
    // here from any connection, and each sees the head the previous one left), hash in SQL exactly as
    // auditCanonicalString() defines it (prevHash LF seq LF body, UTF-8, SHA-256, hex), and insert the entry.
    appendAudit: `WITH head AS (
        INSERT INTO ${S}.audit_heads AS h (tenant, seq, prev_hash, hash)
        VALUES ($1::text, 1, $3::text, encode(sha256(convert_to($3::text || E'\\n1\\n' || $2::text, 'UTF8')), 'hex'))
        ON CONFLICT (tenant) DO UPDATE
          SET seq = h.seq + 1, prev_hash = h.hash,
              hash = encode(sha256(convert_to(h.hash || E'\\n' || (h.seq + 1)::text || E'\\n' || $2::text, 'UTF8')), 'hex')
        RETURNING seq, prev_hash, hash
      )
      INSERT INTO ${S}.audit_events (tenant, seq, id, at, actor, action, resource, outcome, reason, ip, user_agent, details, prev_hash, hash)
      SELECT $1::text, head.seq, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text, $11::text, $12::text, $13::text,
        head.prev_hash, head.hash
      FROM head
      RETURNING seq::text AS seq, prev_hash, hash`,

    listAudit: `SELECT coalesce(json_agg(json_build_array(e.tenant, e.seq, e.id, e.at, e.actor, e.action, e.resource, e.outcome, e.reason, e.ip,
        e.user_agent, e.details, e.prev_hash, e.hash) ORDER BY e.seq), '[]')::text AS rows
      FROM (SELECT * FROM ${S}.audit_events WHERE tenant = $1::text AND seq > $2::bigint ORDER BY seq LIMIT $3::bigint) e`,
  };
}

type Statements = ReturnType<typeof statements>;

/**
 * The statements duh may prepare (with `preparedStatements`): the writes and point reads by primary key, whose
 * generic plan is as good as a custom one. Listing, search, cost and export filters (`$n IS NULL OR ...`) plan
 * better with their values, and restores are rare: those stay unnamed.
 */
const PREPARED_STATEMENTS = [
  'createThread',
  'startThread',
  'appendTurn',
  'appendPhase',
  'finishThread',
  'getThread',
  'deleteThread',
  'saveOutcome',
  'threadExists',
  'getUser',
  'findApiKey',
  'touchApiKey',
  'appendAudit',
] as const satisfies readonly (keyof Statements)[];
type PreparedStatement = (typeof PREPARED_STATEMENTS)[number];

/** A short, stable hash (two 32-bit FNV-1a lanes, 16 hex digits): no runtime dependency, same in every process. */
function shortHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/**
 * The prepared-statement name of each preparable statement: `duh_<hash>_<statement>`, the hash taken over the
 * schema and the statement's text. `pg` caches a name per connection and refuses the same name with another
 * text, and the server keeps a prepared statement for the connection's life: a different schema, or another
 * driver version's SQL, on the same pool therefore gets its own name instead of reusing one.
 */
function preparedStatementNames(schema: string, sql: Pick<Statements, PreparedStatement>): Record<PreparedStatement, string> {
  return Object.fromEntries(PREPARED_STATEMENTS.map((statement) => [statement, `duh_${shortHash(`${schema}\u0000${sql[statement]}`)}_${statement}`])) as Record<PreparedStatement, string>;
}

// Group keys exactly as the core's costRowsOf computes them, over one call `c` (a contribution or a vote; see
// costReportSql). `provider` is parseModelRef(model)?.provider, falling back to the whole ref when it has no
// colon, starts with one or ends with one.
const COST_KEYS: Record<CostGroup, string> = {
  model: 'c.model',
  provider: `CASE WHEN strpos(c.model, ':') <= 1 OR strpos(c.model, ':') = length(c.model) THEN c.model
                  ELSE left(c.model, strpos(c.model, ':') - 1) END`,
  user: `coalesce(c.user_id, 'anonymous')`,
  day: 'left(c.at_iso, 10)',
  tenant: 'c.tenant',
};

// Every stored model call: contributions (timed by their turn's completion) and votes (by their own time). Costs
// are summed in the order the core would add them (threads oldest first; in each, rounds and contributions, then
// votes) and from zero, so the float totals are bit-identical to costRowsOf's. Bounds compare the stored ISO
// text, as the core does. `$1` is the tenant; with `allTenants` it is null and every tenant's calls count.
const costReportSql = (S: string, groupBy: CostGroup, allTenants: boolean) => `SELECT coalesce(json_agg(json_build_array(g.key, g.cost, g.input, g.output, g.calls)), '[]')::text AS rows
  FROM (
    SELECT ${COST_KEYS[groupBy]} AS key,
      0::float8 + sum(c.cost_usd ORDER BY c.thread_created, c.thread_seq, c.kind, c.round_number, c.position) AS cost,
      sum(c.input_tokens) AS input, sum(c.output_tokens) AS output, count(*) AS calls
    FROM (
      SELECT c.tenant, c.model, t.user_id, tu.completed_at_iso AS at_iso, t.created_at AS thread_created, t.seq AS thread_seq,
        0 AS kind, tu.round_number, c.position::bigint AS position, c.cost_usd, c.input_tokens, c.output_tokens
      FROM ${S}.contributions c
      JOIN ${S}.turns tu ON tu.tenant = c.tenant AND tu.thread_id = c.thread_id AND tu.round_number = c.round_number
      JOIN ${S}.threads t ON t.tenant = c.tenant AND t.id = c.thread_id
      ${allTenants ? 'WHERE $1::text IS NULL' : 'WHERE c.tenant = $1::text'}
      UNION ALL
      SELECT v.tenant, v.model, t.user_id, v.created_at_iso, t.created_at, t.seq, 1, 0, v.seq, v.cost_usd, v.input_tokens, v.output_tokens
      FROM ${S}.votes v
      JOIN ${S}.threads t ON t.tenant = v.tenant AND t.id = v.thread_id
      ${allTenants ? 'WHERE $1::text IS NULL' : 'WHERE v.tenant = $1::text'}
    ) c
    WHERE ($2::text IS NULL OR c.at_iso >= $2::text)
      AND ($3::text IS NULL OR c.at_iso <= $3::text)
    GROUP BY 1
  ) g`;

/** `LIKE` pattern text with `!` as the escape character. */
const likeEscape = (text: string) => text.replace(/[!%_]/g, '!$&');

// ---- reading rows back ----

type ContributionTuple = [string, string, string, number, number, number, number, string, boolean, string | null, boolean | null, Json];
type TurnTuple = [number, string, string | null, number | null, number | null, string | null, string | null, string | null, string | null, string, string, ContributionTuple[]];
type OutcomeTuple = [StoredOutcome['result'], string | null, number, string, string];
type VoteTuple = [string, string, number, number, number, number, string, boolean, Json, string];
type SubtaskTuple = [string, string, string[], string, number, string | null, string, string];
type ThreadTuple = [string, string, string, string, string | null, string, string | null, string, string, TurnTuple[], OutcomeTuple | null, string, VoteTuple[], SubtaskTuple[]];

function toVote([model, content, inputTokens, outputTokens, costUsd, latencyMs, finishReason, truncated, metadata, createdAt]: VoteTuple): StoredVote {
  return {
    model: model as StoredVote['model'],
    content,
    inputTokens: Number(inputTokens),
    outputTokens: Number(outputTokens),
    costUsd: Number(costUsd),
    latencyMs: Number(latencyMs),
    finishReason: finishReason as StoredVote['finishReason'],
    truncated,
    ...(metadata === null ? {} : { providerMetadata: metadata as Record<string, unknown> }),
    createdAt,
  };
}

function toSubtask([label, description, dependencies, status, sequenceOrder, childThreadId, createdAt, updatedAt]: SubtaskTuple): StoredSubtask {
  return { label, description, dependencies, status: status as SubtaskStatus, sequenceOrder: Number(sequenceOrder), childThreadId, createdAt, updatedAt };
}

function toContribution([model, role, content, inputTokens, outputTokens, costUsd, latencyMs, finishReason, truncated, framing, sycophantic, metadata]: ContributionTuple): StoredContribution {
  const contribution = {
    model,
    role,
    content,
    inputTokens: Number(inputTokens),
    outputTokens: Number(outputTokens),
    costUsd: Number(costUsd),
    latencyMs: Number(latencyMs),
    finishReason,
    truncated,
  } as StoredContribution;
  if (framing !== null) contribution.framing = framing as NonNullable<StoredContribution['framing']>;
  if (sycophantic !== null) contribution.sycophantic = sycophantic;
  if (metadata !== null) contribution.providerMetadata = metadata as Record<string, unknown>;
  return contribution;
}

function toTurn([roundNumber, state, decision, confidence, rigor, dissent, intent, category, genus, createdAt, completedAt, contributions]: TurnTuple): StoredTurn {
  return {
    roundNumber,
    state: state as StoredTurn['state'],
    contributions: contributions.map(toContribution),
    decision:
      decision === null ? null : (
        {
          content: decision,
          confidence: Number(confidence),
          rigor: Number(rigor),
          dissent,
          taxonomy: intent === null && category === null && genus === null ? null : { intent: intent ?? '', category: category ?? '', genus: genus ?? '' },
        }
      ),
    createdAt,
    completedAt,
  };
}

function toThread([id, tenant, question, protocol, userId, status, error, createdAt, updatedAt, turns, outcome, , votes, subtasks]: ThreadTuple): StoredThread {
  return {
    id,
    question,
    protocol: protocol as StoredThread['protocol'],
    userId,
    createdAt,
    tenant,
    status: status as StoredThread['status'],
    updatedAt,
    error,
    turns: turns.map(toTurn),
    outcome: outcome === null ? null : { result: outcome[0], notes: outcome[1], roundNumber: outcome[2], createdAt: outcome[3], updatedAt: outcome[4] },
    votes: votes.map(toVote),
    subtasks: subtasks.map(toSubtask),
  };
}

// ---- identity rows (read back as JSON: row_to_json keeps column names) ----

interface UserJson {
  tenant: string;
  id: string;
  email: string;
  display_name: string;
  role: string;
  password_hash: string | null;
  active: boolean;
  created_at: string;
  updated_at: string;
  sessions_ended_at?: string | null;
}
interface ApiKeyJson {
  id: string;
  tenant: string;
  user_id: string;
  name: string;
  secret_hash: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}
interface ProviderKeyJson {
  tenant: string;
  provider: string;
  ciphertext: string;
  iv: string;
  tag: string;
  key_id: string;
  created_at: string;
  updated_at: string;
}
type AuditTuple = [string, number, string, string, string | null, string, string, string, string | null, string | null, string | null, string, string, string];

const toUser = (row: UserJson): StoredUser => ({
  id: row.id,
  email: row.email,
  displayName: row.display_name,
  role: row.role,
  passwordHash: row.password_hash,
  active: row.active,
  createdAt: row.created_at,
  tenant: row.tenant,
  updatedAt: row.updated_at,
  ...(typeof row.sessions_ended_at === 'string' ? { sessionsEndedAt: row.sessions_ended_at } : {}),
});
const toApiKey = (row: ApiKeyJson): StoredApiKey => ({
  id: row.id,
  userId: row.user_id,
  name: row.name,
  secretHash: row.secret_hash,
  scopes: row.scopes,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  tenant: row.tenant,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});
const toProviderKey = (row: ProviderKeyJson): StoredProviderKey => ({
  tenant: row.tenant,
  provider: row.provider,
  ciphertext: row.ciphertext,
  iv: row.iv,
  tag: row.tag,
  keyId: row.key_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});
const toAuditEvent = ([tenant, seq, id, at, actor, action, resource, outcome, reason, ip, userAgent, details, prevHash, hash]: AuditTuple): StoredAuditEvent => ({
  tenant,
  seq: Number(seq),
  id,
  at,
  actor,
  action,
  resource,
  outcome: outcome as StoredAuditEvent['outcome'],
  reason,
  ip,
  userAgent,
  details: JSON.parse(details) as StoredAuditEvent['details'],
  prevHash,
  hash,
});

const firstRow = (result: PgQueryResultLike): Row | undefined => result.rows[0] as Row | undefined;
const parsed = <T>(value: unknown): T => JSON.parse(String(value)) as T;

// ---- errors ----

const pgCode = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};
const pgConstraint = (error: unknown): string | undefined => {
  const constraint = (error as { constraint?: unknown } | null)?.constraint;
  return typeof constraint === 'string' ? constraint : undefined;
};

/** `import()` could not find the package (loaders and test runners may wrap that error: follow `cause`). */
function isModuleNotFound(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const code = pgCode(current);
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
  }
  return false;
}

function hintFor(error: unknown): string {
  const code = pgCode(error);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'ECONNRESET' || code?.startsWith('08')) {
    return ' Is PostgreSQL running and reachable? Check `connectionString` (or your pool\'s settings).';
  }
  if (code === '28P01' || code === '28000') return ' Check the user and password in `connectionString` (or your pool\'s settings).';
  if (code === '3D000') return ' The database does not exist: create it, or fix the database name in `connectionString`.';
  if (code === '42501') return ' The database user lacks a privilege: grant it CREATE on the database (for the first migration) and use on the schema, or migrate once as the owner.';
  if (code === '22021' || code === '22P05') return ' PostgreSQL text cannot hold NUL (\\u0000) characters; remove them from the text first.';
  if (code === '22007' || code === '22008') return ' Timestamps must be ISO 8601 strings such as 2026-01-01T00:00:00.000Z.';
  if (code === '53300') return ' PostgreSQL has no free connections: lower `max` (or your pool\'s size) or raise the server\'s max_connections.';
  return '';
}

function storageError(what: string, error: unknown): DuhError {
  if (DuhError.isInstance(error)) return error;
  const message = (error instanceof Error ? error.message : String(error)).replace(/\.\s*$/, '');
  return new StorageError(DRIVER_NAME, `Could not ${what}: ${message}.${hintFor(error)}`, { cause: error });
}

/** Run `body` in one transaction on a dedicated connection; roll back on any error. */
async function transaction<T>(pool: PgPoolLike, body: (client: PgPoolClientLike) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError as Error; // do not hand a connection in an unknown state back to the pool
      });
      throw error;
    }
  } finally {
    client.release(broken ?? false);
  }
}

// ---- the driver ----

type OwnedPool = PgPoolLike & { on(event: 'error', listener: (error: Error) => void): unknown };
type PgModule = { Pool?: new (config: { connectionString: string; max: number }) => OwnedPool; default?: PgModule };

/**
 * Create a PostgreSQL storage driver.
 *
 * @throws {InvalidOptionError} at once when the options are wrong (neither or both of `pool` and
 *   `connectionString`, a bad `schema` or `max`)
 * @throws {MissingDependencyError} on first use when only `connectionString` is given and `pg` is not installed
 */
export function postgresStorage(options: PostgresStorageOptions): StorageDriver {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', options, 'postgresStorage() needs options: `{ pool }` or `{ connectionString }`.');
  }
  const { pool: givenPool, connectionString, schema = 'duh', max, preparedStatements } = options;
  if (givenPool !== undefined && connectionString !== undefined) {
    throw new InvalidOptionError('pool', givenPool, 'Pass either `pool` or `connectionString` to postgresStorage(), not both.');
  }
  if (givenPool === undefined && connectionString === undefined) {
    throw new InvalidOptionError('pool', givenPool, 'postgresStorage() needs a `pool` (a pg Pool you own) or a `connectionString`.');
  }
  if (givenPool !== undefined && typeof givenPool !== 'function' && (typeof givenPool !== 'object' || givenPool === null || typeof givenPool.query !== 'function' || typeof givenPool.connect !== 'function')) {
    throw new InvalidOptionError('pool', givenPool, 'The `pool` option must be a pg Pool (with query() and connect()) or an async function returning one.');
  }
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString.trim() === '')) {
    throw new InvalidOptionError('connectionString', connectionString, 'The `connectionString` option must be a non-empty string like postgres://user@host:5432/db.');
  }
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema) || schema.toLowerCase().startsWith('pg_')) {
    throw new InvalidOptionError('schema', schema, `The \`schema\` option must be a plain identifier (letters, digits, _; at most 63; not starting with pg_), received ${JSON.stringify(schema)}.`);
  }
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    throw new InvalidOptionError('max', max, `The \`max\` option must be a positive integer, received ${String(max)}.`);
  }
  if (preparedStatements !== undefined && typeof preparedStatements !== 'boolean') {
    throw new InvalidOptionError('preparedStatements', preparedStatements, `The \`preparedStatements\` option must be true or false, received ${JSON.stringify(preparedStatements)}.`);
  }
  if (max !== undefined && connectionString === undefined) {
    throw new InvalidOptionError('max', max, 'The `max` option sizes the pool duh creates from `connectionString`; size your own pool where you create it.');
  }

  const S = `"${schema}"`;
  const sql = statements(S);
  const ownsPool = connectionString !== undefined;
  // duh's own pool is pg's, which takes named statements; a pool passed in may sit behind a transaction-mode
  // pooler (or not be pg at all), so it opts in.
  const names = (preparedStatements ?? ownsPool) ? preparedStatementNames(schema, sql) : undefined;
  /** Run one of the driver's statements, named (prepared) when `preparedStatements` is on. */
  const query = (pool: PgPoolLike, statement: PreparedStatement, values: unknown[]): Promise<PgQueryResultLike> =>
    names ? pool.query({ name: names[statement], text: sql[statement], values }) : pool.query(sql[statement], values);
  let poolPromise: Promise<PgPoolLike> | undefined;
  let readyPromise: Promise<PgPoolLike> | undefined;
  let closed = false;

  const getPool = (): Promise<PgPoolLike> =>
    (poolPromise ??= (async () => {
      if (typeof givenPool === 'function') {
        const pool = await givenPool();
        if (typeof pool?.query !== 'function' || typeof pool.connect !== 'function') {
          throw new InvalidOptionError('pool', pool, 'The `pool` function must resolve to a pg Pool (with query() and connect()).');
        }
        return pool;
      }
      if (givenPool !== undefined) return givenPool;
      let module: PgModule;
      try {
        module = (await import('pg')) as unknown as PgModule;
      } catch (error) {
        if (isModuleNotFound(error)) {
          throw new MissingDependencyError('pg', 'postgresStorage({ connectionString })', 'pass your own pool with the `pool` option', { cause: error });
        }
        throw error;
      }
      const Pool = module.Pool ?? module.default?.Pool;
      if (typeof Pool !== 'function') throw new StorageError(DRIVER_NAME, 'The installed `pg` package has no Pool export; install pg 8 (`npm install pg@8`).');
      const created = new Pool({ connectionString: connectionString!, max: max ?? 10 });
      // An idle connection that dies (server restart, network cut) makes pg emit `error` on the pool, which
      // would crash the process without a listener. The pool drops that connection; the next query reconnects
      // or fails with a StorageError.
      created.on('error', () => {});
      return created;
    })().catch((error: unknown) => {
      poolPromise = undefined; // let a later call retry (e.g. after installing pg)
      throw error;
    }));

  /** Bring the schema to the latest version: cheap read first, then the locked migration only when behind. */
  const migrateOnce = async (pool: PgPoolLike): Promise<void> => {
    const table = `${S}.duh_migrations`;
    const current = firstRow(await pool.query(`SELECT to_regclass($1::text) IS NOT NULL AS present`, [table]));
    if (current?.['present'] === true || current?.['present'] === 't') {
      const version = firstRow(await pool.query(`SELECT coalesce(max(version), 0)::text AS version FROM ${table}`));
      if (Number(version?.['version']) >= POSTGRES_SCHEMA_VERSION) return;
    }
    await transaction(pool, async (client) => {
      // Serialises concurrent migrators of this schema (other processes, other drivers); released at COMMIT.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))', [`duh.migrate:${schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const applied = new Set((await client.query(`SELECT version FROM ${table}`)).rows.map((row) => Number((row as Row)['version'])));
      for (const migration of migrations(S)) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.statements) await client.query(statement);
        await client.query(`INSERT INTO ${table} (version, name) VALUES ($1::integer, $2::text)`, [migration.version, migration.name]);
      }
    });
  };

  // Under load, a migrator that queued on the lock while another one migrated can still meet that work as a
  // catalog conflict (seen as a unique violation on pg_namespace from CREATE SCHEMA IF NOT EXISTS). A new
  // transaction always sees the other migrator's commit, so start over: the fast path then finds the schema current.
  const CONCURRENT_DDL = new Set(['23505', '42P06', '42P07', '42710', '42723', '42P01', '3F000']);
  const migrate = async (pool: PgPoolLike): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await migrateOnce(pool);
      } catch (error) {
        if (attempt >= 3 || !CONCURRENT_DDL.has(pgCode(error) ?? '')) throw error;
      }
    }
  };

  const ready = (): Promise<PgPoolLike> => {
    if (closed) return Promise.reject(new StorageError(DRIVER_NAME, 'This storage driver is closed; create a new postgresStorage() to keep using the database.'));
    return (readyPromise ??= (async () => {
      const pool = await getPool();
      try {
        await migrate(pool);
      } catch (error) {
        throw storageError(`prepare schema ${schema}`, error);
      }
      return pool;
    })().catch((error: unknown) => {
      readyPromise = undefined; // a later call tries again (e.g. once the server is back)
      throw error;
    }));
  };

  /** Run one operation with the pool, turning anything thrown into a StorageError that says what failed. */
  const run = async <T>(what: string, operation: (pool: PgPoolLike) => Promise<T>): Promise<T> => {
    const pool = await ready();
    try {
      return await operation(pool);
    } catch (error) {
      throw storageError(what, error);
    }
  };

  /** A unique violation on creating thread `id` as the StorageError that says so; any other error as it is. */
  const duplicateThread = (id: string, error: unknown) =>
    pgCode(error) === '23505' ? new StorageError(DRIVER_NAME, `Thread \`${id}\` already exists; thread ids must be unique.`, { cause: error }) : error;

  const missingThread = (id: string) => new StorageError(DRIVER_NAME, `Thread \`${id}\` does not exist; create it with createThread() first.`);

  return {
    specificationVersion: 'v1',
    name: DRIVER_NAME,

    async createThread(scope: StorageScope, thread: NewThread): Promise<void> {
      await run(`create thread ${thread.id}`, async (pool) => {
        try {
          await query(pool, 'createThread', [scope.tenant, thread.id, thread.question, thread.protocol, thread.userId ?? null, thread.createdAt]);
        } catch (error) {
          throw duplicateThread(thread.id, error);
        }
      });
    },

    async startThread(scope: StorageScope, thread: NewThread, first: StoredTurn): Promise<void> {
      const problem = firstTurnProblem(first);
      if (problem) throw new StorageError(DRIVER_NAME, `Thread \`${String(thread?.id)}\` cannot start with that round: ${problem}. Nothing was written.`);
      await run(`create thread ${thread.id} with its first round`, async (pool) => {
        try {
          await query(pool, 'startThread', [
            scope.tenant,
            thread.id,
            thread.question,
            thread.protocol,
            thread.userId ?? null,
            thread.createdAt,
            first.completedAt,
            first.state,
            ...decisionColumns(first.decision),
            first.createdAt,
            JSON.stringify(first.contributions.map(contributionColumns)),
          ]);
        } catch (error) {
          throw duplicateThread(thread.id, error);
        }
      });
    },

    async appendTurn(scope, threadId, turn): Promise<void> {
      await run(`save round ${turn.roundNumber} of thread ${threadId}`, async (pool) => {
        const contributions = turn.contributions.map(contributionColumns);
        const decision = turn.decision;
        let result: PgQueryResultLike;
        try {
          result = await query(pool, 'appendTurn', [
            scope.tenant,
            threadId,
            turn.roundNumber,
            turn.completedAt,
            turn.state,
            ...decisionColumns(decision),
            turn.createdAt,
            JSON.stringify(contributions),
          ]);
        } catch (error) {
          if (pgCode(error) === '23505' && pgConstraint(error) === 'turns_pkey') {
            throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` already has round ${turn.roundNumber}; rounds are written once.`, { cause: error });
          }
          throw error;
        }
        if (Number(firstRow(result)?.['written']) !== 1) throw missingThread(threadId);
      });
    },

    async appendPhase(scope, threadId, phase): Promise<void> {
      const cannot = (problem: string, cause?: unknown) =>
        new StorageError(
          DRIVER_NAME,
          `Thread \`${threadId}\` cannot take the ${String(phase?.state)} phase of round ${String(phase?.roundNumber)}: ${problem}. Nothing was written.`,
          cause === undefined ? undefined : { cause },
        );
      const shape = phaseShapeProblem(phase);
      if (shape) throw cannot(shape);
      const { roundNumber: round, state, decision } = phase;
      await run(`save the ${state} phase of round ${round} of thread ${threadId}`, async (pool) => {
        let result: PgQueryResultLike;
        try {
          result = await query(pool, 'appendPhase', [
            scope.tenant,
            threadId,
            round,
            state,
            phase.at,
            TURN_STATES[TURN_STATES.indexOf(state) - 1] ?? null,
            ...decisionColumns(decision),
            JSON.stringify(phase.contributions.map(contributionColumns)),
          ]);
        } catch (error) {
          // Two PROPOSE writes of one round raced: the second meets the first's turn row.
          if (pgCode(error) === '23505' && pgConstraint(error) === 'turns_pkey') throw cannot(`round ${round} is already stored; each phase is written once`, error);
          throw error;
        }
        if (Number(firstRow(result)?.['written']) === 1) return;
        // Nothing written: say why (a second query, on this path only).
        const found = firstRow(await pool.query(sql.latestTurn, [scope.tenant, threadId]));
        if (!found) throw missingThread(threadId);
        const latest = found['latest'] == null ? undefined : parsed<[number, string]>(found['latest']);
        const why = phaseOrderProblem(latest && { roundNumber: Number(latest[0]), state: latest[1] }, phase);
        throw cannot(why ?? `another write to the thread got there first (${latest ? `the latest turn is now round ${latest[0]} at ${latest[1]}` : 'it has no turns'})`);
      });
    },

    async finishThread(scope, threadId, outcome): Promise<void> {
      await run(`close thread ${threadId}`, async (pool) => {
        const result = await query(pool, 'finishThread', [scope.tenant, threadId, outcome.status, outcome.error ?? null, outcome.at]);
        if (result.rows.length === 0) throw missingThread(threadId);
      });
    },

    async failIdleThread(scope, threadId, outcome): Promise<boolean> {
      return run(`mark idle thread ${threadId} failed`, async (pool) => {
        const result = await pool.query(sql.failIdleThread, [scope.tenant, threadId, outcome.error, outcome.at, outcome.idleSince]);
        return result.rows.length === 1;
      });
    },

    async getThread(scope, id): Promise<StoredThread | null> {
      return run(`read thread ${id}`, async (pool) => {
        const row = firstRow(await query(pool, 'getThread', [scope.tenant, id]));
        return row ? toThread(parsed<ThreadTuple>(row['thread'])) : null;
      });
    },

    async listThreads(scope, query: ThreadQuery): Promise<ThreadPage> {
      return run('list threads', async (pool) => {
        const row = firstRow(
          await pool.query(sql.listThreads, [
            scope.tenant,
            query.status ?? null,
            query.idPrefix === undefined ? null : `${likeEscape(query.idPrefix)}%`,
            query.userId ?? null,
            query.limit,
            query.offset,
          ]),
        );
        const [total, threads] = parsed<[number, [string, string, string, string, string | null, string, string][]]>(row?.['page']);
        return {
          threads: threads.map(
            ([id, question, status, protocol, userId, createdAt, updatedAt]): ThreadSummary => ({
              id,
              question,
              status: status as ThreadSummary['status'],
              protocol: protocol as ThreadSummary['protocol'],
              userId,
              createdAt,
              updatedAt,
            }),
          ),
          total: Number(total),
        };
      });
    },

    async deleteThread(scope, id): Promise<boolean> {
      return run(`delete thread ${id}`, async (pool) => (await query(pool, 'deleteThread', [scope.tenant, id])).rows.length > 0);
    },

    async saveOutcome(scope, threadId, outcome): Promise<void> {
      await run(`save feedback on thread ${threadId}`, async (pool) => {
        const saved = await query(pool, 'saveOutcome', [scope.tenant, threadId, outcome.result, outcome.notes, outcome.at]);
        if (saved.rows.length > 0) return;
        // Nothing written: tell a missing thread from one without a decision (a second query, on this path only).
        if ((await query(pool, 'threadExists', [scope.tenant, threadId])).rows.length === 0) throw missingThread(threadId);
        throw new StorageError(DRIVER_NAME, `Thread \`${threadId}\` has no decision yet; feedback needs a committed round.`);
      });
    },

    async search(scope, query, { limit }): Promise<RecallHit[]> {
      return run('search threads', async (pool) => {
        // PostgreSQL text cannot carry NUL; in a search query it can only be noise.
        const text = query.replaceAll('\u0000', ' ');
        const row = firstRow(await pool.query(sql.search, [scope.tenant, text, limit, `%${likeEscape(text)}%`]));
        return parsed<[string, string, string, string, string | null, number | null, number | null, number][]>(row?.['hits']).map(
          ([threadId, question, status, createdAt, decision, confidence, rigor, score]): RecallHit => ({
            threadId,
            question,
            status: status as RecallHit['status'],
            createdAt,
            decision,
            confidence: confidence === null ? null : Number(confidence),
            rigor: rigor === null ? null : Number(rigor),
            score: Number(score),
          }),
        );
      });
    },

    async costReport(scope: StorageScope | 'all', query): Promise<CostRow[]> {
      if (!Object.hasOwn(COST_KEYS, query.groupBy)) {
        throw new StorageError(DRIVER_NAME, `Cannot group costs by ${JSON.stringify(query.groupBy)}; use model, provider, user, day or tenant.`);
      }
      return run('report costs', async (pool) => {
        const all = scope === 'all';
        const row = firstRow(await pool.query(costReportSql(S, query.groupBy, all), [all ? null : scope.tenant, query.since ?? null, query.until ?? null]));
        const rows = parsed<[string, number, number, number, number][]>(row?.['rows']).map(
          ([key, costUsd, inputTokens, outputTokens, calls]): CostRow => ({
            key,
            costUsd: Number(costUsd),
            inputTokens: Number(inputTokens),
            outputTokens: Number(outputTokens),
            calls: Number(calls),
          }),
        );
        // The tie-break is JavaScript's localeCompare (ICU), which no SQL collation is guaranteed to reproduce:
        // sort the (few) groups here with the core's exact comparator.
        return rows.sort((a, b) => b.costUsd - a.costUsd || a.key.localeCompare(b.key));
      });
    },

    async *exportThreads(scope): AsyncIterable<StoredThread> {
      const tenant = scope === 'all' ? null : scope.tenant;
      // Keyset pages, oldest first: each page is one statement, so every thread is read whole and consistent.
      let cursor: [string, string] | null = null;
      for (;;) {
        const after: [string, string] | null = cursor;
        const rows: Row[] = await run('export threads', async (pool): Promise<Row[]> =>
          (await pool.query(sql.exportPage, [tenant, after?.[0] ?? null, after?.[1] ?? null, THREADS_PER_EXPORT_PAGE])).rows as Row[],
        );
        for (const row of rows) {
          const tuple = parsed<ThreadTuple>(row['thread']);
          cursor = [String(row['cursor_at']), tuple[11]];
          yield toThread(tuple);
        }
        if (rows.length < THREADS_PER_EXPORT_PAGE) return;
      }
    },

    async importThreads(threads, { mode }): Promise<{ threads: number }> {
      if (mode !== 'merge' && mode !== 'replace') throw new StorageError(DRIVER_NAME, `Unknown restore mode ${JSON.stringify(mode)}; use merge or replace.`);
      // Check the shape first so a bad record writes nothing (the database checks the rest, in the transaction).
      for (const [index, thread] of threads.entries()) {
        if (!thread || typeof thread.id !== 'string' || typeof thread.tenant !== 'string' || !Array.isArray(thread.turns)) {
          throw new StorageError(DRIVER_NAME, `Backup record ${index + 1} is not a thread (needs id, tenant and turns); nothing was restored.`);
        }
        for (const turn of thread.turns) {
          if (!turn || typeof turn !== 'object' || !Number.isInteger(turn.roundNumber) || !Array.isArray(turn.contributions)) {
            throw new StorageError(DRIVER_NAME, `Backup record ${index + 1} (thread \`${thread.id}\`) has a turn without an integer roundNumber and a contributions array; nothing was restored.`);
          }
        }
        const problem = recordsProblem(thread);
        if (problem) throw new StorageError(DRIVER_NAME, `Backup record ${index + 1} (thread \`${thread.id}\`) cannot be restored: ${problem}; nothing was restored.`);
      }
      // The same thread twice: the last copy wins, in the place of the first (as a Map would keep it).
      const unique = new Map<string, StoredThread>();
      for (const thread of threads) unique.set(`${thread.tenant}\u0000${thread.id}`, thread);
      const records = [...unique.values()];
      try {
        await run('restore the backup', (pool) =>
          transaction(pool, async (client) => {
            if (mode === 'replace') await client.query(sql.restoreDeleteTenants, [JSON.stringify([...new Set(records.map((thread) => thread.tenant))])]);
            for (let start = 0; start < records.length; start += RECORDS_PER_RESTORE_STATEMENT) {
              const chunk = records.slice(start, start + RECORDS_PER_RESTORE_STATEMENT);
              const keys = JSON.stringify(chunk.map((thread) => ({ tenant: thread.tenant, id: thread.id })));
              await client.query(sql.restoreThreads, [JSON.stringify(chunk.map(threadRecord))]);
              await client.query(sql.restoreRounds, [
                JSON.stringify(chunk.flatMap((thread) => thread.turns.map((turn) => turnRecord(thread, turn)))),
                JSON.stringify(chunk.flatMap((thread) => thread.turns.flatMap((turn) => turn.contributions.map((contribution, position) => contributionRecord(thread, turn, contribution, position))))),
                JSON.stringify(chunk.flatMap((thread) => (thread.outcome ? [outcomeRecord(thread, thread.outcome)] : []))),
              ]);
              await client.query(sql.restoreSearch, [keys]);
              // Votes and subtasks (absent in a backup older than them: none); restoreThreads cleared the old ones.
              const votes = chunk.flatMap((thread) => (thread.votes ?? []).map((vote) => ({ tenant: thread.tenant, thread_id: thread.id, ...voteColumns(vote) })));
              const subtasks = chunk.flatMap((thread) =>
                subtasksInOrder(thread.subtasks ?? []).map((subtask) => ({ tenant: thread.tenant, thread_id: thread.id, ...subtaskColumns(subtask) })),
              );
              if (votes.length > 0 || subtasks.length > 0) {
                await client.query(sql.restoreRecords, [JSON.stringify(votes.map((vote, position) => ({ ...vote, position }))), JSON.stringify(subtasks.map((subtask, position) => ({ ...subtask, position })))]);
              }
            }
          }),
        );
      } catch (error) {
        if (StorageError.isInstance(error)) {
          throw new StorageError(DRIVER_NAME, `${error.message.replace(/^\[postgres\] /, '')} Nothing was restored.`, { cause: error.cause ?? error });
        }
        throw error;
      }
      return { threads: threads.length };
    },

    // ---- votes and subtasks ----

    async saveVotes(scope: StorageScope, threadId: string, votes: readonly StoredVote[]): Promise<void> {
      const problem = Array.isArray(votes) ? votes.map(voteProblem).find((each) => each !== undefined) : 'votes must be an array';
      if (problem) throw new StorageError(DRIVER_NAME, `Cannot save votes on thread \`${threadId}\`: ${problem}. Nothing was written.`);
      await run(`save votes on thread ${threadId}`, async (pool) => {
        const rows = votes.map((vote, position) => ({ position, ...voteColumns(vote) }));
        const result = await pool.query(sql.saveVotes, [scope.tenant, threadId, JSON.stringify(rows), latestTimestamp(votes.map((vote) => vote.createdAt)) ?? null]);
        if (Number(firstRow(result)?.['found']) !== 1) throw missingThread(threadId);
      });
    },

    async saveSubtasks(scope: StorageScope, threadId: string, subtasks: readonly StoredSubtask[]): Promise<void> {
      const cannot = (why: string) => new StorageError(DRIVER_NAME, `Cannot save the subtasks of thread \`${threadId}\`: ${why}. Nothing was written.`);
      await run(`save the subtasks of thread ${threadId}`, (pool) =>
        transaction(pool, async (client) => {
          if ((await client.query(sql.lockThread, [scope.tenant, threadId])).rows.length === 0) throw missingThread(threadId);
          const stored = parsed<SubtaskTuple[]>(firstRow(await client.query(sql.subtasksOf, [scope.tenant, threadId]))?.['subtasks']).map(toSubtask);
          const problem = subtaskPlanProblem(stored, subtasks);
          if (problem) throw cannot(problem);
          const children = [...new Set(subtasks.flatMap((subtask) => (subtask.childThreadId === null ? [] : [subtask.childThreadId])))];
          const found = new Set(children.length ? parsed<string[]>(firstRow(await client.query(sql.threadsAmong, [scope.tenant, JSON.stringify(children)]))?.['ids']) : []);
          for (const subtask of subtasks) {
            const child = subtask.childThreadId;
            if (child === threadId) throw cannot(`subtask \`${subtask.label}\` cannot have its own parent thread as \`childThreadId\``);
            if (child !== null && !found.has(child)) throw cannot(`subtask \`${subtask.label}\` names \`${child}\` as \`childThreadId\`, which is not a thread of this tenant`);
          }
          const rows = subtasks.map((subtask, position) => ({ position, ...subtaskColumns(subtask) }));
          await client.query(sql.insertSubtasks, [scope.tenant, threadId, JSON.stringify(rows), latestTimestamp(subtasks.map((subtask) => subtask.updatedAt)) ?? null]);
        }),
      );
    },

    async updateSubtask(scope: StorageScope, threadId: string, label: string, update): Promise<StoredSubtask | null> {
      const cannot = (why: string) => new StorageError(DRIVER_NAME, `Cannot update subtask \`${label}\` of thread \`${threadId}\`: ${why}. Nothing was written.`);
      if (!SUBTASK_STATUSES.includes(update?.status)) throw cannot(`\`status\` must be one of ${SUBTASK_STATUSES.join(', ')}`);
      if (typeof update.at !== 'string' || update.at === '') throw cannot('`at` must be an ISO timestamp');
      const child = update.childThreadId;
      if (child !== undefined && child !== null && (typeof child !== 'string' || child === '')) throw cannot('`childThreadId` must be a thread id or null');
      if (child === threadId) throw cannot('it cannot have its own parent thread as `childThreadId`');
      return run(`update subtask ${label} of thread ${threadId}`, async (pool) => {
        const row = firstRow(await pool.query(sql.updateSubtask, [scope.tenant, threadId, label, update.status, update.at, child !== undefined, child ?? null]));
        if (row) return toSubtask(parsed<SubtaskTuple>(row['subtask']));
        // Nothing changed: tell an unknown subtask (null) from a child that is not a thread of the tenant.
        if ((await pool.query(sql.subtaskExists, [scope.tenant, threadId, label])).rows.length === 0) return null;
        throw cannot(`it names \`${String(child)}\` as \`childThreadId\`, which is not a thread of this tenant`);
      });
    },

    async createUser(scope, user: NewUser): Promise<void> {
      await run(`create user ${String(user?.id)}`, async (pool) => {
        try {
          await pool.query(sql.createUser, [scope.tenant, user.id, user.email, user.displayName, user.role, user.passwordHash ?? null, user.active, user.createdAt]);
        } catch (error) {
          if (pgCode(error) === '23505' && pgConstraint(error) === 'users_email_unique') {
            throw new StorageError(DRIVER_NAME, `Another user of this tenant already has the email \`${user.email}\`; emails are unique per tenant.`, { cause: error });
          }
          if (pgCode(error) === '23505') throw new StorageError(DRIVER_NAME, `User \`${user.id}\` already exists; user ids must be unique.`, { cause: error });
          throw error;
        }
      });
    },

    async getUser(scope, id): Promise<StoredUser | null> {
      return run(`read user ${id}`, async (pool) => {
        const row = firstRow(await query(pool, 'getUser', [scope.tenant, id]));
        return row ? toUser(parsed<UserJson>(row['row'])) : null;
      });
    },

    async getUserByEmail(scope, email): Promise<StoredUser | null> {
      return run('read a user by email', async (pool) => {
        const row = firstRow(await pool.query(sql.getUserByEmail, [scope.tenant, email]));
        return row ? toUser(parsed<UserJson>(row['row'])) : null;
      });
    },

    async listUsers(scope, page): Promise<UserPage> {
      return run('list users', async (pool) => {
        const [total, users] = parsed<[number, UserJson[]]>(firstRow(await pool.query(sql.listUsers, [scope.tenant, page.limit, page.offset]))?.['page']);
        return { total: Number(total), users: users.map(toUser) };
      });
    },

    async updateUser(scope, id, update: UserUpdate): Promise<StoredUser | null> {
      return run(`update user ${id}`, async (pool) => {
        const row = firstRow(
          await pool.query(sql.updateUser, [
            scope.tenant,
            id,
            update.role ?? null,
            update.displayName ?? null,
            update.active ?? null,
            update.passwordHash !== undefined,
            update.passwordHash ?? null,
            update.at,
            update.ifPasswordHash !== undefined,
            update.ifPasswordHash ?? null,
            update.sessionsEndedAt ?? null,
            update.ifSessionsEndedAt !== undefined,
            update.ifSessionsEndedAt ?? null,
          ]),
        );
        return row ? toUser(parsed<UserJson>(row['row'])) : null;
      });
    },

    async createApiKey(scope, key: NewApiKey): Promise<void> {
      if (!Array.isArray(key?.scopes) || !key.scopes.every((each) => typeof each === 'string')) {
        throw new StorageError(DRIVER_NAME, 'Cannot create the API key: `scopes` must be an array of strings. Nothing was written.');
      }
      await run(`create API key ${String(key.id)}`, async (pool) => {
        let result: PgQueryResultLike;
        try {
          result = await pool.query(sql.createApiKey, [scope.tenant, key.id, key.userId, key.name, key.secretHash, JSON.stringify(key.scopes), key.createdAt, key.expiresAt ?? null]);
        } catch (error) {
          if (pgCode(error) === '23505') throw new StorageError(DRIVER_NAME, `API key \`${key.id}\` already exists; key ids must be unique across tenants.`, { cause: error });
          throw error;
        }
        if (result.rows.length === 0) throw new StorageError(DRIVER_NAME, `User \`${key.userId}\` does not exist in this tenant; create the user before its keys.`);
      });
    },

    async findApiKey(id): Promise<StoredApiKey | null> {
      return run('look up an API key', async (pool) => {
        const row = firstRow(await query(pool, 'findApiKey', [id]));
        return row ? toApiKey(parsed<ApiKeyJson>(row['row'])) : null;
      });
    },

    async listApiKeys(scope, filter = {}): Promise<StoredApiKey[]> {
      return run('list API keys', async (pool) => parsed<ApiKeyJson[]>(firstRow(await pool.query(sql.listApiKeys, [scope.tenant, filter.userId ?? null]))?.['rows']).map(toApiKey));
    },

    async revokeApiKey(scope, id, at): Promise<StoredApiKey | null> {
      return run(`revoke API key ${id}`, async (pool) => {
        const row = firstRow(await pool.query(sql.revokeApiKey, [scope.tenant, id, at]));
        return row ? toApiKey(parsed<ApiKeyJson>(row['row'])) : null;
      });
    },

    async touchApiKey(scope, id, at): Promise<void> {
      await run(`record a use of API key ${id}`, (pool) => query(pool, 'touchApiKey', [scope.tenant, id, at]));
    },

    async putProviderKey(scope, key: ProviderKeyWrite, options: ProviderKeyPutOptions = {}): Promise<boolean> {
      for (const field of ['provider', 'ciphertext', 'iv', 'tag', 'keyId', 'at'] as const) {
        if (typeof key?.[field] !== 'string' || key[field] === '') throw new StorageError(DRIVER_NAME, `Cannot store the provider key: \`${field}\` must be a non-empty string. Nothing was written.`);
      }
      return run(`store the ${key.provider} key`, async (pool) => {
        const values = [scope.tenant, key.provider, key.ciphertext, key.iv, key.tag, key.keyId, key.at];
        if (options.ifCiphertext === undefined) {
          await pool.query(sql.putProviderKey, values);
          return true;
        }
        return (await pool.query(sql.replaceProviderKey, [...values, options.ifCiphertext])).rows.length > 0;
      });
    },

    async getProviderKey(scope, provider): Promise<StoredProviderKey | null> {
      return run(`read the ${provider} key`, async (pool) => {
        const row = firstRow(await pool.query(sql.getProviderKey, [scope.tenant, provider]));
        return row ? toProviderKey(parsed<ProviderKeyJson>(row['row'])) : null;
      });
    },

    async listProviderKeys(scope): Promise<ProviderKeyInfo[]> {
      return run('list provider keys', async (pool) =>
        parsed<[string, string, string, string, string][]>(firstRow(await pool.query(sql.listProviderKeys, [scope === 'all' ? null : scope.tenant]))?.['rows']).map(
          ([tenant, provider, keyId, createdAt, updatedAt]): ProviderKeyInfo => ({ tenant, provider, keyId, createdAt, updatedAt }),
        ),
      );
    },

    async deleteProviderKey(scope, provider): Promise<boolean> {
      return run(`delete the ${provider} key`, async (pool) => (await pool.query(sql.deleteProviderKey, [scope.tenant, provider])).rows.length > 0);
    },

    async appendAudit(scope, entry: AuditEntryInput): Promise<StoredAuditEvent> {
      const problem = auditEntryProblem(entry);
      if (problem) throw new StorageError(DRIVER_NAME, `Cannot append the audit entry: ${problem}. Nothing was written.`);
      const event = auditEventOf(scope.tenant, auditEventId(Date.parse(entry.at)), entry);
      return run('append to the audit log', async (pool) => {
        const row = firstRow(
          await query(pool, 'appendAudit', [
            scope.tenant,
            auditCanonicalBody(event),
            AUDIT_GENESIS_HASH,
            event.id,
            event.at,
            event.actor,
            event.action,
            event.resource,
            event.outcome,
            event.reason,
            event.ip,
            event.userAgent,
            JSON.stringify(event.details),
          ]),
        );
        if (!row) throw new StorageError(DRIVER_NAME, 'The audit append returned no row; nothing is known to be written.');
        return { ...event, seq: Number(row['seq']), prevHash: String(row['prev_hash']), hash: String(row['hash']) };
      });
    },

    async listAudit(scope, page): Promise<StoredAuditEvent[]> {
      return run('read the audit log', async (pool) => parsed<AuditTuple[]>(firstRow(await pool.query(sql.listAudit, [scope.tenant, page.afterSeq ?? 0, page.limit]))?.['rows']).map(toAuditEvent));
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (!ownsPool || poolPromise === undefined) return;
      const pool = await poolPromise.catch(() => undefined);
      await pool?.end();
    },
  };
}

// ---- restore records (JSON for json_to_recordset; keys are the column names) ----

const threadRecord = (thread: StoredThread) => ({
  tenant: thread.tenant,
  id: thread.id,
  question: thread.question,
  protocol: thread.protocol,
  user_id: thread.userId ?? null,
  status: thread.status,
  error: thread.error ?? null,
  created_at: thread.createdAt,
  updated_at: thread.updatedAt,
});

const turnRecord = (thread: StoredThread, turn: StoredTurn) => ({
  tenant: thread.tenant,
  thread_id: thread.id,
  round_number: turn.roundNumber,
  state: turn.state ?? 'COMMIT',
  decision: turn.decision?.content ?? null,
  confidence: turn.decision?.confidence ?? null,
  rigor: turn.decision?.rigor ?? null,
  dissent: turn.decision?.dissent ?? null,
  taxonomy_intent: turn.decision?.taxonomy?.intent ?? null,
  taxonomy_category: turn.decision?.taxonomy?.category ?? null,
  taxonomy_genus: turn.decision?.taxonomy?.genus ?? null,
  created_at: turn.createdAt,
  completed_at: turn.completedAt,
});

/** A contribution's columns (as JSON for `json_to_recordset`), shared by round writes and restores. */
const contributionColumns = (contribution: StoredContribution, position: number) => ({
  position,
  model: contribution.model,
  role: contribution.role,
  content: contribution.content,
  input_tokens: contribution.inputTokens,
  output_tokens: contribution.outputTokens,
  cost_usd: contribution.costUsd,
  latency_ms: contribution.latencyMs,
  finish_reason: contribution.finishReason,
  truncated: contribution.truncated,
  framing: contribution.framing ?? null,
  sycophantic: contribution.sycophantic ?? null,
  provider_metadata: contribution.providerMetadata ?? null,
});

const contributionRecord = (thread: StoredThread, turn: StoredTurn, contribution: StoredContribution, position: number) => ({
  tenant: thread.tenant,
  thread_id: thread.id,
  round_number: turn.roundNumber,
  ...contributionColumns(contribution, position),
});

const outcomeRecord = (thread: StoredThread, outcome: StoredOutcome) => ({
  tenant: thread.tenant,
  thread_id: thread.id,
  result: outcome.result,
  notes: outcome.notes ?? null,
  round_number: outcome.roundNumber,
  created_at: outcome.createdAt,
  updated_at: outcome.updatedAt,
});

/** A vote's columns (as JSON for `json_to_recordset`), shared by saveVotes and restores. */
const voteColumns = (vote: StoredVote) => ({
  model: vote.model,
  content: vote.content,
  input_tokens: vote.inputTokens,
  output_tokens: vote.outputTokens,
  cost_usd: vote.costUsd,
  latency_ms: vote.latencyMs,
  finish_reason: vote.finishReason,
  truncated: vote.truncated,
  provider_metadata: vote.providerMetadata ?? null,
  created_at: vote.createdAt,
});

/** A subtask's columns (as JSON for `json_to_recordset`), shared by saveSubtasks and restores. */
const subtaskColumns = (subtask: StoredSubtask) => ({
  label: subtask.label,
  description: subtask.description,
  dependencies: subtask.dependencies,
  status: subtask.status,
  sequence_order: subtask.sequenceOrder,
  child_thread_id: subtask.childThreadId ?? null,
  created_at: subtask.createdAt,
  updated_at: subtask.updatedAt,
});

/** What is wrong with a backup thread's votes and subtasks (absent ones are none), or undefined. */
function recordsProblem(thread: StoredThread): string | undefined {
  const { votes, subtasks } = thread as Partial<StoredThread>;
  if (votes !== undefined && !Array.isArray(votes)) return '`votes` must be an array';
  for (const vote of votes ?? []) {
    const problem = voteProblem(vote);
    if (problem) return problem;
  }
  if (subtasks !== undefined && !Array.isArray(subtasks)) return '`subtasks` must be an array';
  return subtaskPlanProblem([], subtasks ?? []);
}
