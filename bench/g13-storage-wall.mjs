// G13 — what storage adds to a run's wall time. A consensus run with MockAdapter members that answer after
// D = 20 ms (N = 3, classify off: propose → 2 challenges → revise, 3 × D per round), with a no-op storage (the
// baseline), the default memory storage, SQLite on a temp file, and Postgres when reachable (information only).
// Each repetition runs every storage once, in rotated order, so all see the same timer lateness.
//
// Which writes are on the critical path: none before the first call. Memory, SQLite and Postgres have
// startThread and appendPhase, so round 1's PROPOSE phase creates the thread, and the engine hands over each
// phase (PROPOSE, CHALLENGE, REVISE, COMMIT) as it completes and goes on to the next model call; the write
// overlaps that call (SQLite runs its synchronous transaction on the next macrotask, after the call has started
// its timer). Writes with no call after them are on the path: with classify off, REVISE and COMMIT of the last
// round come back to back, then finishThread. So a 1-round run has PROPOSE (with the thread) and CHALLENGE
// overlapped, REVISE + COMMIT + finishThread on the path; a 2-round run has the same on-path work (its round 1
// phases all overlap a call). The no-op storage has neither startThread nor appendPhase (createThread, then one
// appendTurn per round, each doing nothing).
import { checkCast, forgetCalls, loadDuh, makeMembers, noopStorage, QUESTION } from './engine.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goal, median, ms, quantile, settle, signed, table } from './lib.mjs';
import { PG_URL, benchSchema, reachPostgres } from './g12-postgres.mjs';
import { SCOPE } from './storage-record.mjs';

const D = 20;
const N = 3;

export async function benchStorageWall({ reps = { 1: 30, 2: 16 }, warmup = 3, jitWarmup = 50 } = {}) {
  const { Consensus, MockAdapter } = await loadDuh();
  const { sqliteStorage } = await import(new URL('../dist/storage/sqlite.mjs', import.meta.url).href);
  const dir = mkdtempSync(join(tmpdir(), 'duh-bench-g13-'));
  const reach = await reachPostgres();
  let pgPool;
  let pgSchema;
  const storages = [
    { key: 'noop', label: 'no-op storage (baseline)', make: () => noopStorage },
    { key: 'memory', label: 'memory (default)', make: () => undefined },
    { key: 'sqlite', label: 'sqlite (temp file)', make: () => sqliteStorage({ path: join(dir, 'g13.db') }) },
  ];
  if (!reach.skip) {
    const { postgresStorage } = await import(new URL('../dist/storage/postgres.mjs', import.meta.url).href);
    pgPool = new reach.pg.Pool({ connectionString: PG_URL, max: 2 });
    pgSchema = benchSchema('g13');
    storages.push({ key: 'postgres', label: 'postgres (information only)', info: true, make: () => postgresStorage({ pool: pgPool, schema: pgSchema }) });
  }

  const results = [];
  const opened = [];
  try {
    for (const rounds of [1, 2]) {
      const setups = [];
      for (const s of storages) {
        const storage = s.make();
        if (storage?.close) opened.push(storage);
        const opts = (members) => ({ models: members, ...(storage ? { storage } : {}) });
        // Warm the JIT on the same paths with instant members (and the same storage, which also opens it).
        const instant = makeMembers(MockAdapter, N, 0);
        const warm = new Consensus(opts(instant));
        for (let i = 0; i < jitWarmup; i++) {
          await warm.ask(QUESTION, { rounds, challengerCount: N - 1, classify: false });
          forgetCalls(instant);
        }
        const members = makeMembers(MockAdapter, N, D);
        const duh = new Consensus(opts(members));
        // When the last `commit` event came: from there to the result is the storage tail (last writes, finish).
        let committedAt = 0;
        const onEvent = (event) => {
          if (event.type === 'commit') committedAt = performance.now();
        };
        const run = () => duh.ask(QUESTION, { rounds, challengerCount: N - 1, classify: false, onEvent });
        const result = await run();
        if (result.rounds.length !== rounds) throw new Error(`G13: expected ${rounds} rounds, the run made ${result.rounds.length} (${result.stopReason})`);
        checkCast({ ...result, rounds: [result.rounds[0]] }, N, false);
        if (s.key !== 'noop') {
          const stored = await duh.storage.getThread(SCOPE, result.threadId);
          if (stored?.turns.length !== rounds || stored.status !== 'complete') throw new Error(`G13: ${s.key} did not store the run`);
        }
        forgetCalls(members);
        for (let i = 0; i < warmup; i++) {
          await run();
          forgetCalls(members);
        }
        setups.push({ storage: s, run, members, wall: [], tail: [], committed: () => committedAt });
      }
      await settle();
      for (let rep = 0; rep < reps[rounds]; rep++) {
        for (let k = 0; k < setups.length; k++) {
          const setup = setups[(k + rep) % setups.length];
          const t0 = performance.now();
          await setup.run();
          const t1 = performance.now();
          setup.wall.push(t1 - t0);
          setup.tail.push(t1 - setup.committed());
          forgetCalls(setup.members);
        }
      }
      const base = median(setups[0].wall);
      for (const setup of setups) {
        const p50 = median(setup.wall);
        results.push({ rounds, storage: setup.storage, p50, p90: quantile(setup.wall, 0.9), delta: p50 - base, tail: median(setup.tail) });
      }
      await settle();
    }
  } finally {
    for (const storage of opened) await storage.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    if (pgPool) {
      await pgPool.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`).catch(() => {});
      await pgPool.end();
    }
  }

  const rows = results.map((r) => [
    `${r.rounds} round${r.rounds > 1 ? 's' : ''} (${r.rounds === 1 ? 'REVISE+COMMIT, finish on the path' : 'round 1 phases overlapped'}), ${r.storage.label}`,
    `${r.rounds * 3}×${D}=${r.rounds * 3 * D}`,
    ms(r.p50, 2),
    ms(r.p90, 2),
    r.storage.key === 'noop' ? '—' : signed(r.delta, 2),
    r.storage.key === 'noop' ? '—' : signed(r.delta / r.rounds, 2),
    ms(r.tail, 3),
  ]);
  const text = [
    `G13 storage on the wall time — MockAdapter members at ${D} ms, N=${N}, classify off; ${reps[1]} runs (1 round) and ${reps[2]} runs (2 rounds) per storage, storages rotated per repetition; +${jitWarmup} instant warm-up runs`,
    `On the path: the last round's REVISE + COMMIT phase writes (classify off: no call between them) and finishThread; every other phase write, the one that creates the thread (startThread) included, overlaps the next model call.${reach.skip ? ` Postgres row skipped: ${reach.skip}.` : ''}`,
    table(['run, storage', 'path ms', 'p50 wall ms', 'p90 ms', 'Δ p50 vs no-op', 'Δ per round', 'commit → result p50 ms'], rows),
    '`commit → result` is the time from the last `commit` event to the resolved result: the last writes and finishThread (the no-op row is the engine alone). It has no timer in it, so it reads below the 1 ms timer granularity that blurs the Δ columns.',
  ].join('\n');
  const goals = results
    .filter((r) => r.storage.key !== 'noop')
    .map((r) =>
      goal('G13', `storage Δ p50, ${r.rounds} round${r.rounds > 1 ? 's' : ''}, ${r.storage.key}`, signed(r.delta, 2), '≤ +1 ms', r.storage.info ? undefined : r.delta <= 1),
    );
  return { text, goals };
}
