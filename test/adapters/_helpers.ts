// Helpers shared by the adapter tests (not a test file: vitest collects only *.test.ts).
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { http, HttpResponse } from 'msw';
import { setupServer, type SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, expect, vi } from 'vitest';
import type { GenerateRequest, ModelAdapter, StreamPart } from '../../src/adapter.js';
import { InvalidOptionError, ProviderError, serializeError } from '../../src/errors.js';

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

/** A recorded answer to a chat-completions request: the stream or the JSON case, as the request's `stream` flag asks. */
export const chatAnswer =
  (replay: (name: string) => Response, streamCase = 'stream-ok', completeCase = 'complete-ok') =>
  async (request: Request): Promise<Response> =>
    (await isStream(request)) ? replay(streamCase) : replay(completeCase);

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

/** The key an `Authorization: Bearer …` header carries (`null` without one). */
export const bearerKey = (headers: Headers): string | null => headers.get('authorization')?.replace(/^Bearer /, '') ?? null;

/** Options of {@link withApiKeyCases}. */
export interface WithApiKeyCaseOptions {
  /** The file's msw server. */
  server: SetupServer;
  /** The provider endpoint the adapter POSTs to, as an msw path. */
  url: string;
  /** A fresh adapter of the provider, using the provider's own (shared) key. */
  create: () => ModelAdapter;
  /** The key `create()`'s adapter sends. */
  ownKey: string;
  /** The key a request carries, read from the provider's auth header. */
  keyOf: (headers: Headers) => string | null;
  /** A normal answer to a sent request (streamed or not, as the request asks). */
  answer: (request: Request) => Response | Promise<Response>;
  /** The provider's HTTP 401 answer, with a message that echoes `key` (as some gateways do). */
  unauthorized: (key: string) => Response;
  /**
   * An adapter made with no key at all (its environment variables are emptied first): a copy must still work with
   * the tenant's key, and build its client only on its first call.
   */
  keyless?: { env: readonly string[]; create: () => ModelAdapter };
}

/** A tenant's key in the shape of no known provider (so duh's generic secret patterns cannot be what hides it). */
export const TENANT_KEY = 'k-tenant';

/**
 * The `withApiKey()` checks every built-in adapter passes (bring-your-own-key tenants), against the file's msw
 * server: the copy sends the tenant's key in the provider's header while the original keeps its own, copies are
 * independent, bad keys are refused, and the key shows nowhere (JSON, inspection, a 401's error).
 */
export function withApiKeyCases(options: WithApiKeyCaseOptions): { name: string; run: () => Promise<void> }[] {
  const { server, url, keyOf } = options;
  /** Record the key of every request from now on, answering normally. */
  const keysSent = () => {
    const keys: (string | null)[] = [];
    server.use(
      http.post(url, ({ request: sent }) => {
        keys.push(keyOf(sent.headers));
        return options.answer(sent);
      }),
    );
    return keys;
  };
  return [
    {
      name: 'a withApiKey() copy sends the tenant key on the wire while the original keeps its own',
      run: async () => {
        const keys = keysSent();
        const original = options.create();
        const copy = original.withApiKey!(TENANT_KEY);
        expect(copy).not.toBe(original);
        expect({ specificationVersion: copy.specificationVersion, provider: copy.provider, modelId: copy.modelId, info: copy.info }).toEqual({
          specificationVersion: 'v1',
          provider: original.provider,
          modelId: original.modelId,
          info: original.info,
        });
        expect(typeof copy.withApiKey).toBe('function');
        expect((await copy.generate(request)).text).not.toBe('');
        expect((await original.generate(request)).text).not.toBe('');
        expect((await drain(copy.stream(request))).at(-1)?.type).toBe('finish');
        expect((await drain(original.stream(request))).at(-1)?.type).toBe('finish');
        expect(keys).toEqual([TENANT_KEY, options.ownKey, TENANT_KEY, options.ownKey]);
      },
    },
    {
      name: 'withApiKey() copies are independent, also when called at once, and a copy can be copied again',
      run: async () => {
        const keys = keysSent();
        const original = options.create();
        const first = original.withApiKey!(`${TENANT_KEY}-a`);
        const second = original.withApiKey!(`${TENANT_KEY}-b`);
        await Promise.all([first.generate(request), second.generate(request), original.generate(request), first.generate(request)]);
        expect([...keys].sort()).toEqual([options.ownKey, `${TENANT_KEY}-a`, `${TENANT_KEY}-a`, `${TENANT_KEY}-b`].sort());
        keys.length = 0;
        await first.withApiKey!(`${TENANT_KEY}-c`).generate(request);
        await second.generate(request);
        expect(keys).toEqual([`${TENANT_KEY}-c`, `${TENANT_KEY}-b`]);
      },
    },
    {
      name: 'withApiKey() refuses a key that is not a non-empty string with an InvalidOptionError naming apiKey, and never echoes it',
      run: async () => {
        const keys = keysSent();
        const original = options.create();
        for (const bad of ['', '   ', undefined, null, 42, {}, `${TENANT_KEY}\r\nx-injected: 1`]) {
          const error = (() => {
            try {
              original.withApiKey!(bad as string);
            } catch (caught) {
              return caught;
            }
            return expect.unreachable(`withApiKey(${JSON.stringify(bad)}) must throw`);
          })();
          expect(InvalidOptionError.isInstance(error), String(error)).toBe(true);
          expect((error as InvalidOptionError).option).toBe('apiKey');
          expect((error as Error).message).toMatch(/withApiKey\(\)/);
          expect(`${(error as Error).message} ${String((error as InvalidOptionError).value)}`).not.toContain('x-injected');
        }
        expect(keys).toEqual([]);
      },
    },
    {
      name: 'the tenant key shows nowhere: not in the copy (JSON, String, inspect) nor in a 401 error that echoes it',
      run: async () => {
        keysSent();
        const copy = options.create().withApiKey!(TENANT_KEY);
        await copy.generate(request); // the SDK client is built now
        for (const view of [JSON.stringify(copy), String(copy), inspect(copy, { depth: 8, showHidden: true, getters: true })]) expect(view).not.toContain(TENANT_KEY);
        for (const call of [() => copy.generate(request), () => drain(copy.stream(request))]) {
          server.use(http.post(url, () => options.unauthorized(TENANT_KEY), { once: true }));
          const error = await rejection(call());
          expect(ProviderError.isInstance(error), String(error)).toBe(true);
          expect(error).toMatchObject({ kind: 'auth', retryable: false });
          for (const view of [(error as Error).message, JSON.stringify(error), serializeError(error).message]) expect(view).not.toContain(TENANT_KEY);
        }
      },
    },
    ...(options.keyless
      ? [
          {
            name: 'a withApiKey() copy of a model without any shared key works, and builds its client only on its first call',
            run: async () => {
              const { env, create } = options.keyless!;
              for (const name of env) vi.stubEnv(name, '');
              const keys = keysSent();
              const original = create();
              await expect(original.generate(request)).rejects.toMatchObject({ code: 'INVALID_OPTION', option: 'apiKey' });
              const copy = original.withApiKey!(TENANT_KEY);
              expect(keys).toEqual([]);
              await copy.generate(request);
              expect(keys).toEqual([TENANT_KEY]);
            },
          },
        ]
      : []),
  ];
}
