// G10 — Redis limiter: `redisLimiter({ client })` (dist/limiter/redis.mjs) against the round-trip floor (ioredis
// PING) and rate-limiter-flexible's RateLimiterRedis on the same Redis, through the same ioredis client, as
// performance.md A3 measured them: 1 in flight (sequential: latency p50/p99) and 64 in flight (throughput).
// Keys rotate over 8 "provider" keys in buckets too big to run dry. This machine is noisy (a PING's round trip
// switches between ~15 µs and ~80 µs phases), so the cases are interleaved finely: at 1 in flight one operation
// of each case in turn (order shuffled every 64), at 64 in flight short chunks per case in rotation (ops/s is
// the median over chunks). Latencies are per operation, over the whole run.
//
// Round trips are counted on the server: `INFO commandstats` before and after a batch of takes (read on a second
// connection) must show exactly one EVALSHA per take and no other top-level command (the HMGET, HSET and PEXPIRE
// the script runs inside Redis are counted there too, and listed apart).
//
// Server: BENCH_REDIS_URL, default redis://127.0.0.1:6379. Keys live under duh-bench:<pid>: and are deleted when
// done. Without ioredis or a reachable server, G10 is SKIPPED.
import { goal, median, quantile, ratio, table } from './lib.mjs';

export const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
const KEYS = ['openai', 'anthropic', 'google', 'mistral', 'a', 'b', 'c', 'd'];
const BIG = 1e12;

async function reachRedis() {
  let Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    return { skip: `ioredis is not installed (${error.code ?? error.message})` };
  }
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const info = await probe.info('server');
    return { Redis, server: `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}` };
  } catch (error) {
    return { skip: `${REDIS_URL} is not reachable (${error.code ?? error.message})` };
  } finally {
    probe.disconnect();
  }
}

/** `total` operations with `inflight` workers; per-op latencies in ms. */
async function measure(op, total, inflight) {
  const latencies = new Float64Array(total);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < total) {
        const i = next++;
        const start = performance.now();
        await op(i);
        latencies[i] = performance.now() - start;
      }
    }),
  );
  return { perSec: (total / (performance.now() - t0)) * 1000, latencies: Array.from(latencies) };
}

/** Total calls per command name from `INFO commandstats`. */
async function commandCalls(client) {
  const calls = {};
  for (const match of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2]);
  return calls;
}

export async function benchLimiterRedis({ ops = { 1: 10_000, 64: 60_000 }, passes = 3, warmup = 2000 } = {}) {
  const reach = await reachRedis();
  if (reach.skip) {
    return {
      text: `G10 Redis limiter — ${reach.skip}. Set BENCH_REDIS_URL to a reachable Redis 7 to run it.`,
      goals: [goal('G10', 'Redis limiter', 'n/a', 'p50 ≤ 1.25× PING, ≥ 0.8× RLF at 64', 'skipped')],
    };
  }
  const { redisLimiter } = await import(new URL('../dist/limiter/redis.mjs', import.meta.url).href);
  let rlfModule;
  try {
    rlfModule = await import('rate-limiter-flexible');
  } catch {
    rlfModule = undefined;
  }
  const prefix = `duh-bench:${process.pid}:`;
  const client = new reach.Redis(REDIS_URL);
  const admin = new reach.Redis(REDIS_URL);
  client.on('error', () => {});
  admin.on('error', () => {});
  try {
    const store = redisLimiter({ client, prefix });
    const take = (i) => store.take({ key: KEYS[i & 7], capacity: BIG, refillPerMs: BIG / 1000, cost: 1, now: Date.now() });
    const check = await take(0);
    if (!check.allowed || check.degraded) throw new Error(`G10: the first take was not a plain allow: ${JSON.stringify(check)}`);

    // Exactly one round trip per take: count commands on the server.
    const before = await commandCalls(admin);
    const COUNTED = 2000;
    for (let i = 0; i < COUNTED; i++) await take(i);
    const after = await commandCalls(admin);
    const delta = Object.fromEntries(Object.keys(after).map((name) => [name, after[name] - (before[name] ?? 0)]).filter(([, n]) => n > 0));
    delete delta.info; // the two INFO calls of the admin connection
    // commandstats also counts what the script itself calls (HMGET, HSET, PEXPIRE, ...): those run inside Redis,
    // not on the wire. The store's wire commands can only be EVALSHA and EVAL.
    const inScript = new Set(['hmget', 'hset', 'pexpire', 'persist', 'del']);
    const topLevel = Object.entries(delta).filter(([name]) => !inScript.has(name));
    const roundTrips = topLevel.reduce((sum, [, n]) => sum + n, 0) / COUNTED;

    const cases = [
      { key: 'ping', label: 'ioredis PING (round-trip floor)', op: () => client.ping() },
      { key: 'duh', label: 'duh redisLimiter().take', op: take },
    ];
    if (rlfModule) {
      const rlf = new rlfModule.RateLimiterRedis({ storeClient: client, points: BIG, duration: 60, keyPrefix: `${prefix}rlf` });
      cases.push({ key: 'rlf', label: 'rate-limiter-flexible RateLimiterRedis.consume', op: (i) => rlf.consume(KEYS[i & 7], 1) });
    }
    for (const c of cases) await measure(c.op, warmup, 1);
    const results = [];
    // 1 in flight: one operation of each case in turn (shuffled each round), so every case sees the same moments
    // of a noisy machine; latencies are per operation.
    {
      const latencies = Object.fromEntries(cases.map((c) => [c.key, []]));
      let order = [...cases];
      for (let i = 0; i < ops[1]; i++) {
        if (i % 64 === 0) order = order.map((c) => [Math.random(), c]).sort((a, b) => a[0] - b[0]).map(([, c]) => c);
        for (const c of order) {
          const start = performance.now();
          await c.op(i);
          latencies[c.key].push(performance.now() - start);
        }
      }
      for (const c of cases) {
        const l = latencies[c.key];
        results.push({ inflight: 1, key: c.key, label: c.label, perSec: 1000 / (l.reduce((a, b) => a + b, 0) / l.length), p50: median(l), p99: quantile(l, 0.99) });
      }
    }
    // 64 in flight: short chunks per case, rotated, so each case gets a share of every phase of the run.
    {
      const samples = Object.fromEntries(cases.map((c) => [c.key, { perSec: [], latencies: [] }]));
      const chunk = Math.max(1000, Math.round(ops[64] / (passes * 5)));
      for (let round = 0; round < passes * 5; round++) {
        for (const c of cases.map((_, i) => cases[(i + round) % cases.length])) {
          const r = await measure(c.op, chunk, 64);
          samples[c.key].perSec.push(r.perSec);
          samples[c.key].latencies.push(...r.latencies);
        }
      }
      for (const c of cases) {
        const s = samples[c.key];
        results.push({ inflight: 64, key: c.key, label: c.label, perSec: median(s.perSec), p50: median(s.latencies), p99: quantile(s.latencies, 0.99) });
      }
    }
    const find = (inflight, key) => results.find((r) => r.inflight === inflight && r.key === key);
    const rows = results.map((r) => [
      `${r.label}, ${r.inflight} in flight`,
      String(Math.round(r.perSec)),
      (r.p50 * 1000).toFixed(0),
      (r.p99 * 1000).toFixed(0),
      ratio(find(r.inflight, 'ping').p50 / r.p50 > 0 ? r.p50 / find(r.inflight, 'ping').p50 : NaN, 2),
      find(r.inflight, 'rlf') ? ratio(r.perSec / find(r.inflight, 'rlf').perSec, 2) : 'n/a',
    ]);
    const latencyRatio = find(1, 'duh').p50 / find(1, 'ping').p50;
    const throughputRatio = find(64, 'rlf') ? find(64, 'duh').perSec / find(64, 'rlf').perSec : NaN;
    const text = [
      `G10 Redis limiter — ${reach.server} at ${REDIS_URL}, one ioredis client shared by every case; ${ops[1]} ops per case at 1 in flight (interleaved op by op), ~${ops[64]} at 64 in flight (${passes * 5} rotated chunks), +${warmup} warm-up each`,
      table(['case', 'ops/s', 'p50 µs', 'p99 µs', 'p50 ÷ PING', 'ops/s ÷ RLF'], rows),
      `round trips per take (server INFO commandstats over ${COUNTED} takes): ${roundTrips.toFixed(3)} — top-level ${JSON.stringify(Object.fromEntries(topLevel))}, run by the script ${JSON.stringify(Object.fromEntries(Object.entries(delta).filter(([name]) => inScript.has(name))))} (goal: exactly 1, EVALSHA).`,
      `sequential p50 ÷ PING p50 = ${ratio(latencyRatio)} (goal ≤ 1.25×); throughput at 64 in flight ÷ rate-limiter-flexible = ${ratio(throughputRatio)} (goal ≥ 0.8×).`,
      ...(rlfModule ? [] : ['rate-limiter-flexible is not installed; its rows and the throughput goal are skipped.']),
    ].join('\n');
    const goals = [
      goal('G10', 'Redis round trips per take', roundTrips.toFixed(3), '= 1 (EVALSHA)', roundTrips === 1 && delta.evalsha === COUNTED),
      goal('G10', 'Redis take p50 ÷ PING p50 (1 in flight)', ratio(latencyRatio), '≤ 1.25×', latencyRatio <= 1.25),
      goal('G10', 'Redis take ops/s ÷ RLF (64 in flight)', ratio(throughputRatio), '≥ 0.8×', rlfModule ? throughputRatio >= 0.8 : 'skipped'),
    ];
    return { text, goals };
  } finally {
    const stale = await admin.keys(`${prefix}*`).catch(() => []);
    if (stale.length) await admin.del(...stale).catch(() => {});
    client.disconnect();
    admin.disconnect();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { text } = await benchLimiterRedis(process.env.BENCH_QUICK === '1' ? { ops: { 1: 2000, 64: 10_000 }, passes: 1, warmup: 500 } : {});
  console.log(text);
}
