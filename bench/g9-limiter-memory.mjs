// G9 — memory limiter throughput: `memoryLimiter()` (dist/limiter/memory.mjs) against the peers of
// performance.md §3 / A3, in this same run: `limiter` (TokenBucket.tryRemoveTokens sync, RateLimiter.removeTokens
// awaited) and rate-limiter-flexible (RateLimiterMemory.consume awaited, allowed and rejected), with A3's
// reference Map bucket as the floor. Keys rotate over 8 "provider" keys; the allowed paths use buckets too big
// to run dry (1e12), the denied ones buckets drained before timing.
//
// duh is called as the engine calls it: one request object per take, stamped with `Date.now()` (the peers read
// their own clocks). Each pass runs every case once, in rotated order, so all see the same machine; ops/s is
// the median over passes.
//
// Goals: duh tryTake ÷ the best sync peer ≥ 0.5, duh take (awaited) ÷ the best awaited peer ≥ 0.5, and a
// denial no slower than an allow (duh denied ÷ duh allowed ≥ 0.9, the 10 % being noise).
import { goal, median, ratio, settle, table } from './lib.mjs';

const KEYS = ['openai', 'anthropic', 'google', 'mistral', 'a', 'b', 'c', 'd'];
const BIG = 1e12;

function timeSync(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function timeAsync(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** The peers that are installed, or a note for each that is not. */
async function peers() {
  const notes = [];
  const load = async (name) => {
    try {
      return await import(name);
    } catch (error) {
      notes.push(`${name} is not installed (${error.code ?? error.message}); its rows are skipped.`);
      return undefined;
    }
  };
  return { limiter: await load('limiter'), rlf: await load('rate-limiter-flexible'), notes };
}

export async function benchLimiterMemory({ n = 1_000_000, passes = 7 } = {}) {
  const { memoryLimiter } = await import(new URL('../dist/limiter/memory.mjs', import.meta.url).href);
  const { limiter, rlf, notes } = await peers();

  // A3's floor: a minimal keyed token bucket with lazy refill from performance.now().
  const buckets = new Map();
  const floorTake = (key, cap = BIG, perMs = 1e6) => {
    const now = performance.now();
    let b = buckets.get(key);
    if (!b) {
      b = { t: cap, at: now };
      buckets.set(key, b);
    }
    b.t = Math.min(cap, b.t + (now - b.at) * perMs);
    b.at = now;
    if (b.t >= 1) {
      b.t -= 1;
      return true;
    }
    return false;
  };

  const duh = memoryLimiter();
  const duhDeny = memoryLimiter();
  for (const key of KEYS) duhDeny.tryTake({ key, capacity: 1, refillPerMs: 1 / 3_600_000, cost: 1, now: Date.now() });
  const allow = (i) => duh.tryTake({ key: KEYS[i & 7], capacity: BIG, refillPerMs: 1e6, cost: 1, now: Date.now() });
  const deny = (i) => duhDeny.tryTake({ key: KEYS[i & 7], capacity: 1, refillPerMs: 1 / 3_600_000, cost: 1, now: Date.now() });
  if (!allow(0).allowed || deny(0).allowed) throw new Error('G9: the duh buckets are not set up as intended');

  const cases = [
    { key: 'floor', kind: 'sync', label: 'reference Map bucket (floor)', run: (i) => floorTake(KEYS[i & 7]) },
    { key: 'floor-await', kind: 'await', label: 'reference Map bucket, awaited (floor)', run: async (i) => floorTake(KEYS[i & 7]) },
    { key: 'duh-sync', kind: 'sync', label: 'duh memoryLimiter().tryTake (sync, allowed)', run: allow },
    { key: 'duh-sync-deny', kind: 'sync', label: 'duh memoryLimiter().tryTake (sync, denied)', run: deny },
    { key: 'duh-await', kind: 'await', label: 'duh memoryLimiter().take (await, allowed)', run: (i) => duh.take({ key: KEYS[i & 7], capacity: BIG, refillPerMs: 1e6, cost: 1, now: Date.now() }) },
    { key: 'duh-await-deny', kind: 'await', label: 'duh memoryLimiter().take (await, denied)', run: (i) => duhDeny.take({ key: KEYS[i & 7], capacity: 1, refillPerMs: 1 / 3_600_000, cost: 1, now: Date.now() }) },
  ];
  if (limiter) {
    const lb = KEYS.map(() => new limiter.TokenBucket({ bucketSize: BIG, tokensPerInterval: BIG, interval: 'second' }));
    const lr = KEYS.map(() => new limiter.RateLimiter({ tokensPerInterval: BIG, interval: 'second' }));
    cases.push(
      { key: 'limiter-tb', kind: 'sync', peer: true, label: 'limiter TokenBucket.tryRemoveTokens(1) (sync)', run: (i) => lb[i & 7].tryRemoveTokens(1) },
      { key: 'limiter-rl', kind: 'sync', peer: true, label: 'limiter RateLimiter.tryRemoveTokens(1) (sync)', run: (i) => lr[i & 7].tryRemoveTokens(1) },
      { key: 'limiter-await', kind: 'await', peer: true, label: 'limiter RateLimiter.removeTokens(1) (await)', run: (i) => lr[i & 7].removeTokens(1) },
    );
  }
  if (rlf) {
    const consume = new rlf.RateLimiterMemory({ points: BIG, duration: 1 });
    const reject = new rlf.RateLimiterMemory({ points: 1, duration: 60 });
    cases.push(
      { key: 'rlf', kind: 'await', peer: true, label: 'rate-limiter-flexible consume (await, allowed)', run: (i) => consume.consume(KEYS[i & 7], 1) },
      { key: 'rlf-deny', kind: 'await', label: 'rate-limiter-flexible consume (await, rejected)', run: (i) => reject.consume(KEYS[i & 7], 1).catch(() => 0), share: 10 },
    );
  }

  const size = (c) => Math.round((c.kind === 'sync' ? n : n / 4) / (c.share ?? 1));
  // Warm-up: JIT every path before timing.
  for (const c of cases) {
    if (c.kind === 'sync') timeSync(c.run, size(c) / 10);
    else await timeAsync(c.run, size(c) / 10);
  }
  const samples = Object.fromEntries(cases.map((c) => [c.key, []]));
  for (let pass = 0; pass < passes; pass++) {
    const order = cases.map((_, i) => cases[(i + pass) % cases.length]);
    for (const c of order) {
      await settle(5);
      samples[c.key].push(c.kind === 'sync' ? timeSync(c.run, size(c)) : await timeAsync(c.run, size(c)));
    }
  }
  const opsOf = (key) => median(samples[key]);
  const best = (kind) => {
    const candidates = cases.filter((c) => c.peer && c.kind === kind);
    return candidates.length ? candidates.reduce((a, b) => (opsOf(a.key) >= opsOf(b.key) ? a : b)) : undefined;
  };
  const bestSync = best('sync');
  const bestAwait = best('await');
  const rows = cases.map((c) => {
    const base = c.kind === 'sync' ? bestSync : bestAwait;
    return [
      c.label,
      (opsOf(c.key) / 1e6).toFixed(2),
      `${(Math.min(...samples[c.key]) / 1e6).toFixed(2)}..${(Math.max(...samples[c.key]) / 1e6).toFixed(2)}`,
      (1e9 / opsOf(c.key)).toFixed(0),
      base ? ratio(opsOf(c.key) / opsOf(base.key), 2) : 'n/a',
    ];
  });
  const syncRatio = bestSync ? opsOf('duh-sync') / opsOf(bestSync.key) : NaN;
  const awaitRatio = bestAwait ? opsOf('duh-await') / opsOf(bestAwait.key) : NaN;
  const denySync = opsOf('duh-sync-deny') / opsOf('duh-sync');
  const denyAwait = opsOf('duh-await-deny') / opsOf('duh-await');
  const text = [
    `G9 memory limiter — ${n.toLocaleString('en')} sync / ${(n / 4).toLocaleString('en')} awaited ops per case per pass, ${passes} passes, order rotated, 8 rotating keys`,
    table(['case', 'M ops/s', 'range', 'ns/op', '÷ best peer (same kind)'], rows),
    `best sync peer: ${bestSync?.label ?? 'none installed'}; best awaited peer: ${bestAwait?.label ?? 'none installed'}.`,
    `duh tryTake ÷ best sync peer = ${ratio(syncRatio)} (goal ≥ 0.5×); duh take ÷ best awaited peer = ${ratio(awaitRatio)} (goal ≥ 0.5×).`,
    `denied ÷ allowed ops/s: duh sync ${ratio(denySync)}, duh awaited ${ratio(denyAwait)} (goal: a denial no slower than an allow)` +
      (rlf ? `; rate-limiter-flexible ${ratio(opsOf('rlf-deny') / opsOf('rlf'))} (it rejects with an error).` : '.'),
    ...notes,
  ].join('\n');
  const goals = [
    goal('G9', 'memory tryTake ÷ best sync peer', ratio(syncRatio), '≥ 0.5×', bestSync ? syncRatio >= 0.5 : 'skipped'),
    goal('G9', 'memory take (await) ÷ best awaited peer', ratio(awaitRatio), '≥ 0.5×', bestAwait ? awaitRatio >= 0.5 : 'skipped'),
    goal('G9', 'memory denial ÷ allow, sync', ratio(denySync), '≥ 0.9× (no slower)', denySync >= 0.9),
    goal('G9', 'memory denial ÷ allow, awaited', ratio(denyAwait), '≥ 0.9× (no slower)', denyAwait >= 0.9),
  ];
  return { text, goals };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { text } = await benchLimiterMemory(process.env.BENCH_QUICK === '1' ? { n: 200_000, passes: 3 } : {});
  console.log(text);
}
