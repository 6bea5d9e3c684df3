// End to end: a 3-round consensus across OpenAI, Anthropic, Google, Mistral and Perplexity, each through its
// real SDK (the built-in adapters), with msw serving each provider's wire format. OpenAI answers its first
// request with a 429 + Retry-After and then recovers; Google fails every request with a 500. The run still
// commits three rounds, the events tell the story of the retry and the failure, and the cost is exactly what
// the responses' usage costs at catalog prices.
import { readFileSync } from 'node:fs';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAnthropic } from '../../adapters/anthropic.js';
import { CATALOG } from '../../adapters/_shared/catalog.js';
import { createGoogle } from '../../adapters/google.js';
import { createMistral } from '../../adapters/mistral.js';
import { createOpenAI } from '../../adapters/openai.js';
import { createPerplexity } from '../../adapters/perplexity.js';
import { type ModelAdapter, modelRef } from '../../src/adapter.js';
import { Consensus } from '../../src/consensus.js';
import type { ConsensusEvent } from '../../src/events.js';
import { CONFIDENCE_CAPS } from '../../src/protocol/commit.js';
import { selectChallengers, selectCheapest, selectProposer } from '../../src/protocol/selection.js';
import type { ChallengeFraming } from '../../src/record.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { collect } from '../helpers.js';

// ---- Recorded wire details, reused from the adapter fixtures (headers and real error bodies). ----

const ADAPTER_FIXTURES = new URL('../adapters/__fixtures__/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ADAPTER_FIXTURES), 'utf8');

interface Recorded {
  file: string;
  status: number;
  headers: Record<string, string>;
}
/** `responses.json` of an adapter fixture folder (openai, mistral, perplexity): status and headers per case. */
const recordedCase = (provider: string, name: string): Recorded => {
  const all = JSON.parse(read(`${provider}/responses.json`)) as Record<string, Recorded>;
  const entry = all[name];
  if (!entry) throw new Error(`no ${provider} fixture ${name}`);
  return entry;
};
/** The header block of an Anthropic `.sse.txt` transcript. */
const anthropicHeaders = (() => {
  const raw = read('anthropic/text.sse.txt');
  const [, ...lines] = raw.slice(0, raw.indexOf('\n\n')).split('\n');
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
})();
/** Headers the Gemini API sends with an error body (as in test/adapters/google.test.ts). */
const GOOGLE_ERROR_HEADERS = {
  'content-type': 'application/json; charset=UTF-8',
  vary: 'Origin, X-Origin, Referer',
  date: 'Tue, 24 Nov 2026 09:14:07 GMT',
  server: 'scaffolding on HTTPServer2',
  'x-xss-protection': '0',
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
};

const OPENAI_STREAM = recordedCase('openai', 'stream-ok');
const OPENAI_429 = recordedCase('openai', 'error-429');
const MISTRAL_STREAM = recordedCase('mistral', 'stream-ok');
const PERPLEXITY_STREAM = recordedCase('perplexity', 'stream-ok');

// ---- The panel: five providers, fake keys. ----

const KEYS = {
  openai: 'test-key-openai-7Hq2Lw9Xc4Vb1Nm8',
  anthropic: 'test-key-anthropic-Zp3Rt6Yu0Io5Kl2',
  google: 'test-key-google-Fg8Hj1Kd4Sa7Qw3E',
  mistral: 'test-key-mistral-Mn5Bv2Cx9Zl6Pk1J',
  perplexity: 'test-key-perplexity-Tr4Ew7Qy0Ui3Op',
} as const;
type Provider = keyof typeof KEYS;

const REFS = {
  openai: 'openai:gpt-5.2',
  anthropic: 'anthropic:claude-opus-4-6',
  google: 'google:gemini-3-pro-preview',
  mistral: 'mistral:mistral-large-latest',
  perplexity: 'perplexity:sonar-pro',
} as const;

const price = (provider: Provider) => {
  const modelId = REFS[provider].slice(provider.length + 1);
  const entry = CATALOG[provider]?.[modelId];
  if (!entry) throw new Error(`${REFS[provider]} is not in the catalog`);
  return entry;
};

const QUESTION = 'Should our five-person SaaS shard its Postgres database by tenant or by region?';
const CITATIONS = [
  'https://docs.citusdata.com/en/stable/use_cases/multi_tenant.html',
  'https://www.postgresql.org/docs/current/ddl-rowsecurity.html',
];
/** What Perplexity reports as its own cost of a call (its per-request fee included); duh prices by the catalog. */
const PERPLEXITY_OWN_COST = 0.00731;

// ---- What each member says and how many tokens it uses, per round. ----

type Role = 'propose' | 'challenge' | 'revise' | 'classify';

const proposalText = (round: number) =>
  `R${round}-PROPOSAL: shard by tenant with Citus, co-locate each tenant's tables on one worker, and pin EU tenants to an EU worker group (draft ${round}).`;
const decisionText = (round: number) =>
  `R${round}-DECISION: shard by tenant_id with Citus; keep a reference table for plans, pin EU tenants to Frankfurt workers, and rebalance when a tenant passes 5% of rows (revision ${round}).`;

/** Challenges differ from round to round (so the run does not converge) and Mistral's round-3 reply defers. */
const CHALLENGES: Record<'perplexity' | 'openai' | 'mistral', readonly string[]> = {
  perplexity: [
    'Citus documentation recommends distributing by tenant only after measuring cross-tenant joins [1]; the proposal never measures them.',
    'Row-level security policies cost planner time on every query [2]; at ten thousand tenants that overhead dominates latency budgets.',
    'Regional residency law changed in 2025: Frankfurt workers alone will not satisfy Swiss customers, who need in-country storage [1].',
  ],
  openai: [
    'A schema-per-tenant layout avoids distributed query planning entirely until the company has more than a few hundred customers.',
    'Managed serverless Postgres branches give cheap per-tenant isolation without operating a coordinator node or rebalancing shards.',
    'Instead of sharding now, buy a larger primary plus read replicas; vertical headroom lasts years for five engineers.',
  ],
  mistral: [
    'I disagree: sharding by region first keeps residency simple, and tenant skew can be handled later with dedicated nodes.',
    'I disagree: the rebalance threshold ignores write amplification during moves, which will stall checkout traffic for minutes.',
    'I largely agree with the revised plan; only the backup story for pinned EU workers remains unexplained.',
  ],
};
const TAXONOMY = { intent: 'technical', category: 'databases', genus: 'sharding' } as const;
const classificationText = JSON.stringify(TAXONOMY);

/** [input, output] tokens each successful response reports, by `provider:role`, per round. */
const USAGE: Record<string, readonly (readonly [number, number])[]> = {
  'anthropic:propose': [[1180, 640], [2410, 702], [2533, 688]],
  'anthropic:revise': [[2904, 811], [3120, 845], [3307, 870]],
  'perplexity:challenge': [[1342, 402], [1398, 377], [1421, 390]],
  'openai:challenge': [[1290, 515], [1335, 498], [1362, 530]],
  'mistral:challenge': [[1301, 455], [1356, 470], [1388, 262]],
  'openai:classify': [[301, 19], [305, 19], [309, 21]],
};
const usageOf = (provider: Provider, role: Role, round: number) => {
  const row = USAGE[`${provider}:${role}`]?.[round - 1];
  if (!row) throw new Error(`no usage for ${provider} ${role} round ${round}`);
  return { inputTokens: row[0], outputTokens: row[1] };
};
const callCost = (provider: Provider, role: Role, round: number) => {
  const { inputTokens, outputTokens } = usageOf(provider, role, round);
  const { inputPricePerMTok, outputPricePerMTok } = price(provider);
  return (inputTokens * inputPricePerMTok + outputTokens * outputPricePerMTok) / 1e6;
};

// ---- Reading a request: which phase and round it belongs to (from the prompts src/protocol/prompts.ts writes). ----

const FRAMING_MARKERS: readonly [string, ChallengeFraming][] = [
  ['rigorous analyst', 'flaw'],
  ['creative strategist', 'alternative'],
  ['risk analyst', 'risk'],
  ["devil's advocate", 'devils-advocate'],
];

interface Seen {
  provider: Provider;
  url: string;
  headers: Headers;
  body: Record<string, unknown>;
  system: string;
  user: string;
  role: Role;
  round: number;
  framing: ChallengeFraming | undefined;
  status: number;
}
const seen: Seen[] = [];

function classify(system: string, user: string): { role: Role; round: number; framing: ChallengeFraming | undefined } {
  const marker = (kind: 'PROPOSAL' | 'DECISION') => {
    const match = new RegExp(`R(\\d+)-${kind}`).exec(user);
    if (!match) throw new Error(`no ${kind} marker in: ${user.slice(0, 200)}`);
    return Number(match[1]);
  };
  if (user.startsWith('Classify the question')) return { role: 'classify', round: marker('DECISION'), framing: undefined };
  if (system.includes('independent experts challenged')) return { role: 'revise', round: marker('PROPOSAL'), framing: undefined };
  if (system.includes('expert advisor')) {
    return { role: 'propose', round: user.includes('The previous round reached this answer') ? marker('DECISION') + 1 : 1, framing: undefined };
  }
  const framing = FRAMING_MARKERS.find(([text]) => system.includes(text))?.[1];
  if (!framing) throw new Error(`unrecognised system prompt: ${system.slice(0, 200)}`);
  return { role: 'challenge', round: marker('PROPOSAL'), framing };
}

/** System and last user text of a request body, per wire format. */
function promptsOf(provider: Provider, body: Record<string, unknown>): { system: string; user: string } {
  if (provider === 'anthropic') {
    const messages = body['messages'] as { role: string; content: string }[];
    return { system: typeof body['system'] === 'string' ? body['system'] : '', user: messages.at(-1)?.content ?? '' };
  }
  if (provider === 'google') {
    const text = (content: unknown) => ((content as { parts?: { text?: string }[] } | undefined)?.parts ?? []).map((part) => part.text ?? '').join('\n\n');
    const contents = body['contents'] as unknown[];
    return { system: text(body['systemInstruction']), user: text(contents.at(-1)) };
  }
  const messages = body['messages'] as { role: string; content: string }[];
  return {
    system: messages.filter((message) => message.role === 'system' || message.role === 'developer').map((message) => message.content).join('\n\n'),
    user: messages.filter((message) => message.role === 'user').at(-1)?.content ?? '',
  };
}

/** What `provider` answers to a request of `role` in `round`. */
function replyText(provider: Provider, role: Role, round: number): string {
  if (role === 'propose') return proposalText(round);
  if (role === 'revise') return decisionText(round);
  if (role === 'classify') return classificationText;
  if (provider === 'perplexity' || provider === 'openai' || provider === 'mistral') {
    const text = CHALLENGES[provider][round - 1];
    if (text) return text;
  }
  throw new Error(`${provider} has no ${role} reply for round ${round}`);
}

/** Text in three pieces, as a stream would deliver it. */
function pieces(text: string): string[] {
  const third = Math.ceil(text.length / 3);
  return [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)].filter((piece) => piece !== '');
}

// ---- Wire formats (the shapes of the recorded fixtures, with this run's text and usage). ----

const sse = (events: readonly unknown[]) => events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');

function openaiStream(text: string, usage: { inputTokens: number; outputTokens: number }): string {
  const base = { id: 'chatcmpl-E2eQ4vZ7tYc2Lm8WkXa1RbT9p', object: 'chat.completion.chunk', created: 1768435200, model: 'gpt-5.2-2025-12-11', service_tier: 'default', system_fingerprint: null };
  return (
    sse([
      { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }], usage: null },
      ...pieces(text).map((piece) => ({ ...base, choices: [{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }], usage: null })),
      { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null },
      {
        ...base,
        choices: [],
        usage: {
          prompt_tokens: usage.inputTokens,
          completion_tokens: usage.outputTokens,
          total_tokens: usage.inputTokens + usage.outputTokens,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
        },
      },
    ]) + 'data: [DONE]\n\n'
  );
}

function anthropicStream(text: string, usage: { inputTokens: number; outputTokens: number }): string {
  const event = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  const cache = { cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  return [
    event('message_start', {
      type: 'message_start',
      message: {
        model: 'claude-opus-4-6',
        id: 'msg_011E2eT7n2KpQw8dLmZx4YhT',
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { input_tokens: usage.inputTokens, ...cache, output_tokens: 1, service_tier: 'standard' },
      },
    }),
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', { type: 'ping' }),
    ...pieces(text).map((piece) => event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } })),
    event('content_block_stop', { type: 'content_block_stop', index: 0 }),
    event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null },
      usage: { input_tokens: usage.inputTokens, ...cache, output_tokens: usage.outputTokens, output_tokens_details: { thinking_tokens: 0 } },
    }),
    event('message_stop', { type: 'message_stop' }),
  ].join('');
}

function mistralStream(text: string, usage: { inputTokens: number; outputTokens: number }): string {
  const base = { id: '7e1b3f0c9a2d4c65b8e0f41d2a6ce2e0', object: 'chat.completion.chunk', created: 1768435200, model: 'mistral-large-latest' };
  return (
    sse([
      { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      ...pieces(text).map((piece) => ({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })),
      {
        ...base,
        choices: [{ index: 0, delta: { content: '' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: usage.inputTokens, total_tokens: usage.inputTokens + usage.outputTokens, completion_tokens: usage.outputTokens },
      },
    ]) + 'data: [DONE]\n\n'
  );
}

/** Perplexity's full stream mode: every chunk repeats the (cumulative) usage and the citations; the last one is `chat.completion.done`. */
function perplexityStream(text: string, usage: { inputTokens: number; outputTokens: number }): string {
  const parts = pieces(text);
  const searchResults = CITATIONS.map((url, index) => ({ title: `Source ${index + 1}`, url, date: '2025-11-13', snippet: 'Multi-tenant data isolation...', source: 'web' }));
  const chunk = (index: number, last: boolean) => ({
    id: '3f1e9c2a-7b4d-4e8f-9a61-0c5d2b8ee2e0',
    model: 'sonar-pro',
    created: 1768435200,
    usage: {
      prompt_tokens: usage.inputTokens,
      completion_tokens: last ? usage.outputTokens : index + 1,
      total_tokens: usage.inputTokens + (last ? usage.outputTokens : index + 1),
      search_context_size: 'low',
      cost: last ? { input_tokens_cost: 0.00402, output_tokens_cost: 0.00329, total_cost: PERPLEXITY_OWN_COST } : { input_tokens_cost: 0.00402, output_tokens_cost: 0, total_cost: 0.00402 },
    },
    citations: CITATIONS,
    search_results: searchResults,
    object: last ? 'chat.completion.done' : 'chat.completion.chunk',
    choices: [{ index: 0, delta: { role: 'assistant', content: last ? '' : parts[index] }, ...(last ? { finish_reason: 'stop' } : {}) }],
  });
  return sse([...parts.map((_, index) => chunk(index, false)), chunk(parts.length, true)]);
}

// ---- The fake APIs. ----

/** OpenAI rate-limits its first request, then answers; Google fails every request. */
let openaiRequests = 0;

function handler(provider: Provider, url: string, respond: (info: ReturnType<typeof classify>, request: Request) => Response) {
  return http.post(url, async ({ request }) => {
    const body = (await request.clone().json()) as Record<string, unknown>;
    const { system, user } = promptsOf(provider, body);
    const info = classify(system, user);
    const response = respond(info, request);
    seen.push({ provider, url: request.url, headers: request.headers, body, system, user, ...info, status: response.status });
    return response;
  });
}

const server = setupServer(
  handler('openai', 'https://api.openai.com/v1/chat/completions', ({ role, round }) => {
    openaiRequests++;
    if (openaiRequests === 1) {
      // The recorded 429 (tokens-per-minute), asking for 3 s.
      return new HttpResponse(read(`openai/${OPENAI_429.file}`), { status: 429, headers: { ...OPENAI_429.headers, 'retry-after': '3' } });
    }
    return new HttpResponse(openaiStream(replyText('openai', role, round), usageOf('openai', role, round)), { status: 200, headers: OPENAI_STREAM.headers });
  }),
  handler('anthropic', 'https://api.anthropic.com/v1/messages', ({ role, round }) =>
    new HttpResponse(anthropicStream(replyText('anthropic', role, round), usageOf('anthropic', role, round)), { status: 200, headers: anthropicHeaders }),
  ),
  handler('google', 'https://generativelanguage.googleapis.com/:version/models/*', () =>
    new HttpResponse(read('google/server-error.json'), { status: 500, headers: GOOGLE_ERROR_HEADERS }),
  ),
  handler('mistral', 'https://api.mistral.ai/v1/chat/completions', ({ role, round }) =>
    new HttpResponse(mistralStream(replyText('mistral', role, round), usageOf('mistral', role, round)), { status: 200, headers: MISTRAL_STREAM.headers }),
  ),
  handler('perplexity', 'https://api.perplexity.ai/chat/completions', ({ role, round }) =>
    new HttpResponse(perplexityStream(replyText('perplexity', role, round), usageOf('perplexity', role, round)), { status: 200, headers: PERPLEXITY_STREAM.headers }),
  ),
);

beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => {
  seen.length = 0;
  openaiRequests = 0;
});
afterAll(() => server.close());

/** Fresh providers (SDK clients are built lazily, on the first call, after msw listens). */
function panel(): ModelAdapter[] {
  return [
    createOpenAI({ apiKey: KEYS.openai })('gpt-5.2'),
    createAnthropic({ apiKey: KEYS.anthropic })('claude-opus-4-6'),
    createGoogle({ apiKey: KEYS.google })('gemini-3-pro-preview'),
    createMistral({ apiKey: KEYS.mistral })('mistral-large-latest'),
    createPerplexity({ apiKey: KEYS.perplexity })('sonar-pro'),
  ];
}

type EventOf<T extends ConsensusEvent['type']> = Extract<ConsensusEvent, { type: T }>;
const ofType = <T extends ConsensusEvent['type']>(events: readonly ConsensusEvent[], type: T) =>
  events.filter((event): event is EventOf<T> => event.type === type);

describe('providers end to end (msw, real SDKs)', () => {
  it('selects from catalog prices: opus proposes, challengers by output price across providers, the cheapest input classifies', () => {
    const candidates = panel().map((adapter) => ({ ref: modelRef(adapter), info: adapter.info }));
    const proposer = selectProposer(candidates);
    // Perplexity is challenger-only; of the rest, Opus has the highest output price.
    expect(proposer.ref).toBe(REFS.anthropic);
    expect(price('anthropic').outputPricePerMTok).toBeGreaterThan(Math.max(price('openai').outputPricePerMTok, price('google').outputPricePerMTok, price('mistral').outputPricePerMTok));
    // Cross-provider challengers by output price: sonar-pro 15, gpt-5.2 14, gemini-3-pro 12, mistral-large 6.
    const byOutput = (['perplexity', 'openai', 'google', 'mistral'] as const)
      .slice()
      .sort((a, b) => price(b).outputPricePerMTok - price(a).outputPricePerMTok)
      .map((provider) => REFS[provider]);
    expect(byOutput).toEqual([REFS.perplexity, REFS.openai, REFS.google, REFS.mistral]);
    expect(selectChallengers(candidates, proposer, 2).map((model) => model.ref)).toEqual(byOutput.slice(0, 2));
    expect(selectChallengers(candidates, proposer, 3).map((model) => model.ref)).toEqual(byOutput.slice(0, 3));
    expect(selectChallengers(candidates, proposer, 4).map((model) => model.ref)).toEqual(byOutput);
    // The classifier is the cheapest by input price: gpt-5.2 (1.75), not mistral-large or gemini (2).
    const cheapest = (Object.keys(REFS) as Provider[]).sort((a, b) => price(a).inputPricePerMTok - price(b).inputPricePerMTok)[0]!;
    expect(cheapest).toBe('openai');
    expect(selectCheapest(candidates)?.ref).toBe(REFS.openai);
  });

  it('commits 3 rounds through a 429 that recovers and a provider that fails, with exact costs and no leaked keys', async () => {
    const clock = new ManualClock({ autoAdvance: true });
    const duh = new Consensus({
      models: panel(),
      // 4 challengers so every provider takes part: with 3, Mistral (the cheapest output) would sit the run out,
      // since the classifier is gpt-5.2 (cheapest input).
      challengerCount: 4,
      rounds: 3,
      retry: { maxRetries: 1 },
      clock,
      random: () => 0.5, // jitter factor 1: backoff is exactly baseDelayMs × 2^attempt
    });
    const stream = duh.stream(QUESTION);
    const events = await collect(stream);
    const result = await stream.result;

    // ---- Selection, as the run announced it. ----
    const phaseStarts = ofType(events, 'phase-start');
    const modelsOf = (phase: string) => phaseStarts.filter((event) => event.phase === phase).map((event) => event.models);
    expect(modelsOf('propose')).toEqual([[REFS.anthropic], [REFS.anthropic], [REFS.anthropic]]);
    const challengers = [REFS.perplexity, REFS.openai, REFS.google, REFS.mistral];
    expect(modelsOf('challenge')).toEqual([challengers, challengers, challengers]);
    expect(modelsOf('revise')).toEqual([[REFS.anthropic], [REFS.anthropic], [REFS.anthropic]]);
    expect(modelsOf('commit')).toEqual([[REFS.openai], [REFS.openai], [REFS.openai]]);
    const framings = ofType(events, 'member-start')
      .filter((event) => event.phase === 'challenge' && event.round === 1 && event.attempt === 1)
      .map((event) => [event.model, event.framing]);
    expect(framings).toEqual(
      expect.arrayContaining([
        [REFS.perplexity, 'flaw'],
        [REFS.openai, 'alternative'],
        [REFS.google, 'risk'],
        [REFS.mistral, 'devils-advocate'],
      ]),
    );
    expect(framings).toHaveLength(4);

    // ---- The run committed three rounds. ----
    expect(result.rounds).toHaveLength(3);
    expect(result.stopReason).toBe('max-rounds');
    expect(result.converged).toBe(false);
    expect(result.rounds.map((round) => round.converged)).toEqual([false, false, false]);
    expect(result.decision).toBe(decisionText(3));
    expect(result.decision).toBe(result.rounds[2]!.revision.text);
    expect(result.taxonomy).toEqual(TAXONOMY);
    expect(events.at(-1)).toMatchObject({ type: 'run-end', stopReason: 'max-rounds' });
    expect(ofType(events, 'error')).toEqual([]);

    for (const [index, round] of result.rounds.entries()) {
      const number = index + 1;
      expect(round.round).toBe(number);
      expect(round.proposal).toMatchObject({ role: 'proposer', model: REFS.anthropic, text: proposalText(number), attempts: 1, finishReason: 'stop', truncated: false });
      expect(round.revision).toMatchObject({ role: 'reviser', model: REFS.anthropic, text: decisionText(number), attempts: 1 });
      expect(round.decision).toBe(decisionText(number));
      // Google never answered: the challenges are the three that did, in challenger order.
      expect(round.challenges.map((challenge) => [challenge.model, challenge.framing, challenge.text])).toEqual([
        [REFS.perplexity, 'flaw', CHALLENGES.perplexity[index]],
        [REFS.openai, 'alternative', CHALLENGES.openai[index]],
        [REFS.mistral, 'devils-advocate', CHALLENGES.mistral[index]],
      ]);
      expect(round.classification).toMatchObject({ role: 'classifier', model: REFS.openai, text: classificationText, attempts: 1 });
      expect(round.taxonomy).toEqual(TAXONOMY);

      // Rigor and dissent from the successful challengers only (3, not 4): Mistral defers in round 3.
      const sycophantic = round.challenges.map((challenge) => challenge.sycophantic);
      expect(sycophantic).toEqual(number === 3 ? [false, false, true] : [false, false, false]);
      const genuine = round.challenges.filter((challenge) => !challenge.sycophantic);
      const rigor = 0.5 + 0.5 * (genuine.length / 3);
      expect(round.rigor).toBeCloseTo(rigor, 12);
      expect(round.rigor).toBeCloseTo(number === 3 ? 0.5 + 0.5 * (2 / 3) : 1, 12);
      expect(round.confidence).toBeCloseTo(Math.min(CONFIDENCE_CAPS.technical, rigor), 12);
      expect(round.dissent).toBe(genuine.map((challenge) => `[${challenge.model}]: ${challenge.text}`).join('\n\n'));
      expect(round.dissent).not.toContain(REFS.google);
    }
    // Round 1-2: the intent caps confidence (0.9 < rigor 1); round 3: rigor does (0.833 < 0.9).
    expect(result.rounds.map((round) => round.confidence)).toEqual([0.9, 0.9, result.rounds[2]!.rigor]);
    expect(result.confidence).toBeCloseTo(0.5 + 0.5 * (2 / 3), 12);
    expect(result.rigor).toBe(result.rounds[2]!.rigor);
    expect(result.dissent).toBe(result.rounds[2]!.dissent);

    // ---- The 429: OpenAI's first request, retried after exactly its Retry-After. ----
    const errors = ofType(events, 'member-error');
    const openaiErrors = errors.filter((event) => event.model === REFS.openai);
    expect(openaiErrors).toEqual([
      expect.objectContaining({
        round: 1,
        phase: 'challenge',
        role: 'challenger',
        index: 1,
        attempt: 1,
        willRetry: true,
        retryInMs: 3000,
        final: false,
        error: expect.objectContaining({ code: 'PROVIDER_RATE_LIMIT', kind: 'rate-limit', status: 429, retryable: true, provider: 'openai', model: 'gpt-5.2' }),
      }),
    ]);
    expect(openaiErrors[0]!.error.message).toContain('Rate limit reached for gpt-5.2');
    expect(openaiErrors[0]).not.toHaveProperty('fallbackTo');
    expect(clock.sleeps).toContain(3000);
    expect(result.rounds[0]!.challenges[1]).toMatchObject({ model: REFS.openai, attempts: 2 });
    expect(result.rounds[1]!.challenges[1]!.attempts).toBe(1);
    const openaiStarts = ofType(events, 'member-start').filter((event) => event.model === REFS.openai && event.round === 1 && event.phase === 'challenge');
    expect(openaiStarts.map((event) => event.attempt)).toEqual([1, 2]);
    // The recovered member is not a failure.
    expect(result.failures.some((failure) => failure.model === REFS.openai)).toBe(false);

    // ---- Google: every request answered 500; retried once per round, then given up on. ----
    const googleErrors = errors.filter((event) => event.model === REFS.google);
    const googleError = (round: number, attempt: number, last: boolean) =>
      expect.objectContaining({
        round,
        phase: 'challenge',
        role: 'challenger',
        index: 2,
        attempt,
        willRetry: !last,
        final: last,
        ...(last ? {} : { retryInMs: 1000 }),
        error: expect.objectContaining({ code: 'PROVIDER', kind: 'server', status: 500, retryable: true, provider: 'google', model: 'gemini-3-pro-preview' }),
      });
    expect(googleErrors.slice(0, 4)).toEqual([googleError(1, 1, false), googleError(1, 2, true), googleError(2, 1, false), googleError(2, 2, true)]);
    expect(googleErrors[0]!.error.message).toContain('INTERNAL: An internal error has occurred');
    expect(googleErrors.filter((event) => event.final)).toHaveLength(3);
    expect(googleErrors.every((event) => event.fallbackTo === undefined)).toBe(true);
    expect(clock.sleeps.filter((ms) => ms === 1000)).toHaveLength(2); // one backoff in rounds 1 and 2
    // Round 3: its first 500 is the fifth consecutive outage failure, so Google's circuit opens (default
    // threshold 5) and the engine gives up on Google for this round at once: no pointless retry wait.
    expect(ofType(events, 'circuit-state')).toEqual([
      expect.objectContaining({ model: REFS.google, state: 'open', previous: 'closed', failures: 5 }),
    ]);
    expect(googleErrors.slice(4)).toEqual([googleError(3, 1, true)]);
    expect(seen.filter((request) => request.provider === 'google')).toHaveLength(5);
    expect(duh.circuits).toEqual([expect.objectContaining({ model: REFS.google, state: 'open', failures: 5 })]);
    // Tolerated failures: Google, once per round, and nobody else.
    expect(result.failures.map((failure) => [failure.model, failure.round, failure.phase, failure.error.kind])).toEqual([
      [REFS.google, 1, 'challenge', 'server'],
      [REFS.google, 2, 'challenge', 'server'],
      [REFS.google, 3, 'challenge', 'server'],
    ]);
    for (const [index, round] of result.rounds.entries()) {
      expect(round.failures).toEqual([result.failures[index]]);
    }
    // Google's request was a real challenge request (the risk framing), and the reviser never heard of it.
    expect(seen.find((request) => request.provider === 'google')).toMatchObject({ role: 'challenge', framing: 'risk', round: 1, status: 500 });
    const revisions = seen.filter((request) => request.role === 'revise');
    expect(revisions).toHaveLength(3);
    for (const revision of revisions) {
      expect(revision.user).toContain(`Challenge from ${REFS.perplexity}:`);
      expect(revision.user).toContain(`Challenge from ${REFS.openai}:`);
      expect(revision.user).toContain(`Challenge from ${REFS.mistral}:`);
      expect(revision.user).not.toContain(REFS.google);
    }
    // Rounds 2 and 3 are proposed against the previous decision and its three challenges.
    const proposals = seen.filter((request) => request.role === 'propose');
    expect(proposals.map((request) => request.round)).toEqual([1, 2, 3]);
    expect(proposals[1]!.user).toContain(decisionText(1));
    for (const text of [CHALLENGES.perplexity[0]!, CHALLENGES.openai[0]!, CHALLENGES.mistral[0]!]) expect(proposals[1]!.user).toContain(`- ${text}`);

    // ---- Perplexity's citations travel with its contribution. ----
    for (const round of result.rounds) {
      const sonar = round.challenges[0]!;
      expect(sonar.model).toBe(REFS.perplexity);
      expect(sonar.providerMetadata).toMatchObject({ perplexity: { citations: CITATIONS, costUsd: PERPLEXITY_OWN_COST } });
      // duh prices by the catalog, not by Perplexity's own figure.
      expect(sonar.costUsd).not.toBeCloseTo(PERPLEXITY_OWN_COST, 6);
    }
    const sonarEnds = ofType(events, 'member-end').filter((event) => event.model === REFS.perplexity);
    expect(sonarEnds).toHaveLength(3);
    for (const event of sonarEnds) expect(event.providerMetadata).toMatchObject({ perplexity: { citations: CITATIONS } });

    // ---- Cost: exactly the fixtures' usage at catalog prices. ----
    const calls: [Provider, Role][] = [
      ['anthropic', 'propose'],
      ['perplexity', 'challenge'],
      ['openai', 'challenge'],
      ['mistral', 'challenge'],
      ['anthropic', 'revise'],
      ['openai', 'classify'],
    ];
    const byRound = [1, 2, 3].map((round) => calls.reduce((sum, [provider, role]) => sum + callCost(provider, role, round), 0));
    const total = byRound.reduce((sum, value) => sum + value, 0);
    // The same sum by hand: opus 5/25, sonar-pro 3/15, gpt-5.2 1.75/14, mistral-large 2/6 per million tokens.
    expect(total).toBeCloseTo(0.267_406_5, 10);
    expect(result.cost.totalUsd).toBeCloseTo(total, 10);
    expect(result.cost.byRound).toHaveLength(3);
    result.cost.byRound.forEach((value, index) => expect(value).toBeCloseTo(byRound[index]!, 10));
    result.rounds.forEach((round, index) => expect(round.costUsd).toBeCloseTo(byRound[index]!, 10));
    const byModel = (provider: Provider, roles: Role[]) =>
      [1, 2, 3].reduce((sum, round) => sum + roles.reduce((inner, role) => inner + callCost(provider, role, round), 0), 0);
    expect(Object.keys(result.cost.byModel).sort()).toEqual([REFS.anthropic, REFS.mistral, REFS.openai, REFS.perplexity].sort());
    expect(result.cost.byModel[REFS.anthropic]).toBeCloseTo(byModel('anthropic', ['propose', 'revise']), 10);
    expect(result.cost.byModel[REFS.openai]).toBeCloseTo(byModel('openai', ['challenge', 'classify']), 10);
    expect(result.cost.byModel[REFS.mistral]).toBeCloseTo(byModel('mistral', ['challenge']), 10);
    expect(result.cost.byModel[REFS.perplexity]).toBeCloseTo(byModel('perplexity', ['challenge']), 10);
    expect(result.cost.byModel).not.toHaveProperty(REFS.google);
    // Usage: every successful call, and only those (the 429 and the 500s cost nothing).
    const usageRows = [1, 2, 3].flatMap((round) => calls.map(([provider, role]) => usageOf(provider, role, round)));
    expect(result.usage).toEqual({
      inputTokens: usageRows.reduce((sum, row) => sum + row.inputTokens, 0),
      outputTokens: usageRows.reduce((sum, row) => sum + row.outputTokens, 0),
      calls: 18,
    });
    // Every contribution carries its own usage and cost.
    for (const [index, round] of result.rounds.entries()) {
      const number = index + 1;
      const contributions = [round.proposal, ...round.challenges, round.revision, round.classification!];
      contributions.forEach((contribution, position) => {
        const [provider, role] = calls[position]!;
        expect(contribution.model).toBe(REFS[provider]);
        expect(contribution.usage).toMatchObject(usageOf(provider, role, number));
        expect(contribution.costUsd).toBeCloseTo(callCost(provider, role, number), 12);
      });
    }
    // The cost events add up to the same total, one per successful call.
    const costEvents = ofType(events, 'cost');
    expect(costEvents).toHaveLength(18);
    expect(costEvents.at(-1)!.totalUsd).toBeCloseTo(total, 10);
    expect(costEvents.reduce((sum, event) => sum + event.deltaUsd, 0)).toBeCloseTo(total, 10);
    expect(costEvents.every((event) => event.limitUsd === null)).toBe(true);
    expect(ofType(events, 'cost-warning')).toEqual([]); // under the default $1 warning
    expect(ofType(events, 'round-end').map((event) => event.costUsd)).toEqual(result.cost.byRound);

    // ---- The event stream: contiguous, one thread, deltas that add up. ----
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    expect(events.every((event) => event.v === 1 && event.threadId === result.threadId)).toBe(true);
    expect(stream.threadId).toBe(result.threadId);
    expect(events[0]).toMatchObject({ type: 'run-start', maxRounds: 3, models: [REFS.openai, REFS.anthropic, REFS.google, REFS.mistral, REFS.perplexity] });
    expect(ofType(events, 'commit').map((event) => [event.round, event.decision, event.taxonomy])).toEqual([
      [1, decisionText(1), TAXONOMY],
      [2, decisionText(2), TAXONOMY],
      [3, decisionText(3), TAXONOMY],
    ]);
    for (const end of ofType(events, 'member-end')) {
      const deltas = ofType(events, 'member-delta').filter(
        (delta) => delta.round === end.round && delta.phase === end.phase && delta.index === end.index && delta.model === end.model,
      );
      // The classifier streams no deltas; every other member's deltas rebuild its text.
      expect(deltas.map((delta) => delta.text).join('')).toBe(end.role === 'classifier' ? '' : end.text);
    }
    expect(ofType(events, 'challenge').filter((event) => event.round === 3).map((event) => [event.model, event.sycophantic])).toEqual(
      expect.arrayContaining([
        [REFS.perplexity, false],
        [REFS.openai, false],
        [REFS.mistral, true],
      ]),
    );

    // ---- The stored thread: three turns, every contribution with its tokens and cost. ----
    const thread = await duh.threads.get(result.threadId);
    expect(thread).toMatchObject({ id: result.threadId, question: QUESTION, status: 'complete', error: null });
    expect(thread.turns).toHaveLength(3);
    for (const [index, turn] of thread.turns.entries()) {
      const number = index + 1;
      const round = result.rounds[index]!;
      expect(turn).toMatchObject({ roundNumber: number, state: 'COMMIT' });
      expect(turn.decision).toEqual({ content: decisionText(number), confidence: round.confidence, rigor: round.rigor, dissent: round.dissent, taxonomy: TAXONOMY });
      expect(turn.contributions.map((contribution) => [contribution.model, contribution.role])).toEqual([
        [REFS.anthropic, 'proposer'],
        [REFS.perplexity, 'challenger'],
        [REFS.openai, 'challenger'],
        [REFS.mistral, 'challenger'],
        [REFS.anthropic, 'reviser'],
        [REFS.openai, 'classifier'],
      ]);
      turn.contributions.forEach((contribution, position) => {
        const [provider, role] = calls[position]!;
        const usage = usageOf(provider, role, number);
        expect(contribution.inputTokens).toBe(usage.inputTokens);
        expect(contribution.outputTokens).toBe(usage.outputTokens);
        expect(contribution.costUsd).toBeCloseTo(callCost(provider, role, number), 12);
        expect(contribution.finishReason).toBe('stop');
      });
      expect(turn.contributions[1]!.providerMetadata).toMatchObject({ perplexity: { citations: CITATIONS } });
      expect(turn.contributions.slice(1, 4).map((contribution) => contribution.framing)).toEqual(['flaw', 'alternative', 'devils-advocate']);
    }

    // ---- Every provider was called with its key, on its own wire; no key leaks anywhere. ----
    const first = (provider: Provider) => seen.find((request) => request.provider === provider)!;
    expect(first('openai').headers.get('authorization')).toBe(`Bearer ${KEYS.openai}`);
    expect(first('perplexity').headers.get('authorization')).toBe(`Bearer ${KEYS.perplexity}`);
    expect(first('mistral').headers.get('authorization')).toBe(`Bearer ${KEYS.mistral}`);
    expect(first('anthropic').headers.get('authorization')).toBe(`Bearer ${KEYS.anthropic}`);
    expect(first('google').headers.get('x-goog-api-key')).toBe(KEYS.google);
    expect(new URL(first('google').url).searchParams.has('key')).toBe(false);
    expect(first('openai').body).toMatchObject({ model: 'gpt-5.2', stream: true, stream_options: { include_usage: true } });
    expect(seen.find((request) => request.provider === 'openai' && request.role === 'classify')!.body).toMatchObject({ response_format: { type: 'json_object' } });
    expect(first('anthropic').body).toMatchObject({ model: 'claude-opus-4-6', stream: true });
    expect(first('perplexity').body).toMatchObject({ model: 'sonar-pro', stream: true });
    expect(first('mistral').body).toMatchObject({ model: 'mistral-large-latest', stream: true });
    // Requests per provider: Anthropic 6 (3 proposals, 3 revisions), OpenAI 1 + 6 (the 429, 3 challenges, 3 classifications).
    const count = (provider: Provider) => seen.filter((request) => request.provider === provider).length;
    expect([count('anthropic'), count('openai'), count('perplexity'), count('mistral'), count('google')]).toEqual([6, 7, 3, 3, 5]);
    const everything = JSON.stringify({ events, result, thread, circuits: duh.circuits });
    for (const key of Object.values(KEYS)) expect(everything).not.toContain(key);
  });
});
