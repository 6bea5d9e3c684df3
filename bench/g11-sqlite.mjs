// G11 — SQLite store throughput: records/s of `sqliteStorage({ path })` against raw node:sqlite writing the same
// record, on temp files (WAL, synchronous=NORMAL, foreign keys on, UUIDv7 thread ids). One record is one run of
// one round (see storage-record.mjs): a thread and its committed round. The goal row writes it as a driver can in
// one call, `startThread(scope, thread, round)`: one BEGIN IMMEDIATE … COMMIT transaction, as the baseline does.
// (The engine spreads a round over its phase writes for crash safety, and creates the thread with the first of
// them; G13 measures what that costs a run.)
//
// Rows, all on fresh files:
// - driver, startThread: the goal row (one call, one transaction).
// - driver, as a run writes it: startThread with round 1's PROPOSE phase, then CHALLENGE, REVISE and COMMIT with
//   appendPhase (four transactions), for comparison: a run spreads its record over these writes for crash safety,
//   each overlapping a model call.
// - driver, createThread + appendTurn: the same record in two awaited calls, two transactions (how a driver
//   without startThread is used), for comparison.
// - raw, driver schema, 2 tx: the statements the two-call driver runs, in the same two transactions (existence
//   check, the question's FTS5 recall insert; then one read for the round's existence, the decision's FTS5
//   recall insert, the rows, thread update), without the driver's JS: two-call driver ÷ this is the cost of
//   the driver's own code there; this ÷ 1 tx is the cost of the two-call shape.
// - raw, driver schema, 1 tx: the goal baseline. Synchronous DatabaseSync loops with cached prepared statements
//   on the driver's tables and indexes (the driver creates the file, then closes it), one transaction of plain
//   INSERTs: the question's recall row, thread, the decision's recall row, turn, 5 contributions.
// - raw, A6 schema: performance.md A6's minimal schema (TEXT UUIDv7 keys, no full-text index), the anchor of
//   the G11 goal.
// Before timing, one record written by each driver-schema writer is read back with the driver and compared, so
// all of them store the same rows. Variants rotate within each pass, so each sees the same machine; rec/s is
// the median over passes and p50 is over every record of every pass.
import { deepStrictEqual } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goal, median, ms, quantile, ratio, settle, table } from './lib.mjs';
import { RECORD_SHAPE, SCOPE, makeRecords, phaseWrites, uuidv7 } from './storage-record.mjs';

const A6_DDL = `
CREATE TABLE threads (id TEXT PRIMARY KEY, title TEXT, created_at BIGINT NOT NULL);
CREATE TABLE turns (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL REFERENCES threads(id), idx INTEGER NOT NULL, question TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE contributions (id TEXT PRIMARY KEY, turn_id TEXT NOT NULL REFERENCES turns(id), model TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, tokens_in INTEGER, tokens_out INTEGER, cost_usd DOUBLE PRECISION, latency_ms INTEGER, created_at BIGINT NOT NULL);
CREATE INDEX contributions_turn ON contributions(turn_id);
CREATE TABLE decisions (id TEXT PRIMARY KEY, turn_id TEXT NOT NULL REFERENCES turns(id), content TEXT NOT NULL, confidence DOUBLE PRECISION, dissent TEXT, created_at BIGINT NOT NULL);
CREATE INDEX turns_thread ON turns(thread_id);`;

const TURN_SQL = `INSERT INTO turns (tenant, thread_id, round_number, state, created_at, completed_at, decision, confidence, rigor, dissent, intent, category, genus, recall_rowid)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const RECALL_SQL = 'INSERT INTO recall_texts (text, tenant, thread_id) VALUES (?, ?, ?)';
const CONTRIBUTION_SQL = `INSERT INTO contributions (tenant, thread_id, round_number, position, model_ref, role, content, input_tokens, output_tokens, cost_usd,
  latency_ms, finish_reason, truncated, framing, sycophantic, provider_metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const THREAD_SQL = `INSERT INTO threads (tenant, id, question, status, protocol, user_id, error, created_at, updated_at, recall_rowid)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

function openRaw(DatabaseSync, file, ddl) {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
  if (ddl) db.exec(ddl);
  return db;
}

/** Rows of one turn in the driver schema (the driver's column order and conversions). */
function insertTurnRows(q, tenant, threadId, turn) {
  const d = turn.decision;
  const { lastInsertRowid } = q.recall.run(d.content, tenant, threadId);
  q.turn.run(tenant, threadId, turn.roundNumber, turn.state, turn.createdAt, turn.completedAt, d.content, d.confidence, d.rigor, d.dissent, d.taxonomy.intent, d.taxonomy.category, d.taxonomy.genus, lastInsertRowid);
  for (let p = 0; p < turn.contributions.length; p++) {
    const c = turn.contributions[p];
    q.contribution.run(tenant, threadId, turn.roundNumber, p, c.model, c.role, c.content, c.inputTokens, c.outputTokens, c.costUsd, c.latencyMs, c.finishReason, c.truncated ? 1 : 0, c.framing ?? null, c.sycophantic === undefined ? null : c.sycophantic ? 1 : 0, null);
  }
}

/** Each variant: `open(file)` → `{ write(record) (sync or async), close() }`. */
function variants({ DatabaseSync, sqliteStorage }) {
  /** A file with the driver's schema, made by the driver itself (then closed), for the raw writers. */
  const driverSchemaFile = async (file) => {
    const driver = sqliteStorage({ path: file });
    await driver.listThreads(SCOPE, { limit: 1, offset: 0 }); // opens, sets WAL and migrates
    await driver.close();
  };
  return [
    {
      key: 'driver',
      label: 'driver, startThread (1 tx)',
      async open(file) {
        const driver = sqliteStorage({ path: file });
        await driver.listThreads(SCOPE, { limit: 1, offset: 0 }); // open + migrate outside the timing
        return {
          write: (r) => driver.startThread(SCOPE, r.thread, r.turn),
          close: () => driver.close(),
        };
      },
    },
    {
      key: 'driver-phases',
      label: 'driver, as a run writes it: startThread + 3 appendPhase (4 tx)',
      async open(file) {
        const driver = sqliteStorage({ path: file });
        await driver.listThreads(SCOPE, { limit: 1, offset: 0 });
        return {
          async write(r) {
            const { first, phases } = phaseWrites(r);
            await driver.startThread(SCOPE, r.thread, first);
            for (const phase of phases) await driver.appendPhase(SCOPE, r.thread.id, phase);
          },
          close: () => driver.close(),
        };
      },
    },
    {
      key: 'driver-2call',
      label: 'driver, createThread + appendTurn (2 tx)',
      async open(file) {
        const driver = sqliteStorage({ path: file });
        await driver.listThreads(SCOPE, { limit: 1, offset: 0 });
        return {
          async write(r) {
            await driver.createThread(SCOPE, r.thread);
            await driver.appendTurn(SCOPE, r.thread.id, r.turn);
          },
          close: () => driver.close(),
        };
      },
    },
    {
      key: 'raw-2tx',
      label: 'raw, driver schema, the driver\'s statements in 2 tx',
      async open(file) {
        await driverSchemaFile(file);
        const db = openRaw(DatabaseSync, file);
        const tenant = SCOPE.tenant;
        const q = {
          exists: db.prepare('SELECT 1 AS found FROM threads WHERE tenant = ? AND id = ?'),
          recall: db.prepare(RECALL_SQL),
          thread: db.prepare(THREAD_SQL),
          // The driver's one read before a round: the thread and whether the round exists.
          threadAndRound: db.prepare(`SELECT EXISTS (SELECT 1 FROM turns u WHERE u.tenant = t.tenant AND u.thread_id = t.id AND u.round_number = ?) AS taken
             FROM threads t WHERE t.tenant = ? AND t.id = ?`),
          turn: db.prepare(TURN_SQL),
          contribution: db.prepare(CONTRIBUTION_SQL),
          touch: db.prepare('UPDATE threads SET updated_at = ? WHERE tenant = ? AND id = ?'),
        };
        return {
          write(r) {
            const { thread: t, turn } = r;
            db.exec('BEGIN IMMEDIATE');
            if (q.exists.get(tenant, t.id)) throw new Error('duplicate thread');
            const { lastInsertRowid } = q.recall.run(t.question, tenant, t.id);
            q.thread.run(tenant, t.id, t.question, 'active', t.protocol, t.userId, null, t.createdAt, t.createdAt, lastInsertRowid);
            db.exec('COMMIT');
            db.exec('BEGIN IMMEDIATE');
            const row = q.threadAndRound.get(turn.roundNumber, tenant, t.id);
            if (!row || row.taken) throw new Error('missing thread or duplicate round');
            insertTurnRows(q, tenant, t.id, turn); // with the decision's recall row
            q.touch.run(turn.completedAt, tenant, t.id);
            db.exec('COMMIT');
          },
          close: () => db.close(),
        };
      },
    },
    {
      key: 'raw-1tx',
      label: 'raw, driver schema, 1 tx',
      async open(file) {
        await driverSchemaFile(file);
        const db = openRaw(DatabaseSync, file);
        const tenant = SCOPE.tenant;
        const q = {
          recall: db.prepare(RECALL_SQL),
          thread: db.prepare(THREAD_SQL),
          turn: db.prepare(TURN_SQL),
          contribution: db.prepare(CONTRIBUTION_SQL),
        };
        return {
          write(r) {
            const { thread: t, turn } = r;
            db.exec('BEGIN');
            const { lastInsertRowid } = q.recall.run(t.question, tenant, t.id);
            q.thread.run(tenant, t.id, t.question, 'active', t.protocol, t.userId, null, t.createdAt, turn.completedAt, lastInsertRowid);
            insertTurnRows(q, tenant, t.id, turn);
            db.exec('COMMIT');
          },
          close: () => db.close(),
        };
      },
    },
    {
      key: 'raw-a6',
      label: 'raw, A6 schema (no FTS), 1 tx',
      async open(file) {
        const db = openRaw(DatabaseSync, file, A6_DDL);
        const q = {
          thread: db.prepare('INSERT INTO threads VALUES (?,?,?)'),
          turn: db.prepare('INSERT INTO turns VALUES (?,?,?,?,?)'),
          contribution: db.prepare('INSERT INTO contributions VALUES (?,?,?,?,?,?,?,?,?,?)'),
          decision: db.prepare('INSERT INTO decisions VALUES (?,?,?,?,?,?)'),
        };
        return {
          write(r) {
            const { thread: t, turn } = r;
            const now = Date.parse(t.createdAt);
            const turnId = uuidv7(now);
            db.exec('BEGIN');
            q.thread.run(t.id, t.question.slice(0, 40), now);
            q.turn.run(turnId, t.id, turn.roundNumber, t.question, now);
            for (const c of turn.contributions) q.contribution.run(uuidv7(now), turnId, c.model, c.role, c.content, c.inputTokens, c.outputTokens, c.costUsd, c.latencyMs, now);
            const d = turn.decision;
            q.decision.run(uuidv7(now), turnId, d.content, d.confidence, d.dissent, now);
            db.exec('COMMIT');
          },
          close: () => db.close(),
        };
      },
    },
  ];
}

async function measure(variant, file, records) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const writer = await variant.open(file);
  await settle(10);
  const latencies = new Array(records.length);
  const t0 = performance.now();
  for (let i = 0; i < records.length; i++) {
    const s = performance.now();
    await writer.write(records[i]);
    latencies[i] = performance.now() - s;
  }
  const elapsed = performance.now() - t0;
  await writer.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return { perSec: (records.length / elapsed) * 1000, latencies };
}

export async function benchSqlite({ records = 1200, passes = 3, warmup = 200 } = {}) {
  const [{ DatabaseSync }, { sqliteStorage }] = await Promise.all([
    import('node:sqlite'),
    import(new URL('../dist/storage/sqlite.mjs', import.meta.url).href),
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'duh-bench-g11-'));
  const all = variants({ DatabaseSync, sqliteStorage });
  const samples = new Map(all.map((v) => [v.key, { perSec: [], latencies: [] }]));
  try {
    // Same rows: one record written by each driver-schema writer, read back with the driver, must be equal.
    {
      const [record] = makeRecords(1);
      const stored = [];
      for (const variant of all.filter((v) => v.key !== 'raw-a6')) {
        const file = join(dir, `check-${variant.key}.db`);
        const writer = await variant.open(file);
        await writer.write(record);
        await writer.close();
        const reader = sqliteStorage({ path: file });
        stored.push([variant.key, await reader.getThread(SCOPE, record.thread.id)]);
        await reader.close();
      }
      for (const [key, thread] of stored.slice(1)) deepStrictEqual(thread, stored[0][1], `G11: the ${key} writer must store the same thread as the driver`);
    }
    // Warm the JIT on every writer (fresh records: a thread id is written once).
    for (const variant of all) await measure(variant, join(dir, `warm-${variant.key}.db`), makeRecords(warmup));
    for (let pass = 0; pass < passes; pass++) {
      const order = all.map((_, i) => all[(i + pass) % all.length]); // rotate who goes first
      for (const variant of order) {
        const result = await measure(variant, join(dir, `${variant.key}-${pass}.db`), makeRecords(records));
        const s = samples.get(variant.key);
        s.perSec.push(result.perSec);
        s.latencies.push(...result.latencies);
        await settle();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const stat = (key) => {
    const s = samples.get(key);
    return { perSec: median(s.perSec), range: `${Math.round(Math.min(...s.perSec))}..${Math.round(Math.max(...s.perSec))}`, p50: median(s.latencies), p99: quantile(s.latencies, 0.99) };
  };
  const base = stat('raw-1tx');
  const rows = all.map((v) => {
    const s = stat(v.key);
    return [v.label, String(Math.round(s.perSec)), s.range, ms(s.p50, 3), ms(s.p99, 2), ratio(s.perSec / base.perSec, 2)];
  });
  const driver = stat('driver');
  const twoCall = stat('driver-2call');
  const phased = stat('driver-phases');
  const twoTx = stat('raw-2tx');
  const a6 = stat('raw-a6');
  const text = [
    `G11 SQLite store — node:sqlite ${process.versions.sqlite ?? ''}, temp file, WAL + synchronous=NORMAL, foreign keys on, UUIDv7 thread ids; ${records} records per variant per pass (+${warmup} warm-up), ${passes} passes, variants rotated`,
    `record = ${RECORD_SHAPE}. The goal row writes it with one startThread call (one BEGIN IMMEDIATE transaction); the two-call row awaits createThread, then appendTurn (two transactions).`,
    table(['writer', 'records/s', 'range', 'p50 ms/record', 'p99 ms', '÷ raw 1 tx'], rows),
    `driver (startThread) ÷ raw (same schema, 1 tx) = ${ratio(driver.perSec / base.perSec, 2)} (goal ≥ 0.8×). As a run writes it (4 tx): ${ratio(phased.perSec / base.perSec, 2)}. Two calls instead: ${ratio(twoCall.perSec / base.perSec, 2)}, split into the two-transaction shape (raw 2 tx ÷ raw 1 tx) ${ratio(twoTx.perSec / base.perSec, 2)} and the driver's JS (two-call driver ÷ raw 2 tx) ${ratio(twoCall.perSec / twoTx.perSec, 2)}; schema (raw 1 tx ÷ A6 schema) ${ratio(base.perSec / a6.perSec, 2)}.`,
  ].join('\n');
  const goals = [
    goal('G11', 'SQLite driver ÷ raw node:sqlite (same schema, 1 tx)', ratio(driver.perSec / base.perSec, 2), '≥ 0.8×', driver.perSec / base.perSec >= 0.8),
    goal('G11', 'SQLite driver records/s', `${Math.round(driver.perSec)}/s`, '≥ 1600/s', driver.perSec >= 1600),
    goal('G11', 'SQLite driver p50 per record', `${ms(driver.p50, 3)} ms`, '≤ 0.3 ms', driver.p50 <= 0.3),
  ];
  return { text, goals, stats: { driver, raw: base } };
}
