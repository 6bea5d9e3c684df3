// duh/storage/postgres against a real PostgreSQL (127.0.0.1:5432, database `test`; CI starts it). Every case
// works in a schema of its own (duh_test_<random>), dropped at the end, so files and runs never share data.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError, MissingDependencyError, StorageError } from '../../src/errors.js';
import { costRowsOf } from '../../src/records.js';
import type { CostGroup, StorageDriver, StoredContribution, StoredThread, StoredTurn, TurnPhase } from '../../src/storage.js';
import { storageDriverConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { type PgPoolLike, type PgQueryConfigLike, POSTGRES_SCHEMA_VERSION, postgresStorage } from '../../storage/postgres.js';

const URL = process.env['DUH_TEST_POSTGRES_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/test';
const ACME = { tenant: 'acme' };
const GLOBEX = { tenant: 'globex' };

let pool: pg.Pool;
const pools: pg.Pool[] = [];
const schemas = new Set<string>();

/** A fresh schema name, dropped after the file. */
const freshSchema = () => {
  const schema = `duh_test_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  schemas.add(schema);
  return schema;
};
/** An extra pool (a second "process"), ended after its test so parallel runs stay within max_connections. */
const extraPool = (options: pg.PoolConfig = {}) => {
  const created = new pg.Pool({ connectionString: URL, max: 2, ...options });
  pools.push(created);
  return created;
};

/** Why PostgreSQL cannot be used, when it cannot: every test then fails with it (never a silent skip). */
let unavailable: Error | undefined;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: URL, max: 4 });
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    unavailable = new Error(
      `PostgreSQL is not answering at ${URL} (${(error as Error).message}). These tests need a real PostgreSQL 15 with trust auth and a \`test\` database: ` +
        'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point DUH_TEST_POSTGRES_URL at one.',
    );
  }
});

beforeEach(() => {
  if (unavailable) throw unavailable;
});

afterEach(async () => {
  for (const extra of pools.splice(0)) await extra.end();
});

afterAll(async () => {
  if (unavailable) return void (await pool.end().catch(() => {}));
  try {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
});

// ---- fixtures ----

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second, 250)).toISOString();
let counter = 0;
const newId = () => `${(++counter).toString(16).padStart(8, '0')}-aaaa-7bbb-8ccc-${randomUUID().slice(-12)}`;

const contribution = (overrides: Partial<StoredContribution> = {}): StoredContribution => ({
  model: 'anthropic:claude-opus-4-6',
  role: 'proposer',
  content: 'A proposal.',
  inputTokens: 100,
  outputTokens: 200,
  costUsd: 0.01,
  latencyMs: 12.5,
  finishReason: 'stop',
  truncated: false,
  ...overrides,
});

const turn = (round: number, decision: string | null = `decision ${round}`, overrides: Partial<StoredTurn> = {}): StoredTurn => ({
  roundNumber: round,
  state: 'COMMIT',
  contributions: [contribution(), contribution({ model: 'openai:gpt-5.2', role: 'challenger', content: 'A challenge.', framing: 'flaw', sycophantic: false })],
  decision: decision === null ? null : { content: decision, confidence: 0.8, rigor: 0.5, dissent: null, taxonomy: { intent: 'technical', category: 'db', genus: '' } },
  createdAt: at(100 + round),
  completedAt: at(100 + round),
  ...overrides,
});

/** A pool that records every statement sent through it (pool.query and dedicated clients alike), and its name when named. */
function recordingPool(inner: PgPoolLike) {
  const calls: { via: 'pool' | 'client'; text: string; name?: string }[] = [];
  const record = (via: 'pool' | 'client', textOrConfig: string | PgQueryConfigLike) =>
    calls.push(typeof textOrConfig === 'string' ? { via, text: textOrConfig } : { via, text: textOrConfig.text, name: textOrConfig.name });
  const wrapped: PgPoolLike = {
    query: (textOrConfig, values) => {
      record('pool', textOrConfig);
      return inner.query(textOrConfig, values);
    },
    connect: async () => {
      const client = await inner.connect();
      return {
        query: (textOrConfig, values) => {
          record('client', textOrConfig);
          return client.query(textOrConfig, values);
        },
        release: (error) => client.release(error),
      };
    },
    end: () => inner.end(),
  };
  return { pool: wrapped, calls };
}

/** duh_migrations rows of a fully migrated schema. */
const ALL_VERSIONS = Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, index) => ({ version: index + 1 }));

const rowCount = async (schema: string, table: string) => Number((await pool.query(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0].n);

// ---- the contract ----

describe('postgresStorage conforms to the storage driver contract (a fresh schema per case; a second pool as the other connection)', () => {
  const schemaOf = new WeakMap<StorageDriver, string>();
  const create = () => {
    const schema = freshSchema();
    const driver = postgresStorage({ pool, schema });
    schemaOf.set(driver, schema);
    return driver;
  };
  for (const check of storageDriverConformance({ create, reopen: (driver) => postgresStorage({ pool: extraPool(), schema: schemaOf.get(driver)! }) })) it(check.name, check.run);
});

describe('postgresStorage conforms to the storage driver contract with preparedStatements: true', () => {
  for (const check of storageDriverConformance({ create: () => postgresStorage({ pool, schema: freshSchema(), preparedStatements: true }) })) it(check.name, check.run);
});

describe('postgresStorage options', () => {
  it('validates its options at construction, naming the option', () => {
    const invalid = (make: () => unknown, option: string, message: RegExp) => {
      let error: unknown;
      try {
        make();
      } catch (caught) {
        error = caught;
      }
      expect(InvalidOptionError.isInstance(error), String(error)).toBe(true);
      expect((error as InvalidOptionError).option).toBe(option);
      expect((error as Error).message).toMatch(message);
    };
    invalid(() => postgresStorage({}), 'pool', /needs a `pool`.*or a `connectionString`/);
    invalid(() => postgresStorage({ pool, connectionString: URL }), 'pool', /either `pool` or `connectionString`/);
    invalid(() => postgresStorage({ pool: {} as PgPoolLike }), 'pool', /must be a pg Pool/);
    invalid(() => postgresStorage({ connectionString: ' ' }), 'connectionString', /non-empty string/);
    invalid(() => postgresStorage({ pool, schema: 'bad"name' }), 'schema', /plain identifier/);
    invalid(() => postgresStorage({ pool, schema: 'pg_catalog' }), 'schema', /not starting with pg_/);
    invalid(() => postgresStorage({ pool, schema: 'x'.repeat(64) }), 'schema', /at most 63/);
    invalid(() => postgresStorage({ connectionString: URL, max: 0 }), 'max', /positive integer/);
    invalid(() => postgresStorage({ pool, max: 5 }), 'max', /size your own pool/);
    invalid(() => postgresStorage({ pool, preparedStatements: 'yes' as unknown as boolean }), 'preparedStatements', /true or false/);
  });

  it('accepts a real pg.Pool as PgPoolLike (structural typing, no dependency on pg types)', () => {
    const typed: PgPoolLike = pool;
    expect(postgresStorage({ pool: typed }).name).toBe('postgres');
  });
});

// ---- migrations ----

describe('migrations', () => {
  it('creates the schema on first use and applies each migration once, however many drivers open it', async () => {
    const schema = freshSchema();
    const first = postgresStorage({ pool, schema });
    const threadId = newId();
    await first.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(1) });
    await first.appendTurn(ACME, threadId, turn(1));
    const second = postgresStorage({ pool, schema });
    expect((await second.getThread(ACME, threadId))?.turns).toHaveLength(1);
    const third = postgresStorage({ pool, schema });
    await third.listThreads(ACME, { limit: 1, offset: 0 });
    const migrations = await pool.query(`SELECT version, name FROM "${schema}".duh_migrations ORDER BY version`);
    expect(migrations.rows).toEqual([
      { version: 1, name: 'threads, turns, contributions, outcomes' },
      { version: 2, name: 'users, api keys, provider keys, audit log' },
      { version: 3, name: 'votes, subtasks' },
      { version: 4, name: 'users: when their sessions were last ended' },
    ]);
    const tables = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema]);
    expect(tables.rows.map((row: { table_name: string }) => row.table_name)).toEqual([
      'api_keys',
      'audit_events',
      'audit_heads',
      'contributions',
      'duh_migrations',
      'outcomes',
      'provider_keys',
      'subtasks',
      'threads',
      'turns',
      'users',
      'votes',
    ]);
  });

  it('a driver opening an up-to-date schema only reads the version: no DDL, no lock, no dedicated connection', async () => {
    const schema = freshSchema();
    await postgresStorage({ pool, schema }).listThreads(ACME, { limit: 1, offset: 0 });
    const { pool: recorded, calls } = recordingPool(pool);
    await postgresStorage({ pool: recorded, schema }).listThreads(ACME, { limit: 1, offset: 0 });
    expect(calls.map((call) => call.via)).toEqual(['pool', 'pool', 'pool']);
    expect(calls.some((call) => /CREATE (SCHEMA|TABLE|INDEX|AGGREGATE)|pg_advisory/.test(call.text))).toBe(false);
  });

  it('is safe when several drivers on separate pools migrate the same new schema at the same moment', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const schema = freshSchema();
      const drivers = [extraPool(), extraPool(), extraPool(), pool].map((each) => postgresStorage({ pool: each, schema }));
      const ids = drivers.map(() => newId());
      // Every driver's first operation migrates; they all start together.
      await Promise.all(drivers.map((driver, index) => driver.createThread(ACME, { id: ids[index]!, question: `q${index}`, protocol: 'consensus', userId: null, createdAt: at(index) })));
      const migrations = await pool.query(`SELECT version FROM "${schema}".duh_migrations ORDER BY version`);
      expect(migrations.rows).toEqual(ALL_VERSIONS);
      expect((await drivers[0]!.listThreads(ACME, { limit: 10, offset: 0 })).total).toBe(4);
    }
  });

  it('a driver queued on the migration lock behind another migrator finds its work done (no duplicate schema)', async () => {
    // Staged deterministically, as seen under load: hold the lock, queue driver A, then driver B (both have
    // looked the schema up and begun their transaction), release. A migrates and commits while B still waits;
    // B then meets A's schema and must not fail on it.
    const schema = freshSchema();
    const holder = await pool.connect();
    // Waiters on this schema's migration lock only (an advisory bigint key shows as classid = high, objid = low 32 bits).
    const queued = async () =>
      Number(
        (
          await pool.query(
            `SELECT count(*) AS n FROM pg_locks l, (SELECT hashtextextended($1::text, 0) AS k) h
             WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
               AND l.classid::text::bigint = ((h.k >> 32) & 4294967295) AND l.objid::text::bigint = (h.k & 4294967295)`,
            [`duh.migrate:${schema}`],
          )
        ).rows[0].n,
      );
    const waitFor = async (count: number) => {
      for (let attempt = 0; attempt < 300 && (await queued()) < count; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await queued()).toBe(count);
    };
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))', [`duh.migrate:${schema}`]);
      const [a, b] = [postgresStorage({ pool: extraPool({ max: 1 }), schema }), postgresStorage({ pool: extraPool({ max: 1 }), schema })];
      const first = a.listThreads(ACME, { limit: 1, offset: 0 });
      await waitFor(1);
      const second = b.listThreads(ACME, { limit: 1, offset: 0 });
      await waitFor(2);
      await holder.query('ROLLBACK');
      await expect(first).resolves.toEqual({ threads: [], total: 0 });
      await expect(second).resolves.toEqual({ threads: [], total: 0 });
      expect((await pool.query(`SELECT version FROM "${schema}".duh_migrations ORDER BY version`)).rows).toEqual(ALL_VERSIONS);
    } finally {
      holder.release();
    }
  });

  it('starts the migration over when it meets a concurrent migrator\'s objects (the catalog conflict seen under load)', async () => {
    // Under CPU load, a migrator queued on the lock behind another one occasionally failed CREATE SCHEMA IF NOT
    // EXISTS with a unique violation on pg_namespace. Stage exactly that error once: another "process" creates
    // and migrates the schema, then this driver's own CREATE SCHEMA fails as it did.
    const schema = freshSchema();
    let staged = false;
    const racing: PgPoolLike = {
      query: (text, values) => pool.query(text, values),
      end: async () => {},
      connect: async () => {
        const client = await pool.connect();
        return {
          query: async (textOrConfig, values) => {
            const text = typeof textOrConfig === 'string' ? textOrConfig : textOrConfig.text;
            // Before this driver takes the lock, the other process migrates the whole schema and commits.
            if (!staged && text.includes('pg_advisory_xact_lock')) await postgresStorage({ pool: extraPool(), schema }).listThreads(ACME, { limit: 1, offset: 0 });
            if (!staged && text.startsWith('CREATE SCHEMA')) {
              staged = true;
              throw Object.assign(new Error('duplicate key value violates unique constraint "pg_namespace_nspname_index"'), { code: '23505', constraint: 'pg_namespace_nspname_index' });
            }
            return client.query(textOrConfig, values);
          },
          release: (error) => client.release(error),
        };
      },
    };
    const driver = postgresStorage({ pool: racing, schema });
    await expect(driver.listThreads(ACME, { limit: 1, offset: 0 })).resolves.toEqual({ threads: [], total: 0 });
    expect(staged).toBe(true);
    expect((await pool.query(`SELECT version FROM "${schema}".duh_migrations ORDER BY version`)).rows).toEqual(ALL_VERSIONS);
  });

  it('retries the migration after a failure instead of caching the error', async () => {
    const schema = freshSchema();
    let failNext = true;
    const flaky: PgPoolLike = {
      query: (text, values) => (failNext ? ((failNext = false), Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))) : pool.query(text, values)),
      connect: () => pool.connect(),
      end: async () => {},
    };
    const driver = postgresStorage({ pool: flaky, schema });
    const error = await driver.listThreads(ACME, { limit: 1, offset: 0 }).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/Could not prepare schema duh_test_\w+: connect ECONNREFUSED.*Is PostgreSQL running and reachable\?/);
    await expect(driver.listThreads(ACME, { limit: 1, offset: 0 })).resolves.toEqual({ threads: [], total: 0 });
  });
});

// ---- one round trip per record ----

describe('round trips', () => {
  it('appendTurn, startThread and every other write are exactly one statement on the pool after migration (no BEGIN/COMMIT, no dedicated connection)', async () => {
    const { pool: recorded, calls } = recordingPool(pool);
    const driver = postgresStorage({ pool: recorded, schema: freshSchema() });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: 'alice', createdAt: at(1) });
    const perOperation: Record<string, number> = {};
    const count = async (name: string, operation: () => Promise<unknown>) => {
      calls.length = 0;
      await operation();
      perOperation[name] = calls.length;
      expect(calls.every((call) => call.via === 'pool'), `${name} used a dedicated connection`).toBe(true);
    };
    const six = Array.from({ length: 6 }, (_, index) => contribution({ content: `contribution ${index} `.repeat(100) }));
    await count('appendTurn', () => driver.appendTurn(ACME, threadId, turn(1, 'decision one', { contributions: six })));
    await count('appendTurn (round 2)', () => driver.appendTurn(ACME, threadId, turn(2)));
    await count('createThread', () => driver.createThread(ACME, { id: newId(), question: 'Other?', protocol: 'consensus', userId: null, createdAt: at(2) }));
    await count('startThread', () => driver.startThread!(ACME, { id: newId(), question: 'Started?', protocol: 'consensus', userId: null, createdAt: at(3) }, turn(1, 'started', { contributions: six })));
    const idle = newId();
    await driver.createThread(ACME, { id: idle, question: 'Idle?', protocol: 'consensus', userId: null, createdAt: at(4) });
    await count('failIdleThread', () => driver.failIdleThread!(ACME, idle, { idleSince: at(4), error: 'Interrupted.', at: at(299) }));
    await count('finishThread', () => driver.finishThread(ACME, threadId, { status: 'complete', at: at(300) }));
    await count('saveOutcome', () => driver.saveOutcome(ACME, threadId, { result: 'success', notes: null, at: at(301) }));
    await count('getThread', () => driver.getThread(ACME, threadId));
    await count('listThreads', () => driver.listThreads(ACME, { limit: 10, offset: 0, status: 'complete' }));
    await count('search', () => driver.search!(ACME, 'decision', { limit: 10 }));
    await count('costReport', () => driver.costReport!(ACME, { groupBy: 'model' }));
    await count('deleteThread', () => driver.deleteThread(ACME, threadId));
    expect(perOperation).toEqual({
      appendTurn: 1,
      'appendTurn (round 2)': 1,
      createThread: 1,
      startThread: 1,
      failIdleThread: 1,
      finishThread: 1,
      saveOutcome: 1,
      getThread: 1,
      listThreads: 1,
      search: 1,
      costReport: 1,
      deleteThread: 1,
    });
    expect((await pool.query(`SELECT count(*)::int AS n FROM pg_prepared_xacts`)).rows[0].n).toBe(0);
  });
});

// ---- prepared (named) statements ----

describe('preparedStatements', () => {
  const NAMED = ['createThread', 'appendTurn', 'finishThread', 'saveOutcome', 'getThread', 'deleteThread'] as const;
  const NAME = /^duh_[0-9a-f]{16}_(\w+)$/;

  /** Every driver operation once, with the names (or undefined) of the statements each sent. */
  const exercise = async (driver: StorageDriver, calls: { name?: string }[]) => {
    await driver.listThreads(ACME, { limit: 1, offset: 0 }); // migrate first
    const threadId = newId();
    const names: Record<string, (string | undefined)[]> = {};
    const step = async (operation: string, body: () => Promise<unknown>) => {
      calls.length = 0;
      await body();
      names[operation] = calls.map((call) => call.name);
    };
    await step('createThread', () => driver.createThread(ACME, { id: threadId, question: 'Prepared?', protocol: 'consensus', userId: null, createdAt: at(1) }));
    await step('appendTurn', () => driver.appendTurn(ACME, threadId, turn(1)));
    await step('finishThread', () => driver.finishThread(ACME, threadId, { status: 'complete', at: at(300) }));
    await step('saveOutcome', () => driver.saveOutcome(ACME, threadId, { result: 'success', notes: null, at: at(301) }));
    await step('getThread', () => driver.getThread(ACME, threadId));
    await step('listThreads', () => driver.listThreads(ACME, { limit: 10, offset: 0 }));
    await step('search', () => driver.search!(ACME, 'decision', { limit: 10 }));
    await step('costReport', () => driver.costReport!(ACME, { groupBy: 'model' }));
    await step('deleteThread', () => driver.deleteThread(ACME, threadId));
    return names;
  };

  it('when on, sends the writes and point reads as named statements, one name per statement, and the rest unnamed', async () => {
    const { pool: recorded, calls } = recordingPool(pool);
    const names = await exercise(postgresStorage({ pool: recorded, schema: freshSchema(), preparedStatements: true }), calls);
    for (const operation of NAMED) {
      expect(names[operation], operation).toHaveLength(1);
      expect(names[operation]![0], operation).toMatch(NAME);
      expect(NAME.exec(names[operation]![0]!)![1], operation).toBe(operation);
    }
    // Filters of the form `$n IS NULL OR ...` plan better with their values: not prepared.
    expect({ listThreads: names['listThreads'], search: names['search'], costReport: names['costReport'] }).toEqual({ listThreads: [undefined], search: [undefined], costReport: [undefined] });
  });

  it('when off (explicitly, or by default with a pool passed in), names nothing', async () => {
    for (const preparedStatements of [false, undefined]) {
      const { pool: recorded, calls } = recordingPool(pool);
      const names = await exercise(postgresStorage({ pool: recorded, schema: freshSchema(), ...(preparedStatements === undefined ? {} : { preparedStatements }) }), calls);
      expect(Object.values(names).flat().filter((name) => name !== undefined), String(preparedStatements)).toEqual([]);
    }
  });

  it('names are unique per schema and SQL text: two schemas on one connection each prepare their own, a second driver of a schema reuses them', async () => {
    const single = extraPool({ max: 1 }); // one connection: every statement below meets the same server session
    const [schemaA, schemaB] = [freshSchema(), freshSchema()];
    const { pool: recorded, calls } = recordingPool(single);
    const seen = async (schema: string) => {
      calls.length = 0;
      const driver = postgresStorage({ pool: recorded, schema, preparedStatements: true });
      const threadId = newId();
      await driver.createThread(ACME, { id: threadId, question: `In ${schema}?`, protocol: 'consensus', userId: null, createdAt: at(1) });
      await driver.appendTurn(ACME, threadId, turn(1));
      expect((await driver.getThread(ACME, threadId))?.question).toBe(`In ${schema}?`);
      return calls.flatMap((call) => (call.name ? [call.name] : []));
    };
    const a = await seen(schemaA);
    const b = await seen(schemaB);
    const again = await seen(schemaA);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(new Set([...a, ...b]).size).toBe(6); // another schema never reuses a name (pg would refuse it: other text)
    expect(again).toEqual(a); // stable: the same schema and SQL give the same names
    const prepared = (await single.query(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'duh!_%' ESCAPE '!' ORDER BY name`)).rows.map((row: { name: string }) => row.name);
    expect(prepared).toEqual([...a, ...b].sort());
  });

  it('defaults to on for the pool duh creates from a connection string (prepared on its connection), off when told so', async () => {
    const created: pg.Pool[] = [];
    vi.resetModules();
    vi.doMock('pg', async () => {
      const actual = (await vi.importActual<{ default: typeof pg }>('pg')).default;
      class Pool extends actual.Pool {
        constructor(config: pg.PoolConfig) {
          super(config);
          created.push(this);
        }
      }
      return { default: { ...actual, Pool }, Pool };
    });
    try {
      const { postgresStorage: fresh } = await import('../../storage/postgres.js');
      const preparedOn = async (options: { preparedStatements?: boolean }) => {
        const driver = fresh({ connectionString: URL, schema: freshSchema(), max: 1, ...options });
        const threadId = newId();
        await driver.createThread(ACME, { id: threadId, question: 'Owned?', protocol: 'consensus', userId: null, createdAt: at(1) });
        await driver.appendTurn(ACME, threadId, turn(1));
        await driver.finishThread(ACME, threadId, { status: 'complete', at: at(300) });
        expect((await driver.getThread(ACME, threadId))?.status).toBe('complete');
        // max: 1, so this is the connection that ran the statements above.
        const { rows } = await created.at(-1)!.query(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'duh!_%' ESCAPE '!' ORDER BY name`);
        await driver.close!();
        return rows.map((row: { name: string }) => NAME.exec(row.name)?.[1]).sort();
      };
      expect(await preparedOn({})).toEqual(['appendTurn', 'createThread', 'finishThread', 'getThread']);
      expect(await preparedOn({ preparedStatements: false })).toEqual([]);
    } finally {
      vi.doUnmock('pg');
      vi.resetModules();
    }
  });
});

// ---- identity tables ----

describe('identity tables (schema version 2)', () => {
  it('upgrades a version-1 schema in place: threads survive and the identity tables appear', async () => {
    const schema = freshSchema();
    const first = postgresStorage({ pool, schema });
    const threadId = newId();
    await first.createThread(ACME, { id: threadId, question: 'before the upgrade', protocol: 'consensus', userId: null, createdAt: at(1) });
    await pool.query(`DROP TABLE "${schema}".votes, "${schema}".subtasks, "${schema}".audit_events, "${schema}".audit_heads, "${schema}".provider_keys, "${schema}".api_keys, "${schema}".users`);
    await pool.query(`DROP FUNCTION "${schema}".audit_events_append_only()`);
    await pool.query(`DELETE FROM "${schema}".duh_migrations WHERE version >= 2`);
    const upgraded = postgresStorage({ pool, schema });
    expect((await upgraded.getThread(ACME, threadId))?.question).toBe('before the upgrade');
    expect((await upgraded.appendAudit!(ACME, { at: at(2), actor: null, action: 'run:start', resource: `thread:${threadId}`, outcome: 'success' })).seq).toBe(1);
    expect((await pool.query(`SELECT version FROM "${schema}".duh_migrations ORDER BY version`)).rows).toEqual(ALL_VERSIONS);
  });

  it('appends an audit entry in exactly one statement on the pool (no transaction, no dedicated connection)', async () => {
    const { pool: recorded, calls } = recordingPool(pool);
    const driver = postgresStorage({ pool: recorded, schema: freshSchema() });
    await driver.listAudit!(ACME, { limit: 1 }); // migrate
    calls.length = 0;
    await driver.appendAudit!(ACME, { at: at(1), actor: 'u', action: 'run:start', resource: 'thread:x', outcome: 'success' });
    expect(calls.map((call) => [call.via, call.text.trim().split(/\s+/)[0]])).toEqual([['pool', 'WITH']]);
  });

  it('three pools (three processes) appending 60 entries at once form one unbroken chain per tenant', async () => {
    const schema = freshSchema();
    const drivers = [extraPool(), extraPool(), extraPool()].map((each) => postgresStorage({ pool: each, schema }));
    await Promise.all(drivers.map((driver) => driver.listAudit!(ACME, { limit: 1 })));
    await Promise.all(
      Array.from({ length: 60 }, (_, index) =>
        drivers[index % 3]!.appendAudit!(index % 4 === 0 ? GLOBEX : ACME, { at: at(index), actor: `p${index % 3}`, action: 'run:start', resource: `thread:${index}`, outcome: 'success', details: { index } }),
      ),
    );
    const { verifyAuditChain } = await import('../../src/identity/audit.js');
    expect(await verifyAuditChain(drivers[0]!, ACME)).toMatchObject({ ok: true, entries: 45 });
    expect(await verifyAuditChain(drivers[1]!, GLOBEX)).toMatchObject({ ok: true, entries: 15 });
    const heads = (await pool.query(`SELECT tenant, seq::int AS seq FROM "${schema}".audit_heads ORDER BY tenant`)).rows;
    expect(heads).toEqual([{ tenant: 'acme', seq: 45 }, { tenant: 'globex', seq: 15 }]);
  });

  it('keeps the audit log when threads are deleted or a tenant is restored with replace', async () => {
    const driver = postgresStorage({ pool, schema: freshSchema() });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(1) });
    await driver.appendAudit!(ACME, { at: at(1), actor: null, action: 'run:start', resource: `thread:${threadId}`, outcome: 'success' });
    await driver.deleteThread(ACME, threadId);
    await driver.importThreads([], { mode: 'replace' });
    expect((await driver.listAudit!(ACME, { limit: 10 })).map((event) => event.resource)).toEqual([`thread:${threadId}`]);
  });
});

// ---- appendTurn atomicity and concurrency ----

describe('appendTurn', () => {
  it('appends different rounds of one thread concurrently from two pools (two processes), each once, all searchable', async () => {
    const schema = freshSchema();
    const [one, two] = [postgresStorage({ pool: extraPool(), schema }), postgresStorage({ pool: extraPool(), schema })];
    const threadId = newId();
    await one.createThread(ACME, { id: threadId, question: 'Which queue?', protocol: 'consensus', userId: null, createdAt: at(1) });
    await two.listThreads(ACME, { limit: 1, offset: 0 }); // both migrated and warm
    const rounds = Array.from({ length: 12 }, (_, index) => index + 1);
    await Promise.all(rounds.map((round) => (round % 2 ? one : two).appendTurn(ACME, threadId, turn(round, `Use queue${round}x for round ${round}`))));
    const read = await one.getThread(ACME, threadId);
    expect(read?.turns.map((stored) => stored.roundNumber)).toEqual(rounds);
    for (const stored of read!.turns) expect(stored).toEqual(turn(stored.roundNumber, `Use queue${stored.roundNumber}x for round ${stored.roundNumber}`));
    expect(await rowCount(schema, 'contributions')).toBe(24);
    // Each append extended the thread's search vector from the row the previous one left (none was lost).
    for (const round of rounds) {
      const hits = await two.search!(ACME, `queue${round}x`, { limit: 5 });
      expect(hits.map((hit) => [hit.threadId, hit.score > 0]), `round ${round}`).toEqual([[threadId, true]]);
    }
  });

  it('rejects a duplicate round as a whole: no turn, contribution, timestamp or search text of it is written', async () => {
    const schema = freshSchema();
    const driver = postgresStorage({ pool, schema });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(1) });
    await driver.appendTurn(ACME, threadId, turn(1));
    const before = await driver.getThread(ACME, threadId);
    const vectorBefore = (await pool.query(`SELECT search::text AS v FROM "${schema}".threads`)).rows[0].v;
    const duplicate = turn(1, 'zeppelinword', { completedAt: at(999), contributions: [contribution(), contribution(), contribution()] });
    const error = await driver.appendTurn(ACME, threadId, duplicate).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe(`[postgres] Thread \`${threadId}\` already has round 1; rounds are written once.`);
    expect(await driver.getThread(ACME, threadId)).toEqual(before);
    expect(await rowCount(schema, 'turns')).toBe(1);
    expect(await rowCount(schema, 'contributions')).toBe(2);
    expect((await pool.query(`SELECT search::text AS v FROM "${schema}".threads`)).rows[0].v).toBe(vectorBefore);
    expect(await driver.search!(ACME, 'zeppelinword', { limit: 5 })).toEqual([]);
  });

  it('rejects an append to a missing thread, or to another tenant\'s thread, writing nothing', async () => {
    const schema = freshSchema();
    const driver = postgresStorage({ pool, schema });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(1) });
    for (const [scope, target] of [[ACME, newId()], [GLOBEX, threadId]] as const) {
      const error = await driver.appendTurn(scope, target, turn(1)).catch((caught: unknown) => caught);
      expect(StorageError.isInstance(error)).toBe(true);
      expect((error as Error).message).toBe(`[postgres] Thread \`${target}\` does not exist; create it with createThread() first.`);
    }
    expect(await rowCount(schema, 'turns')).toBe(0);
    expect(await rowCount(schema, 'contributions')).toBe(0);
    expect((await driver.getThread(ACME, threadId))?.updatedAt).toBe(at(1));
  });

  it('refuses text PostgreSQL cannot hold (NUL) with a StorageError that says so, writing nothing', async () => {
    const schema = freshSchema();
    const driver = postgresStorage({ pool, schema });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(1) });
    const error = await driver.appendTurn(ACME, threadId, turn(1, 'ok', { contributions: [contribution({ content: 'bad \u0000 byte' })] })).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/Could not save round 1 of thread .*cannot hold NUL/);
    expect(await rowCount(schema, 'turns')).toBe(0);
    await expect(driver.createThread(ACME, { id: newId(), question: 'nul \u0000', protocol: 'consensus', userId: null, createdAt: at(2) })).rejects.toThrow(/cannot hold NUL/);
  });
});

// ---- exact round trips ----

describe('exact values', () => {
  it('returns timestamps exactly as given, whatever ISO form, and floats bit for bit', async () => {
    const driver = postgresStorage({ pool, schema: freshSchema() });
    const threadId = newId();
    const created = '2026-01-01T00:00:00Z';
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: created });
    const odd = [0.1 + 0.2, 1 / 3, 1e-12, 123456.789012345, Number.MIN_VALUE, 2 ** 53 - 1];
    const round = turn(1, 'd', {
      createdAt: '2026-01-01T01:00:00.123456+01:00',
      completedAt: '2026-01-01T00:00:05.5Z',
      contributions: odd.map((value, index) => contribution({ costUsd: value, latencyMs: value, inputTokens: index === 5 ? value : index, outputTokens: 2 ** 40 })),
      decision: { content: 'd', confidence: 1 / 3, rigor: 0.1 + 0.7, dissent: 'x', taxonomy: null },
    });
    await driver.appendTurn(ACME, threadId, round);
    await driver.finishThread(ACME, threadId, { status: 'complete', at: '2026-01-02T03:04:05.006+00:00' });
    const read = await driver.getThread(ACME, threadId);
    expect(read?.createdAt).toBe(created);
    expect(read?.updatedAt).toBe('2026-01-02T03:04:05.006+00:00');
    expect(read?.turns[0]).toEqual(round);
    expect(Object.is(read?.turns[0]?.contributions[0]?.costUsd, 0.1 + 0.2)).toBe(true);
    // Listing order uses the instant, not the text: 01:00+01:00 is midnight UTC.
    await driver.createThread(ACME, { id: newId(), question: 'later', protocol: 'consensus', userId: null, createdAt: '2025-12-31T23:30:00-01:00' });
    expect((await driver.listThreads(ACME, { limit: 5, offset: 0 })).threads.map((thread) => thread.question)).toEqual(['later', 'Q?']);
  });

  it('sums costs in SQL bit-identically to costRowsOf (same float additions, same tie order)', async () => {
    const driver = postgresStorage({ pool, schema: freshSchema() });
    const threads: StoredThread[] = [];
    const prices = [0.1, 0.2, 0.3, 1e-7, 0.7, 1 / 3, 0.05, 2 / 7];
    for (let index = 0; index < 6; index++) {
      const threadId = newId();
      const createdAt = at(index);
      await driver.createThread(ACME, { id: threadId, question: `q${index}`, protocol: 'consensus', userId: index % 3 === 0 ? null : `user${index % 3}`, createdAt });
      const turns = [1, 2].map((round) =>
        turn(round, `d${round}`, {
          completedAt: new Date(Date.UTC(2026, 2, 1 + index, round * 11, 0, 0)).toISOString(),
          contributions: prices.map((price, position) =>
            contribution({ model: (['B:upper', 'a:lower', 'openai:gpt-5.2', 'weird', ':lead', 'trail:'] as const)[(position + index) % 6] as StoredContribution['model'], costUsd: price * (round + index), inputTokens: position, outputTokens: index }),
          ),
        }),
      );
      for (const round of turns) await driver.appendTurn(ACME, threadId, round);
      threads.push((await driver.getThread(ACME, threadId))!);
    }
    // Two equal-cost groups whose keys differ in case: the tie order is localeCompare's, as in costRowsOf.
    const tie = newId();
    await driver.createThread(ACME, { id: tie, question: 'tie', protocol: 'consensus', userId: 'Zed', createdAt: at(50) });
    await driver.appendTurn(ACME, tie, turn(1, 'd', { completedAt: '2026-03-20T00:00:00.000Z', contributions: [contribution({ model: 'Beta:x', costUsd: 99 }), contribution({ model: 'alpha:x', costUsd: 99 })] }));
    threads.push((await driver.getThread(ACME, tie))!);
    for (const groupBy of ['model', 'provider', 'user', 'day'] as CostGroup[]) {
      for (const [since, until] of [[undefined, undefined], ['2026-03-02T11:00:00.000Z', undefined], [undefined, '2026-03-04T22:00:00.000Z'], ['2026-03-03T00:00:00.000Z', '2026-03-05T11:00:00.000Z']] as const) {
        const rows = await driver.costReport!(ACME, { groupBy, ...(since ? { since } : {}), ...(until ? { until } : {}) });
        expect(rows, `${groupBy} ${since} ${until}`).toEqual(costRowsOf(threads, groupBy, since, until));
      }
    }
    const byModel = await driver.costReport!(ACME, { groupBy: 'model' });
    expect(byModel.slice(0, 2).map((row) => row.key)).toEqual(['alpha:x', 'Beta:x']);
  });
});

// ---- recall ----

describe('search (recall)', () => {
  const seedRecall = async () => {
    const driver = postgresStorage({ pool, schema: freshSchema() });
    const ids = { strong: newId(), weak: newId(), cpp: newId(), percent: newId(), sharding: newId() };
    const seed = async (threadId: string, question: string, createdAt: string, decisions: string[] = []) => {
      await driver.createThread(ACME, { id: threadId, question, protocol: 'consensus', userId: null, createdAt });
      for (const [index, decision] of decisions.entries()) await driver.appendTurn(ACME, threadId, turn(index + 1, decision));
    };
    await seed(ids.weak, 'Should we cache the orders?', at(1));
    await seed(ids.strong, 'How do we partition the orders table?', at(2), ['Partition the orders table by tenant', 'Partition the orders table by tenant and month']);
    await seed(ids.cpp, 'Is C++ still worth learning?', at(3), ['Yes, for systems work.']);
    await seed(ids.percent, 'Why is uptime 99.9% and not 100%?', at(4));
    await seed(ids.sharding, 'Sharding strategy for events', at(5), ['Use consistent hashing']);
    return { driver, ids };
  };

  it('ranks full-text matches by ts_rank_cd (the score), best first, with the latest decision', async () => {
    const { driver, ids } = await seedRecall();
    const hits = await driver.search!(ACME, 'Orders', { limit: 10 });
    expect(hits.map((hit) => hit.threadId)).toEqual([ids.strong, ids.weak]);
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
    expect(hits[1]!.score).toBeGreaterThan(0);
    expect(hits[0]).toMatchObject({ question: 'How do we partition the orders table?', status: 'active', createdAt: at(2), decision: 'Partition the orders table by tenant and month', confidence: 0.8, rigor: 0.5 });
    // websearch syntax: a quoted phrase and an exclusion.
    expect((await driver.search!(ACME, '"orders table"', { limit: 10 })).map((hit) => hit.threadId)).toEqual([ids.strong]);
    expect((await driver.search!(ACME, 'orders -partition', { limit: 10 })).map((hit) => hit.threadId)).toEqual([ids.weak]);
    expect(await driver.search!(ACME, 'orders', { limit: 1 })).toHaveLength(1);
  });

  it('falls back to a case-insensitive substring match (score 0, newest first) when the query has no words or no full-text match', async () => {
    const { driver, ids } = await seedRecall();
    // No lexemes at all.
    expect((await driver.search!(ACME, '++', { limit: 10 })).map((hit) => [hit.threadId, hit.score])).toEqual([[ids.cpp, 0]]);
    // `%` and `_` are literal characters, never wildcards.
    expect((await driver.search!(ACME, '%', { limit: 10 })).map((hit) => hit.threadId)).toEqual([ids.percent]);
    expect(await driver.search!(ACME, '_', { limit: 10 })).toEqual([]);
    // A word prefix: no full-text match, but a substring of "Sharding" and "partition".
    expect((await driver.search!(ACME, 'SHARD', { limit: 10 })).map((hit) => [hit.threadId, hit.score])).toEqual([[ids.sharding, 0]]);
    expect((await driver.search!(ACME, 'partit', { limit: 10 })).map((hit) => hit.threadId)).toEqual([ids.strong]);
    expect((await driver.search!(ACME, 'tenant and mon', { limit: 10 })).map((hit) => hit.threadId)).toEqual([ids.strong]);
    expect(await driver.search!(ACME, 'nothing like this', { limit: 10 })).toEqual([]);
    // NUL is not text PostgreSQL accepts; in a query it is only noise.
    expect((await driver.search!(ACME, 'orders\u0000', { limit: 10 })).length).toBe(2);
  });
});

// ---- pools ----

describe('pools', () => {
  it('never closes a pool it was given (instance or factory), and refuses work once closed', async () => {
    const given = extraPool();
    const driver = postgresStorage({ pool: given, schema: freshSchema() });
    await driver.listThreads(ACME, { limit: 1, offset: 0 });
    await driver.close!();
    await driver.close!(); // twice is fine
    expect((await given.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    const error = await driver.listThreads(ACME, { limit: 1, offset: 0 }).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/closed; create a new postgresStorage\(\)/);

    let made = 0;
    const fromFactory = postgresStorage({ pool: async () => (made++, given), schema: freshSchema() });
    await fromFactory.listThreads(ACME, { limit: 1, offset: 0 });
    await fromFactory.listThreads(ACME, { limit: 1, offset: 0 });
    expect(made).toBe(1);
    await fromFactory.close!();
    expect((await given.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('creates, uses and ends its own pool from a connection string', async () => {
    const appName = `duh_owned_${randomUUID().slice(0, 8)}`;
    const driver = postgresStorage({ connectionString: `${URL}?application_name=${appName}`, schema: freshSchema(), max: 2 });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Owned pool?', protocol: 'consensus', userId: null, createdAt: at(1) });
    await driver.appendTurn(ACME, threadId, turn(1));
    expect((await driver.getThread(ACME, threadId))?.turns).toHaveLength(1);
    const connections = async () => Number((await pool.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [appName])).rows[0].n);
    expect(await connections()).toBeGreaterThan(0);
    expect(await connections()).toBeLessThanOrEqual(2);
    await driver.close!();
    // The server drops a backend shortly after its client disconnects: wait for it (bounded), no timing assertion.
    for (let attempt = 0; attempt < 100 && (await connections()) > 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await connections()).toBe(0);
  });

  it('survives the server killing an idle connection of its own pool (no unhandled pool error), and reconnects', async () => {
    const appName = `duh_idle_${randomUUID().slice(0, 8)}`;
    const driver = postgresStorage({ connectionString: `${URL}?application_name=${appName}`, schema: freshSchema(), max: 1 });
    await driver.createThread(ACME, { id: newId(), question: 'before', protocol: 'consensus', userId: null, createdAt: at(1) });
    const killed = await pool.query('SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1', [appName]);
    expect(killed.rows).toEqual([{ killed: true }]);
    // Let the pool see its idle connection die (pg then emits `error` on the pool; without a listener that
    // event would crash the run). Bounded waits, no timing assertion.
    const alive = async () => (await pool.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [appName])).rows.length;
    for (let attempt = 0; attempt < 100 && (await alive()) > 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A query may still meet the dead connection once (a StorageError); then the pool reconnects.
    let page: Awaited<ReturnType<StorageDriver['listThreads']>> | undefined;
    for (let attempt = 0; attempt < 50 && !page; attempt++) {
      page = await driver.listThreads(ACME, { limit: 5, offset: 0 }).catch((error: unknown) => {
        expect(StorageError.isInstance(error), String(error)).toBe(true);
        return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20));
      });
    }
    expect(page?.threads.map((thread) => thread.question)).toEqual(['before']);
    await driver.close!();
  });

  it('reports an unreachable server as a StorageError that says what to check', async () => {
    const driver = postgresStorage({ connectionString: 'postgresql://postgres@127.0.0.1:1/test', schema: freshSchema() });
    const error = await driver.listThreads(ACME, { limit: 1, offset: 0 }).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/^\[postgres\] Could not prepare schema duh_test_\w+: .*ECONNREFUSED.*Is PostgreSQL running and reachable\? Check `connectionString`/);
    await driver.close!();
  });

  it('throws MissingDependencyError naming pg when only a connection string is given and pg is not installed', async () => {
    vi.resetModules();
    vi.doMock('pg', () => {
      throw Object.assign(new Error("Cannot find package 'pg' imported from storage/postgres.ts"), { code: 'ERR_MODULE_NOT_FOUND' });
    });
    try {
      const { postgresStorage: fresh } = await import('../../storage/postgres.js');
      const driver = fresh({ connectionString: URL, schema: freshSchema() });
      const error = await driver.listThreads(ACME, { limit: 1, offset: 0 }).catch((caught: unknown) => caught);
      expect(MissingDependencyError.isInstance(error), String(error)).toBe(true);
      expect((error as MissingDependencyError).packageName).toBe('pg');
      expect((error as Error).message).toMatch(/postgresStorage\(\{ connectionString \}\) needs the `pg` package.*npm install pg.*pass your own pool/);
      // A pool passed in needs no pg package at all.
      const withPool = fresh({ pool, schema: freshSchema() });
      await expect(withPool.listThreads(ACME, { limit: 1, offset: 0 })).resolves.toEqual({ threads: [], total: 0 });
    } finally {
      vi.doUnmock('pg');
      vi.resetModules();
    }
  });
});

// ---- restores ----

describe('importThreads', () => {
  it('rolls a replace back whole when the database rejects a record mid-way (the tenant keeps its threads)', async () => {
    const schema = freshSchema();
    const driver = postgresStorage({ pool, schema });
    const kept = newId();
    await driver.createThread(ACME, { id: kept, question: 'kept', protocol: 'consensus', userId: null, createdAt: at(1) });
    await driver.appendTurn(ACME, kept, turn(1));
    const before = await driver.getThread(ACME, kept);
    const good: StoredThread = { ...before!, id: newId(), question: 'good' };
    const bad: StoredThread = { ...before!, id: newId(), turns: [turn(1, 'x', { completedAt: 'not a timestamp' })] };
    const error = await driver.importThreads([good, bad], { mode: 'replace' }).catch((caught: unknown) => caught);
    expect(StorageError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/^\[postgres\] Could not restore the backup: .*not a timestamp.*Nothing was restored\.$/);
    expect(await driver.getThread(ACME, kept)).toEqual(before);
    expect((await driver.listThreads(ACME, { limit: 10, offset: 0 })).total).toBe(1);
  });

  it('exports more than a page of threads with equal timestamps once each, oldest (first written) first, and restores them in one transaction', async () => {
    const source = postgresStorage({ pool, schema: freshSchema() });
    const ids = Array.from({ length: 230 }, () => newId());
    for (const threadId of ids) await source.createThread(ACME, { id: threadId, question: `q ${threadId}`, protocol: 'consensus', userId: null, createdAt: at(7) });
    await source.appendTurn(ACME, ids[150]!, turn(1, 'needle decision'));
    const exported: StoredThread[] = [];
    for await (const thread of source.exportThreads('all')) exported.push(thread);
    expect(exported.map((thread) => thread.id)).toEqual(ids);
    const { pool: recorded, calls } = recordingPool(pool);
    const target = postgresStorage({ pool: recorded, schema: freshSchema() });
    await target.listThreads(ACME, { limit: 1, offset: 0 });
    calls.length = 0;
    expect(await target.importThreads(exported, { mode: 'merge' })).toEqual({ threads: 230 });
    expect(calls.filter((call) => call.via === 'client').map((call) => call.text.trim().split(/\s+/)[0])).toEqual(['BEGIN', 'WITH', 'WITH', 'UPDATE', 'WITH', 'WITH', 'UPDATE', 'COMMIT']);
    expect((await target.listThreads(ACME, { limit: 500, offset: 0 })).threads.map((thread) => thread.id)).toEqual([...ids].reverse());
    expect((await target.search!(ACME, 'needle', { limit: 5 })).map((hit) => hit.threadId)).toEqual([ids[150]]);
  });
});

// ---- end to end ----

describe('Consensus on postgresStorage', () => {
  it('stores a run that a second driver instance reads back whole, and serves recall, cost, feedback, backup and restore', async () => {
    const schema = freshSchema();
    const storage = postgresStorage({ pool, schema });
    const models = [
      new MockAdapter({ ref: 'anthropic:claude-opus-4-6', info: { outputPricePerMTok: 25 }, reply: (_request, { system }) => (system.includes('independent experts') ? 'Use Postgres with row-level security.' : 'A careful answer.') }),
      new MockAdapter({ ref: 'openai:gpt-5.2', info: { outputPricePerMTok: 14 }, reply: 'The proposal ignores noisy neighbours.' }),
      new MockAdapter({ ref: 'google:gemini-3-pro-preview', reply: 'Consider schema-per-tenant instead.' }),
    ];
    const duh = new Consensus({ models, storage, rounds: 2 });
    const result = await duh.ask('How should we isolate tenants in Postgres?');
    await duh.ask('Which CDN should we use?', { principal: { id: 'bob', tenant: 'globex' } });

    const reader: StorageDriver = postgresStorage({ pool: extraPool(), schema });
    const stored = await reader.getThread({ tenant: 'default' }, result.threadId);
    expect(stored).toEqual(await storage.getThread({ tenant: 'default' }, result.threadId));
    expect(stored).toMatchObject({ question: 'How should we isolate tenants in Postgres?', status: 'complete', tenant: 'default', userId: null });
    expect(stored!.turns.length).toBeGreaterThanOrEqual(1);
    expect(stored!.turns.at(-1)!.decision?.content).toBe(result.decision);
    expect(stored!.turns[0]!.contributions.map((item) => item.role)).toContain('challenger');

    const hits = await duh.recall('row-level security');
    expect(hits.map((hit) => hit.threadId)).toEqual([result.threadId]);
    expect(hits[0]!.score).toBeGreaterThan(0);
    expect(await duh.recall('CDN')).toEqual([]); // another tenant's run

    const exported: StoredThread[] = [];
    for await (const thread of reader.exportThreads({ tenant: 'default' })) exported.push(thread);
    for (const groupBy of ['model', 'provider', 'user', 'day'] as const) expect(await duh.cost({ groupBy })).toEqual(costRowsOf(exported, groupBy));

    await duh.feedback(result.threadId, 'success', { notes: 'shipped' });
    expect((await reader.getThread({ tenant: 'default' }, result.threadId))?.outcome).toMatchObject({ result: 'success', notes: 'shipped', roundNumber: stored!.turns.at(-1)!.roundNumber });

    let backup = '';
    for await (const line of duh.backup({ allTenants: true })) backup += line;
    const restoredStorage = postgresStorage({ pool, schema: freshSchema() });
    const restored = new Consensus({ models, storage: restoredStorage });
    expect(await restored.restore(backup, { mode: 'replace' })).toEqual({ threads: 2 });
    for (const tenant of ['default', 'globex']) {
      const original: StoredThread[] = [];
      const copy: StoredThread[] = [];
      for await (const thread of storage.exportThreads({ tenant })) original.push(thread);
      for await (const thread of restoredStorage.exportThreads({ tenant })) copy.push(thread);
      expect(copy).toEqual(original);
    }
    expect((await restored.recall('row-level security')).map((hit) => hit.score)).toEqual(hits.map((hit) => hit.score));
  });
});

// ---- rounds stored phase by phase (appendPhase) ----

describe('appendPhase', () => {
  /** The phases of turn(round) with a third contribution: proposer, challenger, reviser, then the decision. */
  const phases = (round: number, tag = ''): TurnPhase[] => [
    { roundNumber: round, state: 'PROPOSE', contributions: [contribution({ content: `${tag}proposal ${round}` })], decision: null, at: at(100 + round) },
    { roundNumber: round, state: 'CHALLENGE', contributions: [contribution({ role: 'challenger', content: `${tag}challenge ${round}a` }), contribution({ role: 'challenger', content: `${tag}challenge ${round}b` })], decision: null, at: at(101 + round) },
    { roundNumber: round, state: 'REVISE', contributions: [contribution({ role: 'reviser', content: `${tag}revision ${round}` })], decision: null, at: at(102 + round) },
    { roundNumber: round, state: 'COMMIT', contributions: [], decision: { content: `${tag}decision ${round}`, confidence: 0.8, rigor: 0.5, dissent: null, taxonomy: null }, at: at(103 + round) },
  ];

  it('is exactly one statement per phase on the pool (no BEGIN/COMMIT, no dedicated connection), and a refused phase adds one read', async () => {
    const { pool: recorded, calls } = recordingPool(pool);
    const driver = postgresStorage({ pool: recorded, schema: freshSchema() });
    const threadId = newId();
    await driver.createThread(ACME, { id: threadId, question: 'Q?', protocol: 'consensus', userId: null, createdAt: at(1) });
    for (const phase of [...phases(1), ...phases(2)]) {
      calls.length = 0;
      await driver.appendPhase!(ACME, threadId, phase);
      expect(calls.map((call) => call.via), `${phase.state} ${phase.roundNumber}`).toEqual(['pool']);
    }
    calls.length = 0;
    await expect(driver.appendPhase!(ACME, threadId, phases(2)[3]!)).rejects.toThrow(/COMMIT of round 2 is already stored \(the latest turn is round 2 at COMMIT\); each phase is written once\. Nothing was written\.$/);
    expect(calls).toHaveLength(2);
    calls.length = 0;
    await expect(driver.appendPhase!(ACME, newId(), phases(1)[0]!)).rejects.toThrow(/does not exist/);
    expect(calls).toHaveLength(2);
    // A malformed phase is refused before any round trip.
    calls.length = 0;
    await expect(driver.appendPhase!(ACME, threadId, { ...phases(3)[1]!, decision: phases(3)[3]!.decision })).rejects.toThrow(/only a COMMIT phase carries a decision/);
    expect(calls).toHaveLength(0);
  });

  it('lets exactly one of many racing writes of each phase through, from three pools, and the rounds end whole', async () => {
    const schema = freshSchema();
    const drivers = [postgresStorage({ pool, schema }), postgresStorage({ pool: extraPool({ max: 3 }), schema }), postgresStorage({ pool: extraPool({ max: 3 }), schema })];
    const threads = [newId(), newId(), newId()];
    for (const threadId of threads) await drivers[0]!.createThread(ACME, { id: threadId, question: 'Race?', protocol: 'consensus', userId: null, createdAt: at(1) });
    for (const round of [1, 2]) {
      for (const index of [0, 1, 2, 3]) {
        // Six writers per thread, all threads at once: two per pool, each with its own contents.
        const attempts = threads.flatMap((threadId) =>
          Array.from({ length: 6 }, (_, writer) => ({ threadId, writer, run: drivers[writer % 3]!.appendPhase!(ACME, threadId, phases(round, `w${writer} `)[index]!) })),
        );
        const settled = await Promise.allSettled(attempts.map((attempt) => attempt.run));
        for (const threadId of threads) {
          const mine = settled.filter((_, position) => attempts[position]!.threadId === threadId);
          expect(mine.filter((result) => result.status === 'fulfilled'), `${threadId} round ${round} phase ${index}`).toHaveLength(1);
          for (const result of mine) if (result.status === 'rejected') expect(StorageError.isInstance(result.reason), String(result.reason)).toBe(true);
        }
      }
    }
    for (const threadId of threads) {
      const stored = (await drivers[0]!.getThread(ACME, threadId))!;
      expect(stored.turns.map((turn) => [turn.roundNumber, turn.state])).toEqual([
        [1, 'COMMIT'],
        [2, 'COMMIT'],
      ]);
      for (const turn of stored.turns) {
        expect(turn.contributions.map((item) => item.role)).toEqual(['proposer', 'challenger', 'challenger', 'reviser']);
        // Both challenges come from the one CHALLENGE write that landed.
        const [a, b] = [turn.contributions[1]!.content, turn.contributions[2]!.content];
        expect(a.split(' ')[0]).toBe(b.split(' ')[0]);
        expect(turn.decision?.content).toMatch(new RegExp(`^w\\d decision ${turn.roundNumber}$`));
      }
    }
  });

  it('never deadlocks with a concurrent delete or restore of the thread: each write lands whole or finds the thread gone', async () => {
    const schema = freshSchema();
    const writer = postgresStorage({ pool: extraPool({ max: 3 }), schema });
    const other = postgresStorage({ pool, schema });
    for (let attempt = 0; attempt < 10; attempt++) {
      const threadId = newId();
      await writer.createThread(ACME, { id: threadId, question: 'Delete me?', protocol: 'consensus', userId: null, createdAt: at(1) });
      for (const phase of phases(1)) await writer.appendPhase!(ACME, threadId, phase);
      await writer.appendPhase!(ACME, threadId, phases(2)[0]!);
      const backup = (await other.getThread(ACME, threadId))!;
      const racing = [
        writer.appendPhase!(ACME, threadId, phases(2)[1]!),
        attempt % 2 ? other.deleteThread(ACME, threadId) : other.importThreads([backup], { mode: 'merge' }),
      ];
      const settled = await Promise.allSettled(racing);
      for (const result of settled) {
        if (result.status === 'rejected') expect(String(result.reason)).not.toMatch(/deadlock/);
      }
      const after = await other.getThread(ACME, threadId);
      if (after) {
        const last = after.turns.at(-1)!;
        expect([1, 3]).toContain(last.contributions.length);
        expect(last.state).toBe(last.contributions.length === 1 ? 'PROPOSE' : 'CHALLENGE');
      }
    }
  });
});
