// `duh ask` with provider keys set runs live through the real adapters (here against msw, never the network).
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';

const sse = (events: readonly (readonly [string | null, unknown])[]) =>
  new HttpResponse(events.map(([event, data]) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`).join(''), {
    headers: { 'content-type': 'text/event-stream' },
  });

const seenKeys: string[] = [];
const server = setupServer(
  http.post('https://api.openai.com/v1/chat/completions', async ({ request }) => {
    seenKeys.push(request.headers.get('authorization') ?? '');
    const body = (await request.json()) as { model: string; messages: { content: string }[] };
    const text = body.messages.at(-1)!.content.startsWith('Classify')
      ? '{"intent":"technical","category":"databases","genus":"sharding"}'
      : `${body.model} objects: tenant sharding needs a rebalancing plan.`;
    return sse([
      [null, { id: 'c1', object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta: { role: 'assistant', content: text }, finish_reason: null }] }],
      [null, { id: 'c1', object: 'chat.completion.chunk', model: body.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }],
      [null, { id: 'c1', object: 'chat.completion.chunk', model: body.model, choices: [], usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 } }],
      [null, '[DONE]'],
    ]);
  }),
  http.post('https://api.anthropic.com/v1/messages', async ({ request }) => {
    seenKeys.push(request.headers.get('authorization') ?? request.headers.get('x-api-key') ?? '');
    const body = (await request.json()) as { model: string; system?: string };
    const text = body.system?.includes('independent experts') ? 'Shard by tenant, with a rebalancing plan.' : 'Shard by tenant.';
    return sse([
      ['message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 200, output_tokens: 1 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 80 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
  }),
);
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterAll(() => server.close());

describe('duh ask, live', () => {
  it('runs on every catalog model of the providers whose keys are set, and never prints the keys', async () => {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: { write: (text: string) => void (stdout += text), isTTY: false },
      stderr: { write: (text: string) => void (stderr += text) },
      env: { OPENAI_API_KEY: 'sk-live-OPENAIKEY0123456789', ANTHROPIC_API_KEY: 'sk-ant-ANTHROPICKEY0123456789', DUH_STORAGE: 'memory' },
    };
    const code = await main(['ask', 'Shard by tenant or by region?', '--rounds', '1', '--json'], io);
    expect(stderr).toContain('Live run on anthropic, openai (keys from ANTHROPIC_API_KEY, OPENAI_API_KEY); provider prices apply.');
    expect(code).toBe(0);
    const record = JSON.parse(stdout) as {
      decision: string;
      taxonomy: { intent: string };
      confidence: number;
      rounds: { proposal: { model: string }; challenges: { model: string }[]; classification: { model: string } }[];
      cost: { totalUsd: number };
    };
    expect(record.rounds[0]!.proposal.model).toBe('anthropic:claude-opus-4-6');
    expect(record.rounds[0]!.challenges.map((challenge) => challenge.model)).toEqual(['openai:gpt-5.2', 'openai:o3']);
    expect(record.rounds[0]!.classification.model).toBe('openai:gpt-5-mini');
    expect(record.decision).toBe('Shard by tenant, with a rebalancing plan.');
    expect(record.taxonomy.intent).toBe('technical');
    expect(record.confidence).toBe(0.9);
    expect(record.cost.totalUsd).toBeGreaterThan(0);
    // Each key reached its own provider, and no key reached the output.
    expect(seenKeys).toContain('Bearer sk-live-OPENAIKEY0123456789');
    expect(seenKeys.some((key) => key.includes('ANTHROPICKEY'))).toBe(true);
    expect(stdout + stderr).not.toMatch(/OPENAIKEY|ANTHROPICKEY/);
  });
});
