import { describe, expect, it } from 'vitest';
import type { StreamPart } from '../../src/adapter.js';
import { AbortedError, ProviderError, ProviderRateLimitError, redactSecrets, serializeError } from '../../src/errors.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { demoPanel } from '../../src/testing/demo-panel.js';

const request = { messages: [{ role: 'system' as const, content: 'sys' }, { role: 'user' as const, content: 'What now?' }], maxOutputTokens: 100 };
const drain = async (stream: AsyncIterable<StreamPart>) => {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
};

describe('MockAdapter', () => {
  it('plays the script in order, then the default reply, and logs every request', async () => {
    const model = new MockAdapter({ ref: 'openai:gpt', script: ['one', { text: 'two', usage: { inputTokens: 7, outputTokens: 3 }, finishReason: 'length' }], reply: (_r, { call, prompt }) => `call ${call}: ${prompt}` });
    expect(await model.generate(request)).toEqual({ text: 'one', usage: { inputTokens: 3, outputTokens: 1 }, finishReason: 'stop' });
    expect(await model.generate(request)).toEqual({ text: 'two', usage: { inputTokens: 7, outputTokens: 3 }, finishReason: 'length' });
    expect((await model.generate(request)).text).toBe('call 2: What now?');
    expect(model.calls.map((call) => call.outcome)).toEqual(['answered', 'answered', 'answered']);
    expect(model.calls[0]!.request).toBe(request);
    expect(model.callsMatching('What now?')).toHaveLength(3);
    expect(model.ref).toBe('openai:gpt');
  });

  it('streams in chunks and ends with one finish part', async () => {
    const parts = await drain(new MockAdapter({ ref: 'a:b', chunkSize: 3, reply: 'abcdefgh' }).stream(request));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'abc' },
      { type: 'text-delta', text: 'def' },
      { type: 'text-delta', text: 'gh' },
      { type: 'finish', usage: { inputTokens: 3, outputTokens: 2 }, finishReason: 'stop' },
    ]);
  });

  it('injects 429s with Retry-After, server errors, thrown errors and truncated streams', async () => {
    const custom = new ProviderError({ provider: 'a', model: 'b', status: 418 }, 'teapot');
    const model = new MockAdapter({
      ref: 'a:b',
      script: [{ rateLimit: { retryAfterMs: 1500 } }, { serverError: { status: 503 } }, { error: custom }, { truncate: { text: 'partial answer', afterChars: 7 } }],
    });
    const rateLimited = await model.generate(request).catch((error: unknown) => error);
    expect(ProviderRateLimitError.isInstance(rateLimited)).toBe(true);
    expect(rateLimited).toMatchObject({ status: 429, retryAfterMs: 1500, retryable: true });
    await expect(model.generate(request)).rejects.toMatchObject({ status: 503, retryable: true });
    await expect(model.generate(request)).rejects.toBe(custom);
    expect(await drain(model.stream(request))).toEqual([{ type: 'text-delta', text: 'partial' }]);
    expect(model.calls.map((call) => call.outcome)).toEqual(['failed', 'failed', 'failed', 'failed']);
  });

  it('hangs until aborted, and records the abort', async () => {
    const model = new MockAdapter({ ref: 'a:b', reply: { hang: true } });
    const controller = new AbortController();
    const pending = model.generate(request, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
    expect(model.calls[0]!.outcome).toBe('aborted');
  });

  it('rejects a malformed ref', () => {
    expect(() => new MockAdapter({ ref: 'nocolon' as never })).toThrow(/"provider:model"/);
  });
});

describe('ManualClock', () => {
  it('fires sleeps only when advanced, in time order', async () => {
    const clock = new ManualClock({ start: 1000 });
    const fired: string[] = [];
    void clock.sleep(50).then(() => fired.push('b'));
    void clock.sleep(10).then(() => fired.push('a'));
    await clock.advance(5);
    expect(fired).toEqual([]);
    await clock.advance(100);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now()).toBe(1105);
    expect(clock.sleeps).toEqual([50, 10]);
  });

  it('auto-advances to the next sleep when idle, and honours abort', async () => {
    const clock = new ManualClock({ start: 0, autoAdvance: true });
    await clock.sleep(60_000);
    expect(clock.now()).toBe(60_000);
    const controller = new AbortController();
    const pending = clock.sleep(10, controller.signal);
    controller.abort();
    await expect(pending).rejects.toSatisfy((error: unknown) => AbortedError.isInstance(error));
    expect(clock.pending).toBe(0);
  });
});

describe('demoPanel', () => {
  it('has four scripted models on four providers with catalog prices', () => {
    const panel = demoPanel();
    expect(panel.map((model) => model.ref)).toEqual(['anthropic:claude-opus-4-6', 'openai:gpt-5.2', 'google:gemini-3-pro-preview', 'mistral:mistral-small-latest']);
    expect(panel[0]!.info).toMatchObject({ inputPricePerMTok: 5, outputPricePerMTok: 25 });
    expect(panel.every((model) => model.info.displayName.endsWith('(scripted)'))).toBe(true);
  });
});

describe('secret redaction', () => {
  it.each([
    ['Incorrect API key provided: sk-proj-abcdefghijklmnop1234', 'Incorrect API key provided: [redacted]'],
    ['invalid x-api-key sk-ant-api03-AAAAAAAAAAAAAAAA', 'invalid x-api-key [redacted]'],
    ['API key not valid: AIzaSyA1234567890abcdefghijklmnop', 'API key not valid: [redacted]'],
    ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig', 'Authorization: [redacted]'],
    ['GET https://x.test/v1/models?key=supersecretvalue&alt=sse', 'GET https://x.test/v1/models?key=[redacted]&alt=sse'],
    ['{"api_key": "abcdef123456"}', '{"api_key": "[redacted]"}'],
    ['nothing secret about rate limits', 'nothing secret about rate limits'],
  ])('redacts %j', (input, output) => {
    expect(redactSecrets(input)).toBe(output);
  });

  it('applies to every DuhError message and to serialized foreign errors', () => {
    expect(new ProviderError({ provider: 'openai', model: 'gpt' }, 'bad key sk-abcdefghijklmnop').message).toBe('[openai:gpt] bad key [redacted]');
    expect(serializeError(new Error('token=abcdefgh1234 leaked')).message).not.toContain('abcdefgh1234');
  });
});
