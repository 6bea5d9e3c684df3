// G2 — cold path with four members. Each sample is a fresh process (process.execPath) that times, in-process,
// `await import(...)` plus constructing, like performance.md A1 (`all4-genai`). Probes are interleaved round-robin
// (the starting probe rotates every round):
//   bare       an empty probe (bare node)
//   duh        duh's core + the four adapter subpaths + `new Consensus` with four members (construct only, no call)
//   sdk4       the four official SDKs imported eagerly and constructed
//   duh-lazy   the duh probe, then what the members' first calls load: the openai SDK alone (timed as "first use
//              of one member"), then the other three SDKs (so duh + every SDK, loaded lazily, compares with sdk4)
// A separate run of each probe under a `module.registerHooks` load hook counts module files, and the files of each
// SDK package, after the probe has run: the duh probe must load none of them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { goal, median, min, max, ms, ratio, runProbe, signed, table } from './lib.mjs';

const PROBE_DIR = new URL('./.probes/', import.meta.url);
const dist = (path) => JSON.stringify(new URL(`../dist/${path}`, import.meta.url).href);

/** The four SDKs: package name, how a probe constructs one, and the path fragment that identifies its files. */
const SDKS = [
  { key: 'openai', pkg: 'openai', construct: (m) => `new ${m}.default({ apiKey: 'x' })`, path: '/node_modules/openai/' },
  { key: 'anthropic', pkg: '@anthropic-ai/sdk', construct: (m) => `new ${m}.default({ apiKey: 'x' })`, path: '/node_modules/@anthropic-ai/sdk/' },
  { key: 'genai', pkg: '@google/genai', construct: (m) => `new ${m}.GoogleGenAI({ apiKey: 'x' })`, path: '/node_modules/@google/genai/' },
  { key: 'mistral', pkg: '@mistralai/mistralai', construct: (m) => `new ${m}.Mistral({ apiKey: 'x' })`, path: '/node_modules/@mistralai/mistralai/' },
];

// Import duh's core and the four adapter subpaths, and construct a Consensus with four members (no call).
const DUH4 = [
  'const [{ Consensus }, { openai }, { anthropic }, { google }, { mistral }] = await Promise.all([',
  `  import(${dist('index.mjs')}), import(${dist('adapters/openai.mjs')}), import(${dist('adapters/anthropic.mjs')}),`,
  `  import(${dist('adapters/google.mjs')}), import(${dist('adapters/mistral.mjs')}),`,
  ']);',
  "new Consensus({ models: [openai('gpt-5.2'), anthropic('claude-opus-4-6'), google('gemini-3-pro-preview'), mistral('mistral-large-latest')] });",
].join('\n');

/** `const [a, b] = await Promise.all([import('x'), import('y')]); new a.default(...); …` for the given SDKs. */
const importSdks = (sdks, prefix) =>
  [
    `const [${sdks.map((_, i) => `${prefix}${i}`).join(', ')}] = await Promise.all([${sdks.map((s) => `import(${JSON.stringify(s.pkg)})`).join(', ')}]);`,
    ...sdks.map((s, i) => `${s.construct(`${prefix}${i}`)};`),
  ].join('\n');

export function probes() {
  const [openaiSdk, ...others] = SDKS;
  return [
    { name: 'g2-bare', label: 'bare node (empty probe)', body: '' },
    { name: 'g2-duh', label: 'duh: core + 4 adapters + new Consensus (4 members)', body: DUH4 },
    { name: 'g2-sdk4', label: 'four official SDKs, eager (import + new)', body: importSdks(SDKS, 'sdk'), needs: SDKS },
    {
      name: 'g2-duh-lazy',
      label: 'duh, then the SDKs its members load on first use',
      needs: SDKS,
      body: [
        DUH4,
        'marks.construct = performance.now() - t0;',
        importSdks([openaiSdk], 'first'),
        'marks.openai = performance.now() - t0 - marks.construct;',
        importSdks(others, 'rest'),
      ].join('\n'),
    },
  ];
}

function probeSource(body) {
  return [
    'const t0 = performance.now();',
    'const marks = {};',
    body,
    'const ms = performance.now() - t0;',
    "if (process.env.DUH_BENCH_PRINT) process.stdout.write(JSON.stringify({ ms, marks }) + '\\n');",
    '',
  ].join('\n');
}

// Runs a probe under a load hook and reports, after it has run (for the duh probe: after `new Consensus`), the
// user-land module files it loaded and how many of them belong to each SDK package.
const WATCH = `import { registerHooks } from 'node:module';
const SDKS = ${JSON.stringify(Object.fromEntries(SDKS.map((s) => [s.key, s.path])))};
const sdks = Object.fromEntries(Object.keys(SDKS).map((key) => [key, 0]));
let mods = 0;
registerHooks({
  load(url, context, next) {
    const result = next(url, context);
    if (url.startsWith('file:') && !url.includes('/.probes/')) {
      mods++;
      for (const [key, path] of Object.entries(SDKS)) if (url.includes(path)) sdks[key]++;
    }
    return result;
  },
});
await import(new URL(process.argv[2], import.meta.url).href);
process.stdout.write(JSON.stringify({ mods, sdks }) + '\\n');
`;

const run = (args, print) => runProbe(PROBE_DIR, args, print);

const installed = (pkg) => {
  try {
    import.meta.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

const sdkList = (sdks) => {
  const loaded = Object.entries(sdks).filter(([, n]) => n > 0);
  return loaded.length === 0 ? 'none' : loaded.map(([key, n]) => `${key} ${n}`).join(', ');
};

export async function benchColdFour({ samples = 11, warmup = 1 } = {}) {
  const notes = [];
  const missing = SDKS.filter((s) => !installed(s.pkg)).map((s) => s.pkg);
  const all = probes();
  const list = all.filter((probe) => !probe.needs || missing.length === 0);
  if (missing.length > 0) notes.push(`  (skipped the SDK probes: ${missing.join(', ')} not installed in node_modules; run npm install)`);
  mkdirSync(PROBE_DIR, { recursive: true });
  for (const probe of list) writeFileSync(new URL(`${probe.name}.mjs`, PROBE_DIR), probeSource(probe.body));
  writeFileSync(new URL('g2-watch.mjs', PROBE_DIR), WATCH);

  const results = new Map(list.map((probe) => [probe.name, { probe, inproc: [], wall: [], construct: [], openai: [] }]));
  for (let round = 0; round < warmup + samples; round++) {
    for (let k = 0; k < list.length; k++) {
      const probe = list[(round + k) % list.length];
      const sample = run([`${probe.name}.mjs`], true);
      if (round < warmup) continue;
      const entry = results.get(probe.name);
      entry.inproc.push(sample.out.ms);
      entry.wall.push(sample.wall);
      if (sample.out.marks.construct !== undefined) entry.construct.push(sample.out.marks.construct);
      if (sample.out.marks.openai !== undefined) entry.openai.push(sample.out.marks.openai);
    }
  }
  for (const probe of list) Object.assign(results.get(probe.name), run(['g2-watch.mjs', `./${probe.name}.mjs`], false).out);

  const stat = (name) => {
    const entry = results.get(name);
    return entry && { ...entry, med: median(entry.inproc), wallMed: median(entry.wall) };
  };
  const bare = stat('g2-bare');
  const duh = stat('g2-duh');
  const sdk4 = stat('g2-sdk4');
  const lazy = stat('g2-duh-lazy');

  const rows = list.map(({ name, label }) => {
    const s = stat(name);
    return [
      label,
      ms(s.med, 1),
      `${ms(min(s.inproc), 1)}..${ms(max(s.inproc), 1)}`,
      sdk4 && name !== 'g2-sdk4' && name !== 'g2-bare' ? ratio(s.med / sdk4.med, 3) : '—',
      ms(s.wallMed, 1),
      signed(s.wallMed - bare.wallMed, 1),
      String(s.mods),
      sdkList(s.sdks),
    ];
  });
  const lines = [
    `G2 cold path with four members — ${samples} fresh processes per probe (+${warmup} warm-up round), interleaved; in-process = await import() + construct`,
    table(['probe', 'in-proc med ms', 'min..max', '÷ four SDKs', 'process wall ms', 'wall − bare', 'modules', 'SDK modules loaded'], rows),
  ];
  const goals = [];
  const loadedAtConstruct = sdkList(duh.sdks);
  if (sdk4) goals.push(goal('G2', 'duh 4 members ÷ four SDKs (in-proc)', ratio(duh.med / sdk4.med, 3), '≤ 0.1', duh.med / sdk4.med <= 0.1));
  goals.push(goal('G2', 'duh 4 members over bare (in-proc)', `${ms(duh.med - bare.med)} ms`, 'info', undefined));
  goals.push(goal('G2', 'SDKs loaded at construct', loadedAtConstruct, 'none', loadedAtConstruct === 'none'));
  if (lazy) {
    const construct = median(lazy.construct);
    const first = median(lazy.openai);
    lines.push(
      `duh-lazy split (medians): construct ${ms(construct, 1)} ms, then first use of the openai member loads its SDK in ${ms(first, 1)} ms ` +
        `(import('openai') + new OpenAI), then the other three SDKs. duh + all four SDKs loaded lazily − four SDKs eager = ${signed(lazy.med - sdk4.med, 1)}` +
        ` (about ${ms(duh.med, 1)} ms of it is duh's own cold path; the rest is the openai SDK loading before the other three, plus noise).`,
    );
    const watched = sdkList(lazy.sdks);
    if (SDKS.some((s) => !(lazy.sdks[s.key] > 0))) {
      notes.push(`  (warning: the load hook did not see every SDK in the duh-lazy probe: ${watched}; the laziness check may be blind)`);
    }
    goals.push(goal('G2', 'first use: openai SDK load after construct', `${ms(first, 1)} ms`, 'info', undefined));
    goals.push(goal('G2', 'duh + 4 lazy SDK loads − 4 eager SDKs', signed(lazy.med - sdk4.med, 1), 'info', undefined));
  }
  return { text: [...lines, ...notes].join('\n'), goals };
}
