// G1 — core cold import. Each sample is a fresh process (process.execPath) that times, in-process,
// `await import(...)` plus constructing a client, like performance.md A1. Probes are interleaved round-robin
// (the starting probe rotates every round) so the machine's noise is spread over all of them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { goal, median, min, max, ms, ratio, runProbe, signed, table } from './lib.mjs';

const PROBE_DIR = new URL('./.probes/', import.meta.url);
const DUH_URL = new URL('../dist/index.mjs', import.meta.url).href;
const UNDICI = 'NativeModule internal/deps/undici/undici';

// The one minimal adapter the duh probe constructs Consensus with: an inline object literal, so the probe
// measures only the core entry point (no duh/testing import).
const INLINE_ADAPTER = `{
  specificationVersion: 'v1', provider: 'probe', modelId: 'm',
  info: { provider: 'probe', modelId: 'm', displayName: 'Probe', contextWindow: 8192, maxOutputTokens: 1024,
          inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: ['text', 'streaming'] },
  async generate() { return { text: 'ok', usage: { inputTokens: 0, outputTokens: 0 }, finishReason: 'stop' }; },
  async *stream() { yield { type: 'text-delta', text: 'ok' }; yield { type: 'finish', usage: { inputTokens: 0, outputTokens: 0 }, finishReason: 'stop' }; },
}`;

export const PROBES = [
  { name: 'empty', label: 'bare node (empty probe)', body: '' },
  {
    name: 'duh',
    label: 'duh (import + new Consensus)',
    body: `const { Consensus } = await import(${JSON.stringify(DUH_URL)}); new Consensus({ models: [${INLINE_ADAPTER}] });`,
  },
  { name: 'ky', label: 'ky (import + ky.create)', pkg: 'ky', body: `const { default: ky } = await import('ky'); ky.create({ prefixUrl: 'http://127.0.0.1' });` },
  { name: 'openai', label: 'openai (import + new OpenAI)', pkg: 'openai', body: `const { default: OpenAI } = await import('openai'); new OpenAI({ apiKey: 'x' });` },
];

function probeSource(body) {
  return [
    'const t0 = performance.now();',
    body,
    'const ms = performance.now() - t0;',
    `const undici = process.moduleLoadList.includes(${JSON.stringify(UNDICI)});`,
    "if (process.env.DUH_BENCH_PRINT) process.stdout.write(JSON.stringify({ ms, undici }) + '\\n');",
    '',
  ].join('\n');
}

// Counts user-land module files loaded by a probe (the probe itself excluded), like performance.md A1's modcount.
const MODCOUNT = `import { registerHooks } from 'node:module';
let n = 0;
registerHooks({ load(url, context, next) { const result = next(url, context); if (url.startsWith('file:') && !url.includes('/.probes/')) n++; return result; } });
await import(new URL(process.argv[2], import.meta.url).href);
process.stdout.write(JSON.stringify({ mods: n }) + '\\n');
`;

function writeProbes(probes) {
  mkdirSync(PROBE_DIR, { recursive: true });
  for (const probe of probes) writeFileSync(new URL(`${probe.name}.mjs`, PROBE_DIR), probeSource(probe.body));
  writeFileSync(new URL('modcount.mjs', PROBE_DIR), MODCOUNT);
}

const run = (args, print) => runProbe(PROBE_DIR, args, print);

export async function benchImport({ samples = 15, warmup = 1 } = {}) {
  const notes = [];
  const require = createRequire(new URL('../package.json', import.meta.url));
  const probes = PROBES.filter((probe) => {
    if (!probe.pkg) return true;
    try {
      require.resolve(probe.pkg);
      return true;
    } catch {
      notes.push(`  (skipped ${probe.name}: '${probe.pkg}' is not installed in node_modules; run npm install)`);
      return false;
    }
  });
  writeProbes(probes);
  const results = new Map(probes.map((probe) => [probe.name, { probe, inproc: [], wall: [], undici: new Set(), mods: NaN }]));

  for (let round = 0; round < warmup + samples; round++) {
    for (let k = 0; k < probes.length; k++) {
      const probe = probes[(round + k) % probes.length];
      const sample = run([`${probe.name}.mjs`], true);
      if (round < warmup) continue;
      const entry = results.get(probe.name);
      entry.inproc.push(sample.out.ms);
      entry.wall.push(sample.wall);
      entry.undici.add(sample.out.undici);
    }
  }
  for (const probe of probes) results.get(probe.name).mods = run(['modcount.mjs', `./${probe.name}.mjs`], false).out.mods;

  const stat = (name) => {
    const entry = results.get(name);
    return entry && { ...entry, med: median(entry.inproc), wallMed: median(entry.wall) };
  };
  const empty = stat('empty');
  const duh = stat('duh');
  const ky = stat('ky');
  const openai = stat('openai');
  const touched = (entry) => (entry.undici.size > 1 ? 'mixed' : entry.undici.has(true) ? 'yes' : 'no');

  const rows = probes.map(({ name, label }) => {
    const s = stat(name);
    return [
      label,
      ms(s.med),
      `${ms(min(s.inproc), 1)}..${ms(max(s.inproc), 1)}`,
      duh && name !== 'duh' && name !== 'empty' ? ratio(duh.med / s.med) : '—',
      ms(s.wallMed, 1),
      signed(s.wallMed - empty.wallMed, 1),
      String(s.mods),
      touched(s),
    ];
  });
  const text = [
    `G1 cold import — ${samples} fresh processes per probe (+${warmup} warm-up round), interleaved; in-process = await import() + construct`,
    table(['probe', 'in-proc med ms', 'min..max', 'duh ÷ this', 'process wall ms', 'wall − bare', 'modules', 'undici loaded'], rows),
    ...notes,
  ].join('\n');

  const goals = [];
  if (ky) goals.push(goal('G1', 'duh/ky in-proc import', ratio(duh.med / ky.med), '≤ 0.5', duh.med / ky.med <= 0.5));
  if (openai) goals.push(goal('G1', 'duh/openai in-proc import', ratio(duh.med / openai.med), '≤ 0.15', duh.med / openai.med <= 0.15));
  goals.push(goal('G1', 'duh import over bare (in-proc)', `${ms(duh.med - empty.med)} ms`, '≤ 15 ms', duh.med - empty.med <= 15));
  goals.push(goal('G1', 'duh import loads undici (fetch)', touched(duh), 'no', touched(duh) === 'no'));
  goals.push(goal('G1', 'duh import module files', String(duh.mods), 'info', undefined));
  return { text, goals };
}

