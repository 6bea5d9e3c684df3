// Helpers shared by the adapter tests (not a test file: vitest collects only *.test.ts).
import { readFileSync } from 'node:fs';
import { http, HttpResponse } from 'msw';
import { setupServer, type SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest';
import type { GenerateRequest, StreamPart } from '../../src/adapter.js';

/** The request most adapter tests send: a terse system prompt, one user turn, 64 output tokens at temperature 0.2. */
export const request: GenerateRequest = {
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Reply with the single word: ok' },
  ],
  maxOutputTokens: 64,
  temperature: 0.2,
};

/** Every part of a stream, in order. */
export const drain = async (iterable: AsyncIterable<StreamPart>) => {
  const parts: StreamPart[] = [];
  for await (const part of iterable) parts.push(part);
  return parts;
};

/** The joined text of the text-delta parts. */
export const textOf = (parts: StreamPart[]) => parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : [])).join('');

/** The error a promise rejects with; the test fails if it resolves. */
export const rejection = (promise: Promise<unknown>) => promise.then(() => expect.unreachable('expected a rejection'), (error: unknown) => error);

/**
 * An msw server for the file's tests, with the usual lifecycle: it listens before the first test (any unhandled
 * request is an error), drops the handlers a test added and the env vars it stubbed after each one, and closes at the end.
 */
export function mockServer(...handlers: Parameters<typeof setupServer>): SetupServer {
  const server = setupServer(...handlers);
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterEach(() => {
    server.resetHandlers();
    vi.unstubAllEnvs();
  });
  afterAll(() => server.close());
  return server;
}

interface Recorded {
  file: string;
  status: number;
  headers: Record<string, string>;
}

/** The recorded answers in `__fixtures__/<provider>/`: `responses.json` names each case's body file, status and headers. */
export function recordedFixtures(provider: string) {
  const folder = new URL(`./__fixtures__/${provider}/`, import.meta.url);
  const recorded = JSON.parse(readFileSync(new URL('responses.json', folder), 'utf8')) as Record<string, Recorded>;
  const fixture = (name: string) => {
    const entry = recorded[name];
    if (!entry) throw new Error(`no fixture ${name}`);
    return { ...entry, body: readFileSync(new URL(entry.file, folder), 'utf8') };
  };
  /** The recorded answer with its status and headers. */
  const replay = (name: string) => {
    const { body, status, headers } = fixture(name);
    return new HttpResponse(body, { status, headers });
  };
  return { folder, fixture, replay };
}

/** What a capturing handler saw of one request. */
export interface Sent {
  body: Record<string, unknown>;
  headers: Headers;
  url: string;
}

const isStream = async (request: Request) => Boolean(((await request.clone().json()) as { stream?: boolean }).stream);

/** Handlers for an OpenAI-style `POST …/chat/completions` at `url`, answering with recorded cases from `replay`. */
export function chatCompletions(url: string, replay: (name: string) => Response) {
  /** The stream or the JSON variant of a case, chosen by the request's `stream` flag as the real API does. */
  const answer = (streamCase: string, completeCase: string, options: { once?: boolean } = {}) =>
    http.post(url, async ({ request }) => ((await isStream(request)) ? replay(streamCase) : replay(completeCase)), options);
  /** The next request gets this recorded (error) answer. */
  const failWith = (name: string) => http.post(url, () => replay(name), { once: true });
  /** Capture what the SDK sent (body, headers, URL), answering with the given cases. */
  const capture = (server: SetupServer, streamCase = 'stream-ok', completeCase = 'complete-ok') => {
    const sent: Sent[] = [];
    server.use(
      http.post(url, async ({ request: sentRequest }) => {
        const body = (await sentRequest.clone().json()) as Record<string, unknown>;
        sent.push({ body, headers: sentRequest.headers, url: sentRequest.url });
        return replay(body['stream'] ? streamCase : completeCase);
      }),
    );
    return sent;
  };
  /**
   * The next requests wait until the client aborts them (then get a 499). `arrived` resolves once one came in;
   * `signal` is the abort signal it carried.
   */
  const holdUntilAborted = (server: SetupServer) => {
    let reached!: () => void;
    const held: { arrived: Promise<void>; signal: AbortSignal | undefined } = { arrived: new Promise<void>((resolve) => (reached = resolve)), signal: undefined };
    server.use(
      http.post(url, ({ request: sentRequest }) => {
        held.signal = sentRequest.signal;
        reached();
        return new Promise<Response>((resolve) => sentRequest.signal.addEventListener('abort', () => resolve(HttpResponse.json({}, { status: 499 }))));
      }),
    );
    return held;
  };
  /**
   * The conformance failure scenarios every recorded chat-completions API stages the same way, from the cases
   * `error-429`, `error-500`, `error-503`, `error-401`, `stream-cut`/`complete-cut` and `stream-length`/`complete-length`.
   * `contentFilter` differs from API to API, so each test adds its own.
   */
  const scenarios = (server: SetupServer) => ({
    rateLimit: () => server.use(failWith('error-429')),
    serverError: () => server.use(failWith('error-500')),
    overloaded: () => server.use(failWith('error-503')),
    unauthorized: () => server.use(failWith('error-401')),
    cutStream: () => server.use(answer('stream-cut', 'complete-cut', { once: true })),
    length: () => server.use(answer('stream-length', 'complete-length', { once: true })),
  });
  return { answer, failWith, capture, holdUntilAborted, scenarios };
}

/**
 * A recorded OpenAI-style chat-completions API at `url` with one endpoint, replaying `__fixtures__/<provider>/`:
 * the msw server (see {@link mockServer}; by default it answers `stream-ok` or `complete-ok`), the fixtures,
 * the handlers, `capture` and `holdUntilAborted` on that server, and the standard conformance scenarios.
 */
export function recordedChatApi(provider: string, url: string) {
  const { fixture, replay } = recordedFixtures(provider);
  const chat = chatCompletions(url, replay);
  const server = mockServer(chat.answer('stream-ok', 'complete-ok'));
  return {
    server,
    fixture,
    replay,
    answer: chat.answer,
    failWith: chat.failWith,
    capture: (streamCase?: string, completeCase?: string) => chat.capture(server, streamCase, completeCase),
    holdUntilAborted: () => chat.holdUntilAborted(server),
    scenarios: chat.scenarios(server),
  };
}
