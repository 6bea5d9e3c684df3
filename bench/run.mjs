// `npm run bench`: G1 (cold import), G2 (cold path with four members), G8 (streaming overhead of the SDK-backed
// adapters), G6 (overhead per round), G7 (CPU per round), G9 (memory limiter), G10 (Redis limiter), G11 (SQLite
// store), G12 (Postgres store) and G13 (storage on a run's wall time) from performance.md §6. BENCH_ONLY=G11,G12,G13
// runs only the goals listed.
// Every figure is reported against a baseline measured in this same run. Timings never fail the bench: the
// PASS/MISS words are informational, and the process exits 0 unless something crashes.
import { benchImport } from './g1-import.mjs';
import { benchColdFour } from './g2-cold-four.mjs';
import { benchStreaming } from './g8-streaming.mjs';
import { benchOverhead } from './g6-overhead.mjs';
import { benchCpu } from './g7-cpu.mjs';
import { benchSqlite } from './g11-sqlite.mjs';
import { benchPostgres } from './g12-postgres.mjs';
import { benchStorageWall } from './g13-storage-wall.mjs';
import { benchLimiterMemory } from './g9-limiter-memory.mjs';
import { benchLimiterRedis } from './g10-limiter-redis.mjs';
import { verdict } from './lib.mjs';
import { existsSync } from 'node:fs';

const built = [
  'index.mjs',
  'testing.mjs',
  'adapters/openai.mjs',
  'adapters/anthropic.mjs',
  'adapters/google.mjs',
  'adapters/mistral.mjs',
  'storage/sqlite.mjs',
  'storage/postgres.mjs',
  'limiter/memory.mjs',
  'limiter/redis.mjs',
];
if (!built.every((file) => existsSync(new URL(`../dist/${file}`, import.meta.url)))) {
  console.error('bench: dist/ is missing; build first (`npm run build`, or use `npm run bench`, which builds).');
  process.exit(1);
}

const quick = process.env.BENCH_QUICK === '1';
const GOALS = ['G1', 'G2', 'G8', 'G6', 'G7', 'G9', 'G10', 'G11', 'G12', 'G13'];
const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((id) => id.trim().toUpperCase()).filter(Boolean) : undefined;
const unknown = (only ?? []).filter((id) => !GOALS.includes(id));
if (unknown.length) {
  console.error(`bench: BENCH_ONLY names unknown goals (${unknown.join(', ')}); known: ${GOALS.join(', ')}.`);
  process.exit(1);
}
const log = (line) => process.stderr.write(`${line}\n`);
const started = performance.now();

console.log(
  `duh bench — Node ${process.version} (${process.execPath}), ${process.platform}/${process.arch}${quick ? ', BENCH_QUICK=1' : ''}${only ? `, BENCH_ONLY=${only.join(',')}` : ''}`,
);
console.log('Ratios are against baselines measured in this run; medians in ms/µs are for orientation only.\n');

const sections = [];
const run = async (name, fn) => {
  if (only && !only.includes(name)) return;
  const t0 = performance.now();
  log(`[bench] ${name}…`);
  const section = await fn();
  console.log(section.text);
  console.log(`(${name} took ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  sections.push(section);
};

await run('G1', () => benchImport({ samples: quick ? 5 : 15 }));
await run('G2', () => benchColdFour({ samples: quick ? 3 : 11 }));
await run('G8', () => benchStreaming(quick ? { reps: 150, warmup: 30 } : { reps: 1200, warmup: 200 }));
await run('G6', () => benchOverhead({ reps: quick ? 6 : 30, warmup: quick ? 1 : 3, jitWarmup: quick ? 50 : 200 }));
await run('G7', () =>
  benchCpu(quick ? { runs: { 3: 300, 10: 100 }, warmup: { 3: 50, 10: 20 }, floorRuns: 3000, passes: 1 } : {}),
);
await run('G9', () => benchLimiterMemory(quick ? { n: 200_000, passes: 3 } : {}));
await run('G10', () => benchLimiterRedis(quick ? { ops: { 1: 2000, 64: 10_000 }, passes: 1, warmup: 500 } : {}));
await run('G11', () => benchSqlite(quick ? { records: 300, passes: 1, warmup: 50 } : {}));
await run('G12', () => benchPostgres(quick ? { records: { 1: 100, 8: 300 }, passes: 1, warmup: 20 } : {}));
await run('G13', () => benchStorageWall(quick ? { reps: { 1: 6, 2: 4 }, warmup: 1, jitWarmup: 20 } : {}));

const goals = sections.flatMap((section) => section.goals);
const labelWidth = Math.max(...goals.map((g) => `${g.id} ${g.label}`.length));
const valueWidth = Math.max(...goals.map((g) => g.value.length));
console.log('Summary (informational; PASS/MISS never fails the bench)');
for (const g of goals) {
  console.log(`${`${g.id} ${g.label}`.padEnd(labelWidth)} = ${g.value.padStart(valueWidth)}  (goal ${g.target})  ${verdict(g.ok)}`);
}
console.log(`\nTotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
