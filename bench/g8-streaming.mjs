// G8 — streaming overhead of the SDK-backed adapters. A canned server (bench/canned-server.mjs, its own
// process on 127.0.0.1, keep-alive) answers every request with the same 200-chunk SSE body in one write. In this
// process, sequential requests of each client alternate request by request (in a new shuffled order every round), after a
// warm-up, so every client sees the same machine noise and the same warm JIT:
//   floor       raw fetch + a minimal SSE line split (what any client has to do)
//   SDK alone   the official SDK's own stream (`for await` over its chunks or events)
//   duh         duh's adapter wrapping that very SDK client (`createX({ client })`), iterating StreamParts
//   duh (own)   duh's adapter building its own client from `apiKey` + `baseURL` (the usual setup)
// Per request: TTFT (call start → first text delta in the caller's hands) and total (→ stream fully consumed).
// The body arrives at once, so (total − TTFT) ÷ chunks is the client's own cost per chunk.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { goal, median, ms, quantile, ratio, settle, signed, table } from './lib.mjs';

const SERVER = new URL('./canned-server.mjs', import.meta.url);
const DIST = new URL('../dist/adapters/', import.meta.url);
const TOKEN = 'tok ';

/** Start the canned server in its own process; resolves once it prints its port. */
export async function startCannedServer() {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [SERVER.pathname], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`canned server exited with ${code} before listening`)));
  });
  const { port, chunks } = JSON.parse(first);
  return {
    port,
    chunks,
    origin: `http://127.0.0.1:${port}`,
    close: async () => {
      lines.close();
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end(); // the server exits when its stdin closes
      await exited;
    },
  };
}

const optional = async (specifier) => {
  try {
    return await import(specifier);
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
};

const REQUEST = { messages: [{ role: 'user', content: 'hi' }], maxOutputTokens: 1024 };

/** Iterate duh StreamParts: mark the first text delta, collect the text, and keep the finish part. */
async function consumeParts(parts, mark, check) {
  let out = '';
  let finish;
  for await (const part of parts) {
    if (part.type === 'text-delta') {
      if (!out) mark();
      out += part.text;
    } else if (part.type === 'finish') finish = part;
  }
  if (check) check.finish = finish;
  return out;
}

/** The OpenAI-compatible cases: raw floor, openai SDK alone, duh's openai adapter (shared client, own client). */
async function openaiCases(server) {
  const [sdk, duh] = await Promise.all([optional('openai'), import(new URL('openai.mjs', DIST).href)]);
  const url = `${server.origin}/v1/chat/completions`;
  const headers = { 'content-type': 'application/json', authorization: 'Bearer x' };
  const rawBody = JSON.stringify({ model: 'gpt-5.2', messages: REQUEST.messages, max_completion_tokens: 1024, stream: true, stream_options: { include_usage: true } });
  const cases = [
    {
      name: 'floor',
      label: 'raw fetch + SSE line split (floor)',
      run: async (mark) => {
        const response = await fetch(url, { method: 'POST', headers, body: rawBody });
        const decoder = new TextDecoder();
        let buffer = '';
        let out = '';
        for await (const bytes of response.body) {
          buffer += decoder.decode(bytes, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const data = buffer.slice(6, end); // `data: ` … blank line
            buffer = buffer.slice(end + 2);
            if (data === '[DONE]') continue;
            const text = JSON.parse(data).choices[0]?.delta?.content;
            if (text) {
              if (!out) mark();
              out += text;
            }
          }
        }
        return out;
      },
    },
  ];
  if (!sdk) return { cases, skipped: "openai SDK cases skipped: 'openai' is not installed" };
  const client = new sdk.default({ apiKey: 'x', baseURL: `${server.origin}/v1`, maxRetries: 0 });
  const shared = duh.createOpenAI({ client })('gpt-5.2');
  const own = duh.createOpenAI({ apiKey: 'x', baseURL: `${server.origin}/v1` })('gpt-5.2');
  cases.push(
    {
      name: 'sdk',
      label: 'openai SDK alone (chat.completions.create stream)',
      run: async (mark) => {
        const stream = await client.chat.completions.create({
          model: 'gpt-5.2',
          messages: REQUEST.messages,
          max_completion_tokens: 1024,
          stream: true,
          stream_options: { include_usage: true },
        });
        let out = '';
        for await (const chunk of stream) {
          const text = chunk.choices[0]?.delta?.content;
          if (text) {
            if (!out) mark();
            out += text;
          }
        }
        return out;
      },
    },
    { name: 'duh', label: 'duh openai adapter, same SDK client ({ client })', run: (mark, check) => consumeParts(shared.stream(REQUEST), mark, check), duh: true },
    { name: 'own', label: 'duh openai adapter, own client ({ apiKey, baseURL })', run: (mark, check) => consumeParts(own.stream(REQUEST), mark, check), duh: true },
  );
  return { cases };
}

/** The Anthropic cases: @anthropic-ai/sdk alone, duh's anthropic adapter (shared client, own client). */
async function anthropicCases(server) {
  const [sdk, duh] = await Promise.all([optional('@anthropic-ai/sdk'), import(new URL('anthropic.mjs', DIST).href)]);
  if (!sdk) return { cases: [], skipped: "Anthropic cases skipped: '@anthropic-ai/sdk' is not installed" };
  const client = new sdk.default({ apiKey: 'x', baseURL: server.origin, maxRetries: 0 });
  const shared = duh.createAnthropic({ client })('claude-opus-4-6');
  const own = duh.createAnthropic({ apiKey: 'x', baseURL: server.origin })('claude-opus-4-6');
  const url = `${server.origin}/v1/messages`;
  const headers = { 'content-type': 'application/json', 'x-api-key': 'x', 'anthropic-version': '2023-06-01' };
  const rawBody = JSON.stringify({ model: 'claude-opus-4-6', max_tokens: 1024, messages: REQUEST.messages, stream: true });
  return {
    cases: [
      {
        name: 'floor',
        label: 'raw fetch + SSE line split (floor)',
        run: async (mark) => {
          const response = await fetch(url, { method: 'POST', headers, body: rawBody });
          const decoder = new TextDecoder();
          let buffer = '';
          let out = '';
          for await (const bytes of response.body) {
            buffer += decoder.decode(bytes, { stream: true });
            let end;
            while ((end = buffer.indexOf('\n\n')) !== -1) {
              const event = buffer.slice(0, end); // `event: …` line, `data: …` line, blank line
              buffer = buffer.slice(end + 2);
              const data = JSON.parse(event.slice(event.indexOf('data: ') + 6));
              if (data.type === 'content_block_delta' && data.delta.type === 'text_delta' && data.delta.text) {
                if (!out) mark();
                out += data.delta.text;
              }
            }
          }
          return out;
        },
      },
      {
        name: 'sdk',
        label: '@anthropic-ai/sdk alone (messages.create stream)',
        run: async (mark) => {
          const stream = await client.messages.create({ model: 'claude-opus-4-6', max_tokens: 1024, messages: REQUEST.messages, stream: true });
          let out = '';
          for await (const event of stream) {
            if (event.type === 'content_block_delta' && event.delta.type === 'text_delta' && event.delta.text) {
              if (!out) mark();
              out += event.delta.text;
            }
          }
          return out;
        },
      },
      { name: 'duh', label: 'duh anthropic adapter, same SDK client ({ client })', run: (mark, check) => consumeParts(shared.stream(REQUEST), mark, check), duh: true },
      { name: 'own', label: 'duh anthropic adapter, own client ({ apiKey, baseURL })', run: (mark, check) => consumeParts(own.stream(REQUEST), mark, check), duh: true },
    ],
  };
}

/** One request of a case, checked: the full text, and for duh a finish part with the usage. */
async function checkCase(kase, chunks, expectedOutput) {
  const check = {};
  let marked = false;
  const out = await kase.run(() => (marked = true), check);
  const expected = TOKEN.repeat(chunks);
  if (out !== expected || !marked) throw new Error(`G8 ${kase.label}: streamed ${JSON.stringify(out.slice(0, 40))}… (${out.length} chars), expected ${expected.length}`);
  if (kase.duh) {
    const finish = check.finish;
    if (!finish || finish.finishReason !== 'stop' || finish.usage?.outputTokens !== expectedOutput) {
      throw new Error(`G8 ${kase.label}: bad finish part ${JSON.stringify(finish)}`);
    }
  }
}

/** A small seeded PRNG (mulberry32), so the request order is shuffled the same way in every run. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The cases in a fresh random order (Fisher–Yates), so no client always runs right after the same other one. */
function shuffled(cases, random) {
  const order = [...cases];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Interleave the cases request by request, each round in a new shuffled order (a fixed rotation would make every
 * client always follow the same other client and inherit its garbage), and collect TTFT and total per request.
 */
async function measure(cases, { reps, warmup, chunks }) {
  const samples = new Map(cases.map((kase) => [kase.name, { ttft: [], total: [], perChunk: [] }]));
  let firstAt = 0;
  const mark = () => {
    firstAt = performance.now();
  };
  const once = async (kase, record) => {
    firstAt = 0;
    const t0 = performance.now();
    await kase.run(mark);
    const total = performance.now() - t0;
    if (!record) return;
    const s = samples.get(kase.name);
    s.ttft.push(firstAt - t0);
    s.total.push(total);
    s.perChunk.push(((total - (firstAt - t0)) / chunks) * 1000); // µs
  };
  const random = prng(0x6408);
  for (let i = 0; i < warmup; i++) for (const kase of shuffled(cases, random)) await once(kase, false);
  await settle();
  for (let i = 0; i < reps; i++) for (const kase of shuffled(cases, random)) await once(kase, true);
  return new Map(
    [...samples].map(([name, s]) => [
      name,
      {
        ttft: median(s.ttft),
        ttftP99: quantile(s.ttft, 0.99),
        total: median(s.total),
        totalP99: quantile(s.total, 0.99),
        perChunk: median(s.perChunk),
      },
    ]),
  );
}

function section(title, cases, stats, { floor, base }) {
  const rows = cases.map((kase) => {
    const s = stats.get(kase.name);
    const b = base && stats.get(base);
    const f = floor && stats.get(floor);
    return [
      kase.label,
      ms(s.ttft * 1000, 0),
      ms(s.ttftP99 * 1000, 0),
      ms(s.total * 1000, 0),
      ms(s.totalP99 * 1000, 0),
      ms(s.perChunk, 2),
      f ? ratio(s.total / f.total) : '—',
      b && kase.name !== base && kase.name !== floor ? signed((s.ttft - b.ttft) * 1000, 0, 'µs') : '—',
      b && kase.name !== base && kase.name !== floor ? signed(s.perChunk - b.perChunk, 2, 'µs') : '—',
    ];
  });
  return [
    title,
    table(['client', 'TTFT p50 µs', 'TTFT p99', 'total p50 µs', 'total p99', 'per chunk µs', 'total ÷ floor', 'TTFT over SDK', 'per chunk over SDK'], rows),
  ].join('\n');
}

/** `+12 µs / +0.33 µs`: TTFT and per-chunk cost of one case over another. */
const overSdk = (s, sdk) => `${signed((s.ttft - sdk.ttft) * 1000, 0, 'µs')} / ${signed(s.perChunk - sdk.perChunk, 2, 'µs')}`;

export async function benchStreaming({ reps = 1200, warmup = 200, anthropic = true } = {}) {
  const server = await startCannedServer();
  const notes = [];
  const goals = [];
  const parts = [];
  try {
    const { chunks } = server;
    const openai = await openaiCases(server);
    if (openai.skipped) notes.push(`  (${openai.skipped})`);
    for (const kase of openai.cases) await checkCase(kase, chunks, chunks);
    const oa = await measure(openai.cases, { reps, warmup, chunks });
    parts.push(
      section(
        `G8 streaming overhead, OpenAI-compatible — canned SSE of ${chunks} content chunks + finish + usage + [DONE] from its own ` +
          `process (127.0.0.1, keep-alive, one write); ${reps} requests per client after ${warmup} warm-up, interleaved request by ` +
          'request in shuffled order',
        openai.cases,
        oa,
        { floor: 'floor', base: oa.has('sdk') ? 'sdk' : undefined },
      ),
    );
    if (oa.has('sdk')) {
      const sdk = oa.get('sdk');
      const duh = oa.get('duh');
      const own = oa.get('own');
      const floor = oa.get('floor');
      const ttft = (duh.ttft - sdk.ttft) * 1000;
      const chunk = duh.perChunk - sdk.perChunk;
      goals.push(goal('G8', 'openai adapter TTFT over SDK', signed(ttft, 0, 'µs'), '≤ +100 µs', ttft <= 100));
      goals.push(goal('G8', 'openai adapter per chunk over SDK', signed(chunk, 2, 'µs'), '≤ +1 µs', chunk <= 1));
      goals.push(goal('G8', 'openai adapter, own client: TTFT / chunk', overSdk(own, sdk), 'info', undefined));
      goals.push(goal('G8', 'openai SDK stream total ÷ raw floor', ratio(sdk.total / floor.total), 'info', undefined));
    }

    if (anthropic) {
      const anth = await anthropicCases(server);
      if (anth.skipped) notes.push(`  (${anth.skipped})`);
      if (anth.cases.length > 0) {
        for (const kase of anth.cases) await checkCase(kase, chunks, chunks);
        const an = await measure(anth.cases, { reps, warmup, chunks });
        parts.push(
          '',
          section(
            `G8 streaming overhead, Anthropic — canned SSE message_start, content_block_start, ${chunks} content_block_delta, ` +
              'content_block_stop, message_delta, message_stop; same method',
            anth.cases,
            an,
            { floor: 'floor', base: 'sdk' },
          ),
        );
        const sdk = an.get('sdk');
        const duh = an.get('duh');
        const own = an.get('own');
        const ttft = (duh.ttft - sdk.ttft) * 1000;
        const chunk = duh.perChunk - sdk.perChunk;
        goals.push(goal('G8', 'anthropic adapter TTFT over SDK', signed(ttft, 0, 'µs'), '≤ +100 µs', ttft <= 100));
        goals.push(goal('G8', 'anthropic adapter per chunk over SDK', signed(chunk, 2, 'µs'), '≤ +1 µs', chunk <= 1));
        goals.push(goal('G8', 'anthropic adapter, own client: TTFT / chunk', overSdk(own, sdk), 'info', undefined));
      }
    }
  } finally {
    await server.close();
  }
  return { text: [...parts, ...notes].join('\n'), goals };
}
