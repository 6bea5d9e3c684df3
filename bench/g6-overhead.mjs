// G6 — engine overhead per round against the physical floor: MockAdapter members that answer after
// D = 50 ms (setTimeout), against a plain-JS round with the same sequential sleeps. Engine and floor
// repetitions alternate, so both see the same timer lateness and machine noise.
import { checkCast, engineRound, floorRound, forgetCalls, loadDuh, makeMembers } from './engine.mjs';
import { goal, median, ms, quantile, ratio, settle, signed, table } from './lib.mjs';

const D = 50;

async function measurePair(engine, floor, members, { reps, warmup }) {
  for (let i = 0; i < warmup; i++) {
    await engine();
    forgetCalls(members);
    await floor();
  }
  const engineWall = [];
  const floorWall = [];
  for (let i = 0; i < reps; i++) {
    // Alternate which one goes first, so neither always runs right after the other.
    const order = i % 2 ? [[floor, floorWall], [engine, engineWall]] : [[engine, engineWall], [floor, floorWall]];
    for (const [fn, samples] of order) {
      const t0 = performance.now();
      await fn();
      samples.push(performance.now() - t0);
      forgetCalls(members);
    }
  }
  return { engineWall, floorWall };
}

/** Warm the JIT on the same code paths with instant members, so the measured runs see steady-state code. */
async function warmJit(Consensus, MockAdapter, n, classify, runs) {
  const members = makeMembers(MockAdapter, n, 0);
  const round = engineRound(new Consensus({ models: members }), members, { classify });
  const floor = floorRound(n, 0, { classify });
  for (let i = 0; i < runs; i++) {
    await round();
    forgetCalls(members);
    await floor();
  }
}

export async function benchOverhead({ reps = 30, warmup = 3, jitWarmup = 200, sizes = [3, 10] } = {}) {
  const { Consensus, MockAdapter } = await loadDuh();
  const results = [];
  for (const classify of [false, true]) {
    for (const n of sizes) {
      await warmJit(Consensus, MockAdapter, n, classify, jitWarmup);
      await settle();
      const members = makeMembers(MockAdapter, n, D);
      const duh = new Consensus({ models: members });
      const engine = engineRound(duh, members, { classify });
      checkCast(await engine(), n, classify);
      forgetCalls(members);
      const floor = floorRound(n, D, { classify });
      const { engineWall, floorWall } = await measurePair(engine, floor, members, { reps, warmup });
      const steps = classify ? 4 : 3;
      results.push({
        n,
        classify,
        steps,
        engine: median(engineWall),
        floor: median(floorWall),
        engineP99: quantile(engineWall, 0.99),
        floorP99: quantile(floorWall, 0.99),
      });
      await settle();
    }
  }

  const rows = results.map((r) => [
    `N=${String(r.n).padStart(2)} ${r.classify ? 'classify on ' : 'classify off'}`,
    `${r.steps}×${D}=${r.steps * D}`,
    ms(r.floor, 2),
    ms(r.engine, 2),
    ratio(r.engine / r.floor, 4),
    signed(r.engine - r.floor, 2),
    ms(r.floorP99 - r.steps * D, 2),
    ms(r.engineP99 - r.steps * D, 2),
  ]);
  const text = [
    `G6 engine overhead per round — D=${D} ms MockAdapter latency, rounds: 1, 1 proposer + N−1 challengers, ${reps} reps each (+${warmup} warm-up, JIT warmed by ${jitWarmup} instant runs), engine/floor alternating`,
    table(['config', 'critical path ms', 'floor med ms', 'engine med ms', 'engine ÷ floor', 'engine − floor', 'floor p99 − path', 'engine p99 − path'], rows),
  ];

  const goals = [];
  const find = (n, classify) => results.find((r) => r.n === n && r.classify === classify);
  for (const classify of [false, true]) {
    for (const n of sizes) {
      const r = find(n, classify);
      const q = r.engine / r.floor;
      goals.push(goal('G6', `engine/floor N=${n} classify ${classify ? 'on ' : 'off'} (${r.steps}-sleep floor)`, ratio(q, 4), '≤ 1.01', q <= 1.01));
    }
  }
  const [small, large] = [Math.min(...sizes), Math.max(...sizes)];
  for (const classify of [false, true]) {
    const a = find(small, classify);
    const b = find(large, classify);
    const delta = b.engine - a.engine;
    const floorDelta = b.floor - a.floor;
    text.push(
      `  classify ${classify ? 'on ' : 'off'}: wall(N=${large}) − wall(N=${small}) = ${signed(delta, 2)} (floor ${signed(floorDelta, 2)}; engine minus floor ${signed(delta - floorDelta, 2)})`,
    );
    goals.push(goal('G6', `wall(N=${large}) − wall(N=${small}) classify ${classify ? 'on ' : 'off'}`, signed(delta, 2), '≤ 1 ms', delta <= 1));
  }
  const worst = results.reduce((acc, r) => Math.max(acc, r.engineP99 - r.steps * D), -Infinity);
  const floorWorst = results.reduce((acc, r) => Math.max(acc, r.floorP99 - r.steps * D), -Infinity);
  goals.push(goal('G6', `engine p99 over critical path, worst config (floor's: ${signed(floorWorst, 2)})`, signed(worst, 2), '≤ +5 ms', worst <= 5));
  return { text: text.join('\n'), goals };
}
