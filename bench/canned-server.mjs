// A canned LLM server for G8, run in its own process (`node bench/canned-server.mjs`): it listens on 127.0.0.1
// on a free port, prints `{"port":N}` as its first stdout line, and answers every request with a precomputed
// body written in one piece (no delays), over keep-alive connections:
//
//   POST /v1/chat/completions  OpenAI-compatible SSE: CHUNKS `chat.completion.chunk` content deltas ("tok "),
//                              a finish chunk, a usage chunk and `data: [DONE]` (JSON when `stream` is not true)
//   POST /v1/messages          Anthropic Messages SSE: message_start, content_block_start, CHUNKS
//                              content_block_delta, content_block_stop, message_delta, message_stop
//
// It exits when its stdin closes, so it never outlives the bench that started it.
import { createServer } from 'node:http';

const CHUNKS = Number(process.env.DUH_BENCH_CHUNKS) || 200;
const TOKEN = 'tok ';

const sse = (data, event) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

function openaiStream() {
  const base = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-5.2', system_fingerprint: 'fp_bench' };
  let body = '';
  for (let i = 0; i < CHUNKS; i++) body += sse({ ...base, choices: [{ index: 0, delta: { content: TOKEN }, finish_reason: null }] });
  body += sse({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  body += sse({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: CHUNKS, total_tokens: CHUNKS + 10 } });
  body += 'data: [DONE]\n\n';
  return Buffer.from(body);
}

function openaiJson() {
  return Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-5.2',
      choices: [{ index: 0, message: { role: 'assistant', content: TOKEN.repeat(CHUNKS), refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: CHUNKS, total_tokens: CHUNKS + 10 },
    }),
  );
}

function anthropicStream() {
  let body = sse(
    {
      type: 'message_start',
      message: {
        id: 'msg_bench',
        type: 'message',
        role: 'assistant',
        model: 'claude-opus-4-6',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 1 },
      },
    },
    'message_start',
  );
  body += sse({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start');
  for (let i = 0; i < CHUNKS; i++) body += sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: TOKEN } }, 'content_block_delta');
  body += sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop');
  body += sse({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: CHUNKS } }, 'message_delta');
  body += sse({ type: 'message_stop' }, 'message_stop');
  return Buffer.from(body);
}

const BODIES = { openaiStream: openaiStream(), openaiJson: openaiJson(), anthropicStream: anthropicStream() };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

const server = createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (raw += chunk));
  req.on('end', () => {
    let stream = false;
    try {
      stream = JSON.parse(raw || '{}').stream === true;
    } catch {}
    const path = req.url.split('?')[0];
    if (req.method === 'POST' && path.endsWith('/chat/completions')) {
      if (stream) res.writeHead(200, { ...SSE_HEADERS, 'x-request-id': 'req_bench' }).end(BODIES.openaiStream);
      else res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODIES.openaiJson.length, 'x-request-id': 'req_bench' }).end(BODIES.openaiJson);
      return;
    }
    if (req.method === 'POST' && path.endsWith('/messages') && stream) {
      res.writeHead(200, { ...SSE_HEADERS, 'request-id': 'req_bench' }).end(BODIES.anthropicStream);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `canned server: no route for ${req.method} ${req.url}` } }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, chunks: CHUNKS })}\n`);
});
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
