// G12 — Postgres store throughput: `postgresStorage({ pool, schema })` against raw pg writing the same record in
// one statement with data-modifying CTEs (one round trip, performance.md A6), with 1 and 8 connections
// (concurrency 1 and 8: that many workers, each writing one record after the other through `pool.query`).
// One record is one run of one round (storage-record.mjs): a thread and its committed round. The goal row writes
// it as a driver can in one call, `startThread(scope, thread, round)`: one statement, one round trip. (The engine
// spreads a round over its phase writes and creates the thread with the first of them; G13 measures that.)
//
// The raw writer uses the driver's own tables (a second fresh schema, created by the driver's migration): one
// named (prepared) INSERT … WITH statement for the thread (its tsvector built from question and decision at
// once), the turn and the 5 contributions. Before timing, one record written each way is read back with the
// driver and compared, so all of them write the same rows. Each writer has its own fresh schema, so every
// writer's tables and indexes grow by the same records.
//
// Three more rows: the record as a run writes it (startThread with round 1's PROPOSE phase, then CHALLENGE, REVISE
// and COMMIT with appendPhase: four statements, each overlapping a model call in a run), the same record in two awaited calls, createThread then appendTurn (two statements, two round
// trips and two commits: how a driver without startThread is used), and the goal row with unnamed statements
// (`preparedStatements: false`, parsed and planned on every call, as behind a transaction-mode pooler).
//
// Server: BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test. Every schema is fresh
// (duh_bench_*) and dropped afterwards. When pg is missing or the server does not answer, G12 is SKIPPED.
import { deepStrictEqual } from 'node:assert';
import { goal, median, ms, quantile, ratio, settle, table } from './lib.mjs';
import { RECORD_SHAPE, SCOPE, makeRecords, phaseWrites } from './storage-record.mjs';

export const PG_URL = process.env.BENCH_PG_URL || 'postgresql://postgres@127.0.0.1:5432/test';

/** `pg` and a live server, or the reason why not (for the SKIPPED line). */
export async function reachPostgres(url = PG_URL) {
  let pg;
  try {
    pg = (await import('pg')).default;
  } catch (error) {
    return { skip: `pg is not installed (${error.code ?? error.message})` };
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query("SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync");
    return { pg, server: `PostgreSQL ${rows[0].version}, synchronous_commit=${rows[0].sync}` };
  } catch (error) {
    return { skip: `${url.replace(/:[^:@/]*@/, ':***@')} is not reachable (${error.code ?? error.message})` };
  } finally {
    await client.end().catch(() => {});
  }
}

export const benchSchema = (tag) => `duh_bench_${tag}_${process.pid}_${Date.now().toString(36)}`;

const contributionColumns = 'position, model, role, content, input_tokens, output_tokens, cost_usd, latency_ms, finish_reason, truncated, framing, sycophantic';
const PER_CONTRIBUTION = 12;
const FIXED = 17;

/** The raw one-statement record write into the driver's tables in schema S (`count` contributions). */
export function rawSql(S, count) {
  const rows = Array.from({ length: count }, (_, k) => {
    const p = (j) => `$${FIXED + k * PER_CONTRIBUTION + j + 1}`;
    return `($1::text, $2::text, $9::integer, ${p(0)}::integer, ${p(1)}::text, ${p(2)}::text, ${p(3)}::text, ${p(4)}::bigint, ${p(5)}::bigint, ${p(6)}::float8, ${p(7)}::float8, ${p(8)}::text, ${p(9)}::boolean, ${p(10)}::text, ${p(11)}::boolean, NULL::jsonb)`;
  });
  return `WITH thread AS (
    INSERT INTO ${S}.threads (tenant, id, question, protocol, user_id, status, error, created_at, updated_at, created_at_iso, updated_at_iso, search)
    VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, 'active', NULL, $6::text::timestamptz, $7::text::timestamptz, $6::text, $7::text,
      to_tsvector('simple', $3::text) || to_tsvector('simple', $8::text))
  ), turn AS (
    INSERT INTO ${S}.turns (tenant, thread_id, round_number, state, decision, confidence, rigor, dissent, taxonomy_intent, taxonomy_category,
      taxonomy_genus, created_at, completed_at, created_at_iso, completed_at_iso)
    VALUES ($1::text, $2::text, $9::integer, $10::text, $8::text, $11::float8, $12::float8, $13::text, $14::text, $15::text, $16::text,
      $17::text::timestamptz, $7::text::timestamptz, $17::text, $7::text)
  ), contribution AS (
    INSERT INTO ${S}.contributions (tenant, thread_id, round_number, ${contributionColumns}, provider_metadata)
    VALUES ${rows.join(',\n      ')}
  )
  SELECT 1`;
}

export function rawValues(tenant, { thread: t, turn: u }) {
  const d = u.decision;
  const values = [tenant, t.id, t.question, t.protocol, t.userId, t.createdAt, u.completedAt, d.content, u.roundNumber, u.state, d.confidence, d.rigor, d.dissent, d.taxonomy.intent, d.taxonomy.category, d.taxonomy.genus, u.createdAt];
  u.contributions.forEach((c, position) => {
    values.push(position, c.model, c.role, c.content, c.inputTokens, c.outputTokens, c.costUsd, c.latencyMs, c.finishReason, c.truncated, c.framing ?? null, c.sycophantic ?? null);
  });
  return values;
}

/** Writers over a pool: `{ [variant]: write(record) }`, each variant on its own schema (tables of the same size). */
function writers({ postgresStorage }, pool, schemas) {
  // A pg.Pool straight to the server: the documented setting is `preparedStatements: true`.
  const driver = postgresStorage({ pool, schema: schemas.driver, preparedStatements: true });
  const twoCalls = postgresStorage({ pool, schema: schemas.twoCalls, preparedStatements: true });
  const phased = postgresStorage({ pool, schema: schemas.phases, preparedStatements: true });
  // Diagnostic: the same driver sending unnamed statements (the default for a pool passed in).
  const unnamed = postgresStorage({ pool, schema: schemas.unnamed, preparedStatements: false });
  const rawText = rawSql(`"${schemas.raw}"`, 5);
  return {
    driver: (r) => driver.startThread(SCOPE, r.thread, r.turn),
    phases: async (r) => {
      const { first, phases } = phaseWrites(r);
      await phased.startThread(SCOPE, r.thread, first);
      for (const phase of phases) await phased.appendPhase(SCOPE, r.thread.id, phase);
    },
    twoCalls: async (r) => {
      await twoCalls.createThread(SCOPE, r.thread);
      await twoCalls.appendTurn(SCOPE, r.thread.id, r.turn);
    },
    unnamed: (r) => unnamed.startThread(SCOPE, r.thread, r.turn),
    raw: async (r) => {
      await pool.query({ name: `duh_bench_record_${schemas.raw}`, text: rawText, values: rawValues(SCOPE.tenant, r) });
    },
  };
}

async function measure(write, records, concurrency) {
  const latencies = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < records.length) {
        const record = records[next++];
        const s = performance.now();
        await write(record);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { perSec: (records.length / (performance.now() - t0)) * 1000, latencies };
}

const VARIANTS = [
  { key: 'driver', label: 'driver, startThread, preparedStatements: true (1 round trip)' },
  { key: 'phases', label: 'driver, as a run writes it: startThread + 3 appendPhase (4 round trips)' },
  { key: 'twoCalls', label: 'driver, createThread + appendTurn (2 round trips)' },
  { key: 'unnamed', label: 'driver, startThread, preparedStatements: false (diagnostic)' },
  { key: 'raw', label: 'raw pg, 1 named CTE statement (1 round trip)' },
];

export async function benchPostgres({ records = { 1: 300, 8: 900 }, passes = 5, warmup = 60 } = {}) {
  const reach = await reachPostgres();
  if (reach.skip) {
    const why = `SKIPPED: ${reach.skip}`;
    return {
      text: `G12 Postgres store — ${why}. Set BENCH_PG_URL to a reachable server to run it.`,
      goals: [goal('G12', 'Postgres driver ÷ raw pg CTE', 'n/a', '≥ 0.8×', 'skipped')],
    };
  }
  const { pg } = reach;
  const { postgresStorage } = await import(new URL('../dist/storage/postgres.mjs', import.meta.url).href);
  // One fresh schema per writer: each one's tables (and GIN index) grow by the same records.
  const schemas = Object.fromEntries(VARIANTS.map((v) => [v.key, benchSchema(`g12${v.key.toLowerCase()}`)]));
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  const results = [];
  try {
    // Every schema comes from the driver's migration, so the raw writer uses exactly the driver's tables.
    for (const schema of Object.values(schemas)) await postgresStorage({ pool: admin, schema }).listThreads(SCOPE, { limit: 1, offset: 0 });

    // Same rows every way: write one record with each writer, read each back with the driver, compare.
    {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
      const write = writers({ postgresStorage }, pool, schemas);
      const [a] = makeRecords(1);
      const stored = [];
      for (const v of VARIANTS) {
        await write[v.key](a);
        stored.push([v.key, await postgresStorage({ pool, schema: schemas[v.key] }).getThread(SCOPE, a.thread.id)]);
      }
      for (const [key, thread] of stored.slice(1)) deepStrictEqual(thread, stored[0][1], `G12: the ${key} writer must store the same thread as the driver`);
      await pool.end();
    }

    for (const concurrency of [1, 8]) {
      const pool = new pg.Pool({ connectionString: PG_URL, max: concurrency });
      await Promise.all(Array.from({ length: concurrency }, () => pool.connect())).then((clients) => clients.forEach((c) => c.release()));
      const write = writers({ postgresStorage }, pool, schemas);
      const samples = Object.fromEntries(VARIANTS.map((v) => [v.key, { perSec: [], latencies: [] }]));
      for (const v of VARIANTS) await measure(write[v.key], makeRecords(warmup), concurrency);
      for (let pass = 0; pass < passes; pass++) {
        const order = VARIANTS.map((_, i) => VARIANTS[(i + pass) % VARIANTS.length]); // rotate who goes first
        for (const v of order) {
          await settle();
          const result = await measure(write[v.key], makeRecords(records[concurrency]), concurrency);
          samples[v.key].perSec.push(result.perSec);
          samples[v.key].latencies.push(...result.latencies);
        }
      }
      await pool.end();
      for (const v of VARIANTS) {
        const s = samples[v.key];
        results.push({
          concurrency,
          variant: v,
          perSec: median(s.perSec),
          range: `${Math.round(Math.min(...s.perSec))}..${Math.round(Math.max(...s.perSec))}`,
          p50: median(s.latencies),
          p99: quantile(s.latencies, 0.99),
        });
      }
    }
  } finally {
    for (const schema of Object.values(schemas)) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await admin.end();
  }

  const find = (concurrency, key) => results.find((r) => r.concurrency === concurrency && r.variant.key === key);
  const rows = results.map((r) => [
    `${r.concurrency} conn${r.concurrency > 1 ? 's' : ''}, ${r.variant.label}`,
    String(Math.round(r.perSec)),
    r.range,
    ms(r.p50, 2),
    ms(r.p99, 2),
    ratio(r.perSec / find(r.concurrency, 'raw').perSec, 2),
  ]);
  const text = [
    `G12 Postgres store — ${reach.server}, ${PG_URL.replace(/:[^:@/]*@/, ':***@')} (TCP), fresh schemas dropped afterwards; records per pass: 1 conn ${records[1]}, 8 conns ${records[8]} (+${warmup} warm-up); ${passes} passes, order rotated`,
    `record = ${RECORD_SHAPE}. The goal row writes it with one startThread call (one statement, one round trip); the two-call row awaits createThread, then appendTurn (two statements, two round trips, two commits).`,
    table(['writer', 'records/s', 'range', 'p50 ms/record', 'p99 ms', '÷ raw'], rows),
    ...[1, 8].map((c) => {
      const [d, f, t, p, r] = ['driver', 'phases', 'twoCalls', 'unnamed', 'raw'].map((key) => find(c, key).perSec);
      return `${c} conn${c > 1 ? 's' : ''}: driver (startThread) ÷ raw = ${ratio(d / r, 2)} (goal ≥ 0.8×). Named statements gain ${ratio(d / p, 2)} over unnamed; as a run writes it (4 statements) ${ratio(f / r, 2)}; two calls instead of one ${ratio(t / r, 2)}.`;
    }),
  ].join('\n');
  const goals = [1, 8].map((c) => {
    const value = find(c, 'driver').perSec / find(c, 'raw').perSec;
    return goal('G12', `Postgres driver ÷ raw pg CTE, ${c} conn${c > 1 ? 's' : ''}`, ratio(value, 2), '≥ 0.8×', value >= 0.8);
  });
  return { text, goals };
}
