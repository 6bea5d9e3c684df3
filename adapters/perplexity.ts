/**
 * `duh/adapters/perplexity`: Perplexity's Sonar models (`sonar`, `sonar-pro`, `sonar-deep-research`), which search
 * the web and cite their sources. Perplexity speaks the OpenAI chat-completions wire at
 * `https://api.perplexity.ai`, so this adapter uses the official `openai` SDK (an optional peer dependency,
 * loaded on a member's first call).
 *
 * Perplexity models are **challenger-only** (`proposerEligible: false`, for unknown ids too): they check a
 * proposal against current sources rather than write one. Their citations (URLs) are kept in
 * `providerMetadata.perplexity.citations` on `generate()` results and on the stream's `finish` part.
 *
 * Sonar's chat completions have no tool calling: a request with `tools` (unless `toolChoice` is `'none'`), or
 * whose messages carry tool calls or tool results, is rejected before it is sent with a non-retryable
 * `bad-request` {@link ProviderError}.
 *
 * ```ts
 * import { Consensus } from 'duh';
 * import { openai } from 'duh/adapters/openai';
 * import { perplexity } from 'duh/adapters/perplexity';
 * const duh = new Consensus({ models: [openai('gpt-5.2'), perplexity('sonar-pro')] });
 * ```
 *
 * The API key comes from the `apiKey` setting or the `PERPLEXITY_API_KEY` environment variable, read on first use.
 * See docs/adapters/perplexity.md.
 *
 * @module
 */
import type { ModelAdapter } from '../src/adapter.js';
import type { ProviderError } from '../src/errors.js';
import { CATALOG, catalogInfo } from './_shared/catalog.js';
import { errorFromStatus } from './_shared/errors.js';
import { lazyPeer } from './_shared/lazy.js';
import { chatCompletionsModel, clientHandle, type ApiErrorLike, type ErrorContext, type OpenAIChatClient } from './_shared/openai-chat.js';
import { resolveApiKey, withKeyCopies, type ModelSettings, type ProviderSettings } from './_shared/settings.js';

export type { OpenAIChatClient } from './_shared/openai-chat.js';

const API_KEY_ENV = 'PERPLEXITY_API_KEY';
const API_KEY_HINT = `Check the \`apiKey\` option or the ${API_KEY_ENV} environment variable.`;
/** Perplexity's API root (the SDK appends `/chat/completions`). */
export const PERPLEXITY_BASE_URL = 'https://api.perplexity.ai';

const loadOpenAI = /*@__PURE__*/ lazyPeer('openai', 'duh/adapters/perplexity', () => import('openai'));

/** Settings of {@link createPerplexity}. */
export interface PerplexityProviderSettings extends ProviderSettings<OpenAIChatClient> {
  /**
   * The request field that caps the answer's length. duh sends `max_completion_tokens` (as the OpenAI SDK does);
   * switch to `max_tokens` if Perplexity stops honouring it.
   * @default 'max_completion_tokens'
   */
  maxTokensParam?: 'max_completion_tokens' | 'max_tokens';
}

/** A Perplexity provider: call it with a model id to get a {@link ModelAdapter}. */
export interface PerplexityProvider {
  (modelId: string, settings?: ModelSettings): ModelAdapter;
  /** The model ids of duh's catalog for Perplexity. */
  models(): string[];
}

/** What a Perplexity answer cites, as kept in `providerMetadata.perplexity`. */
export interface PerplexityMetadata {
  /** The URLs the answer's `[1]`, `[2]`, ... markers refer to, in order. */
  citations: string[];
  /** Perplexity's `search_results` (title, url, date, ...), when it sent them. */
  searchResults?: Record<string, unknown>[];
  /** Perplexity's own cost figure for the call in US dollars (`usage.cost.total_cost`, including its per-request fee), when sent. */
  costUsd?: number;
}

/** Citations and search results of a Perplexity response or stream chunk. */
export function perplexityMetadata(payload: Record<string, unknown>): Partial<PerplexityMetadata> | undefined {
  const out: Partial<PerplexityMetadata> = {};
  const results = Array.isArray(payload['search_results'])
    ? payload['search_results'].filter((item): item is Record<string, unknown> => typeof item === 'object' && item !== null)
    : undefined;
  if (Array.isArray(payload['citations'])) out.citations = payload['citations'].filter((url): url is string => typeof url === 'string');
  else if (results) out.citations = results.map((result) => result['url']).filter((url): url is string => typeof url === 'string');
  if (results) out.searchResults = results;
  const usage = payload['usage'];
  const cost = typeof usage === 'object' && usage !== null ? (usage as Record<string, unknown>)['cost'] : undefined;
  const total = typeof cost === 'object' && cost !== null ? (cost as Record<string, unknown>)['total_cost'] : undefined;
  if (typeof total === 'number' && Number.isFinite(total)) out.costUsd = total;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Perplexity answers an unknown model with HTTP 400 `invalid_model`: report it as model-not-found. */
function mapPerplexityError(error: ApiErrorLike, context: ErrorContext): ProviderError | undefined {
  const body = typeof error.error === 'object' && error.error !== null ? (error.error as Record<string, unknown>) : {};
  if (error.status === 400 && (error.type === 'invalid_model' || body['type'] === 'invalid_model')) {
    const known = Object.keys(CATALOG['perplexity'] ?? {}).join(', ');
    return errorFromStatus(context.fields, 400, `${context.detail} Known Perplexity models: ${known}.`, { headers: context.headers, cause: error, kind: 'model-not-found' });
  }
  return undefined;
}

/**
 * Create a Perplexity provider.
 *
 * @example
 * ```ts
 * const perplexity = createPerplexity({ apiKey: process.env.PPLX_KEY });
 * const model = perplexity('sonar-pro');
 * ```
 */
export function createPerplexity(settings: PerplexityProviderSettings = {}): PerplexityProvider {
  const client = clientHandle({
    settings,
    load: loadOpenAI,
    apiKey: () => resolveApiKey(settings.apiKey, API_KEY_ENV, 'Perplexity'),
    baseURL: settings.baseURL ?? PERPLEXITY_BASE_URL,
    // Never forward OpenAI's organization/project (from OPENAI_ORG_ID/OPENAI_PROJECT_ID) to Perplexity.
    extra: { organization: null, project: null },
  });
  const maxTokensParam = settings.maxTokensParam ?? 'max_completion_tokens';
  const provider = (modelId: string, modelSettings: ModelSettings = {}): ModelAdapter => {
    const adapter = chatCompletionsModel({
      provider: 'perplexity',
      modelId,
      // The catalog's unknown-model defaults for Perplexity are challenger-only too.
      info: catalogInfo('perplexity', modelId, { ...settings.models?.[modelId], ...modelSettings.info }),
      client,
      optionsKey: 'perplexity',
      apiKeyHint: API_KEY_HINT,
      // Perplexity's structured output takes only a JSON schema: JSON mode relies on the prompt (which asks for JSON).
      dialect: () => ({ maxTokensParam, temperature: true, stop: true, systemRole: 'system', jsonMode: 'prompt' }),
      // Perplexity sends usage on every chunk without being asked.
      streamUsage: false,
      requireUsage: false,
      // sonar-reasoning(-pro) and sonar-deep-research put their reasoning in the answer as <think>…</think>.
      stripThinking: true,
      metadata: (payload) => perplexityMetadata(payload),
      mapApiError: mapPerplexityError,
      // Sonar's chat completions have no tool calling (Perplexity answers `tools` with HTTP 400): fail before sending.
      supportsTools: false,
    });
    return withKeyCopies(adapter, settings, (keyed) => createPerplexity(keyed)(modelId, modelSettings));
  };
  return Object.assign(provider, { models: () => Object.keys(CATALOG['perplexity'] ?? {}) });
}

/** The default Perplexity provider (`PERPLEXITY_API_KEY`, `https://api.perplexity.ai`). */
export const perplexity: PerplexityProvider = /*@__PURE__*/ createPerplexity();
