// G7 — engine CPU per round with instant providers (MockAdapter latency 0). CPU is process.cpuUsage()
// (user + system, all threads, so GC helper threads count) over a batch, divided by the runs; wall is the
// median of per-run wall times. The floor is the same round in plain JS with instant async functions.
import { checkCast, engineRound, floorRound, forgetCalls, loadDuh, makeMembers, noopStorage } from './engine.mjs';
import { goal, median, quantile, ratio, settle, table } from './lib.mjs';

async function batch(runs, fn, after) {
  const wall = new Array(runs);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    wall[i] = performance.now() - t0;
    after?.();
  }
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / runs, wallUs: median(wall) * 1000, wallP99Us: quantile(wall, 0.99) * 1000 };
}

const VARIANTS = [
  { key: 'default', label: 'default (classify on, memory storage)', classify: true, storage: undefined },
  { key: 'classify-off', label: 'classify off, memory storage', classify: false, storage: undefined },
  { key: 'no-storage', label: 'classify off, no-op storage', classify: false, storage: noopStorage },
];

const us = (value) => (Number.isFinite(value) ? value.toFixed(1) : 'n/a');

export async function benchCpu({ runs = { 3: 2000, 10: 1000 }, warmup = { 3: 200, 10: 100 }, floorRuns = 20000, passes = 3 } = {}) {
  const { Consensus, MockAdapter } = await loadDuh();
  const sizes = Object.keys(runs).map(Number);
  const results = [];
  for (const n of sizes) {
    for (const variant of VARIANTS) {
      const floor = floorRound(n, 0, { classify: variant.classify });
      for (let i = 0; i < 1000; i++) await floor();
      const passResults = [];
      for (let pass = 0; pass < passes; pass++) {
        // A fresh engine (and so a fresh default memory storage) per pass, so stored threads do not pile up.
        const members = makeMembers(MockAdapter, n, 0);
        const duh = new Consensus({ models: members, ...(variant.storage ? { storage: variant.storage } : {}) });
        const engine = engineRound(duh, members, variant);
        checkCast(await engine(), n, variant.classify);
        for (let i = 0; i < warmup[n]; i++) {
          await engine();
          forgetCalls(members);
        }
        await settle();
        const floorStats = await batch(floorRuns, floor);
        await settle();
        const engineStats = await batch(runs[n], engine, () => forgetCalls(members));
        passResults.push({ floor: floorStats, engine: engineStats });
        await settle();
      }
      const pick = (side, field) => median(passResults.map((p) => p[side][field]));
      const range = (side, field) => {
        const values = passResults.map((p) => p[side][field]);
        return `${us(Math.min(...values))}..${us(Math.max(...values))}`;
      };
      results.push({
        n,
        variant,
        floorCpu: pick('floor', 'cpuUs'),
        floorWall: pick('floor', 'wallUs'),
        engineCpu: pick('engine', 'cpuUs'),
        engineCpuRange: range('engine', 'cpuUs'),
        engineWall: pick('engine', 'wallUs'),
        engineWallP99: pick('engine', 'wallP99Us'),
      });
    }
  }

  const rows = results.map((r) => [
    `N=${String(r.n).padStart(2)} ${r.variant.label}`,
    us(r.floorCpu),
    us(r.engineCpu),
    r.engineCpuRange,
    ratio(r.engineCpu / r.floorCpu, 0),
    us((r.engineCpu - r.floorCpu) / (r.n + 1 + (r.variant.classify ? 1 : 0))),
    us(r.floorWall),
    us(r.engineWall),
    us(r.engineWallP99),
    ratio(r.engineWall / r.floorWall, 0),
  ]);
  const text = [
    `G7 engine CPU per round — instant MockAdapter members, rounds: 1; runs per pass ${sizes.map((n) => `N=${n}: ${runs[n]} (+${warmup[n]} warm-up)`).join(', ')}; floor ${floorRuns} runs; median of ${passes} passes`,
    table(
      ['config', 'floor CPU µs', 'engine CPU µs', 'engine CPU range', 'CPU ÷ floor', 'extra CPU per call µs', 'floor wall µs', 'engine wall µs', 'engine wall p99', 'wall ÷ floor'],
      rows,
    ),
  ].join('\n');

  const goals = [];
  for (const r of results) {
    const limit = r.variant.key === 'no-storage' ? 200 : 500;
    const target = `≤ ${limit} µs${r.variant.key === 'no-storage' ? ' (storage off)' : ''}`;
    goals.push(
      goal('G7', `CPU/round N=${r.n} ${r.variant.key} (${ratio(r.engineCpu / r.floorCpu, 0)} floor)`, `${us(r.engineCpu)} µs`, target, r.engineCpu <= limit),
    );
  }
  return { text, goals };
}
