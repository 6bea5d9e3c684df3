// Shared helpers for the bench: statistics, formatting, and the goal summary. Plain ESM, no dependencies.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Median (mean of the two middle values for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 ? sorted[n >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** Nearest-rank quantile (q in [0, 1]). With few samples p99 is the maximum. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const min = (values) => Math.min(...values);
export const max = (values) => Math.max(...values);

/** Milliseconds with a fixed number of decimals. */
export const ms = (value, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
/** A ratio like 0.12× / 1.004×. */
export const ratio = (value, digits = 2) => (Number.isFinite(value) ? `${value.toFixed(digits)}×` : 'n/a');
/** Signed value with unit. */
export const signed = (value, digits = 2, unit = 'ms') =>
  Number.isFinite(value) ? `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(digits)} ${unit}` : 'n/a';

/** Render rows (arrays of strings) as a left/right aligned table; numeric-looking cells are right-aligned. */
export function table(header, rows) {
  const all = [header, ...rows].map((row) => row.map((cell) => String(cell)));
  const widths = header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  const numeric = (cell) => /^[-+−]?[\d.]+/.test(cell) || cell === 'n/a' || cell === '—';
  const line = (row) =>
    row
      .map((cell, col) => (col > 0 && numeric(cell) ? cell.padStart(widths[col]) : cell.padEnd(widths[col])))
      .join('  ')
      .trimEnd();
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

/**
 * One line of the final summary. `ok` is informational: the bench never fails on timings. `undefined` prints
 * `info`, and `'skipped'` prints `SKIPPED` (the goal could not be measured here, e.g. no database server).
 */
export function goal(id, label, value, target, ok) {
  return { id, label, value, target, ok };
}

export const verdict = (ok) => (ok === undefined ? 'info' : ok === 'skipped' ? 'SKIPPED' : ok ? 'PASS' : 'MISS');

/**
 * A full garbage collection, so one measurement does not pay for the garbage of the one before. Uses the
 * documented `--expose-gc` flag, switched on at run time (no extra node flags needed); a no-op if unavailable.
 */
export const collectGarbage = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? () => gc() : () => {};
  } catch {
    return () => {};
  }
})();

/** Let pending timers and I/O settle and collect garbage between measurements. */
export async function settle(delayMs = 20) {
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  collectGarbage();
}

/**
 * A ~2 KB contribution made of ordinary words (so word splitting, sycophancy checks and prompt building see
 * realistic text rather than one long run of a single character), like performance.md A4's 2 KB replies.
 */
export function contribution(bytes = 2048, seed = 0) {
  const words = (
    'the proposal underestimates operational cost because each service needs its own deployment pipeline ' +
    'monitoring alerting and on call rotation which a five person team cannot staff without slowing product ' +
    'work a modular monolith with clear boundaries keeps the option to split later while shipping faster now ' +
    'measure latency budgets data ownership and team topology before committing to a distributed design'
  ).split(' ');
  let text = `Position ${seed}: `;
  for (let i = seed; text.length < bytes; i++) text += `${words[i % words.length]} `;
  return text.slice(0, bytes);
}

/**
 * Run a probe script in a fresh Node process (the same binary) from `dir`; returns its wall time and the JSON
 * object on its last stdout line. `print` sets DUH_BENCH_PRINT so probes report their in-process timings.
 */
export function runProbe(dir, args, print) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // keep preloads (debuggers, loaders) out of the samples
  if (print) env.DUH_BENCH_PRINT = '1';
  else delete env.DUH_BENCH_PRINT;
  const t0 = performance.now();
  const child = spawnSync(process.execPath, args, { cwd: fileURLToPath(dir), env, encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (child.status !== 0) throw new Error(`probe ${args.join(' ')} exited with ${child.status}:\n${child.stderr}`);
  return { wall, out: JSON.parse(child.stdout.trim().split('\n').at(-1)) };
}
