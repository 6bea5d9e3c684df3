/**
 * `duh/adapters/openai-compatible`: any server that speaks the OpenAI chat-completions API (Ollama, LM Studio,
 * vLLM, llama.cpp's server, LiteLLM, OpenRouter, ...), through the official `openai` SDK (an optional peer
 * dependency, loaded on a member's first call).
 *
 * Each provider instance has its own provider id (`name`), so a local server can sit beside cloud OpenAI in one
 * `Consensus`. Models are free unless you give prices, marked `local` when the server runs on this machine, and
 * can be discovered with `listModels()` (`GET {baseURL}/models`). Tools are passed in OpenAI's format, which
 * Ollama, vLLM, LM Studio and LiteLLM accept (whether a model calls them depends on the model and server).
 *
 * ```ts
 * import { Consensus } from 'duh';
 * import { createOpenAICompatible } from 'duh/adapters/openai-compatible';
 * const ollama = createOpenAICompatible({ name: 'ollama', baseURL: 'http://localhost:11434/v1' });
 * const models = (await ollama.listModels()).map((info) => ollama(info.modelId));
 * const duh = new Consensus({ models });
 * ```
 *
 * See docs/adapters/openai-compatible.md.
 *
 * @module
 */
import type { ModelAdapter, ModelInfo } from '../src/adapter.js';
import { InvalidOptionError } from '../src/errors.js';
import { catalogInfo, UNKNOWN_MODEL, type CatalogEntry, type ModelOverrides } from './_shared/catalog.js';
import { lazyPeer } from './_shared/lazy.js';
import { chatCompletionsModel, clientHandle, mapFailure, type ChatModelConfig, type OpenAIChatClient } from './_shared/openai-chat.js';
import { resolveApiKey, withKeyCopies, type ModelSettings, type ProviderSettings } from './_shared/settings.js';

export type { OpenAIChatClient } from './_shared/openai-chat.js';

const loadOpenAI = /*@__PURE__*/ lazyPeer('openai', 'duh/adapters/openai-compatible', () => import('openai'));

/** Settings of {@link createOpenAICompatible}. */
export interface OpenAICompatibleSettings extends ProviderSettings<OpenAIChatClient> {
  /** Provider id used in model refs (`ollama` → `ollama:llama3.1:8b`); must be distinct per server, without `:`. */
  name: string;
  /** The server's OpenAI-compatible API root, e.g. `http://localhost:11434/v1` (Ollama) or `http://localhost:1234/v1` (LM Studio). */
  baseURL: string;
  /** API key. Optional: without it (and without `apiKeyEnv`) no `Authorization` header is sent. */
  apiKey?: string;
  /** Environment variable to read the API key from on first use (e.g. `OPENROUTER_API_KEY`); missing → an error. */
  apiKeyEnv?: string;
  /**
   * Mark every model of this server as local (free and private). Defaults to true when the `baseURL` host is
   * `localhost`, `127.x.x.x` or `::1`.
   */
  local?: boolean;
  /**
   * The request field that caps the answer's length: `max_tokens` (understood by Ollama, LM Studio, vLLM,
   * llama.cpp) or `max_completion_tokens` (OpenAI's current name).
   * @default 'max_tokens'
   */
  maxTokensParam?: 'max_tokens' | 'max_completion_tokens';
  /**
   * How to ask for JSON: `response_format: { type: 'json_object' }`, or the prompt alone (for servers that
   * reject `response_format`).
   * @default 'json_object'
   */
  jsonMode?: 'json_object' | 'prompt';
}

/** A provider over one OpenAI-compatible server: call it with a model id to get a {@link ModelAdapter}. */
export interface OpenAICompatibleProvider {
  (modelId: string, settings?: ModelSettings): ModelAdapter;
  /** The provider id (`name`) of this server's models. */
  readonly provider: string;
  /**
   * Ask the server which models it serves (`GET {baseURL}/models`) and return their catalog facts (zero
   * prices unless set in `models`), ready to build members: `(await p.listModels()).map((i) => p(i.modelId))`.
   */
  listModels(options?: { signal?: AbortSignal }): Promise<ModelInfo[]>;
}

/** True when a base URL points at this machine (`localhost`, `*.localhost`, `127.x.x.x`, `::1`, `0.0.0.0`). */
export function isLocalBaseURL(baseURL: string): boolean {
  let host: string;
  try {
    host = new URL(baseURL).hostname.toLowerCase();
  } catch {
    return false;
  }
  host = host.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(host) || host === '::1' || host === '0.0.0.0';
}

/** What duh assumes about a model of an OpenAI-compatible server: free, proposer-eligible, 4,096 output tokens. */
const COMPATIBLE_DEFAULTS: Omit<CatalogEntry, 'displayName'> = { ...UNKNOWN_MODEL['openai']!, contextWindow: 128_000, inputPricePerMTok: 0, outputPricePerMTok: 0 };

/**
 * Create a provider for an OpenAI-compatible server.
 *
 * @example
 * ```ts
 * const lmstudio = createOpenAICompatible({ name: 'lmstudio', baseURL: 'http://localhost:1234/v1' });
 * const router = createOpenAICompatible({
 *   name: 'openrouter', baseURL: 'https://openrouter.ai/api/v1', apiKeyEnv: 'OPENROUTER_API_KEY',
 *   maxTokensParam: 'max_completion_tokens',
 *   models: { 'anthropic/claude-sonnet-4.5': { inputPricePerMTok: 3, outputPricePerMTok: 15 } },
 * });
 * ```
 */
export function createOpenAICompatible(settings: OpenAICompatibleSettings): OpenAICompatibleProvider {
  const { name, baseURL } = settings ?? ({} as Partial<OpenAICompatibleSettings>);
  if (typeof name !== 'string' || !name || name.includes(':')) {
    throw new InvalidOptionError('name', name, 'createOpenAICompatible() needs a `name`: the provider id of this server, without ":" (e.g. `name: \'ollama\'`).');
  }
  if (typeof baseURL !== 'string' || !/^https?:\/\//i.test(baseURL)) {
    throw new InvalidOptionError('baseURL', baseURL, `createOpenAICompatible({ name: '${name}' }) needs a \`baseURL\` starting with http:// or https:// (e.g. 'http://localhost:11434/v1' for Ollama).`);
  }
  const root = baseURL.replace(/\/+$/, '');
  const local = settings.local ?? isLocalBaseURL(root);
  const apiKeyHint = settings.apiKeyEnv
    ? `Check the \`apiKey\` option or the ${settings.apiKeyEnv} environment variable.`
    : `Pass the server's key with the \`apiKey\` (or \`apiKeyEnv\`) option of createOpenAICompatible({ name: '${name}' }).`;
  const client = clientHandle({
    settings,
    load: loadOpenAI,
    apiKey: () => settings.apiKey ?? (settings.apiKeyEnv ? resolveApiKey(undefined, settings.apiKeyEnv, name) : undefined),
    baseURL: root,
    extra: { organization: null, project: null },
  });
  const infoOf = (modelId: string, overrides: ModelOverrides = {}): ModelInfo =>
    catalogInfo(name, modelId, { ...(local ? { local: true } : {}), ...settings.models?.[modelId], ...overrides }, COMPATIBLE_DEFAULTS);
  const maxTokensParam = settings.maxTokensParam ?? 'max_tokens';
  const jsonMode = settings.jsonMode ?? 'json_object';
  const configOf = (modelId: string, info: ModelInfo): ChatModelConfig => ({
    provider: name,
    modelId,
    info,
    client,
    optionsKey: name,
    apiKeyHint,
    // A tool-calls-only assistant message gets `content: ''`: some Ollama releases reject `null` there.
    dialect: () => ({ maxTokensParam, temperature: true, stop: true, systemRole: 'system', jsonMode, toolCallContent: 'empty' }),
    // Ask for the usage chunk, but do not insist on it: not every server sends one.
    streamUsage: true,
    requireUsage: false,
    networkHint: `Is the server running at ${root}?`,
  });
  const provider = (modelId: string, modelSettings: ModelSettings = {}): ModelAdapter =>
    withKeyCopies(chatCompletionsModel(configOf(modelId, infoOf(modelId, modelSettings.info))), settings, (keyed) => createOpenAICompatible(keyed)(modelId, modelSettings));

  async function listModels(options: { signal?: AbortSignal } = {}): Promise<ModelInfo[]> {
    const { signal } = options;
    const sdk = await client.get();
    const list = sdk.models?.list as unknown as ((options: { signal?: AbortSignal }) => PromiseLike<unknown>) | undefined;
    if (!sdk.models || typeof list !== 'function') {
      throw new InvalidOptionError('client', settings.client, `The \`client\` passed to createOpenAICompatible({ name: '${name}' }) has no \`models.list()\`, so models cannot be discovered.`);
    }
    let page: unknown;
    try {
      page = await list.call(sdk.models, signal ? { signal } : {});
    } catch (error) {
      throw mapFailure(configOf('/models', infoOf('/models')), error, signal, '');
    }
    const data = typeof page === 'object' && page !== null ? (page as { data?: unknown }).data : undefined;
    const ids = Array.isArray(data) ? data.map((item) => (item as { id?: unknown } | null)?.id).filter((id): id is string => typeof id === 'string' && id !== '') : [];
    return [...new Set(ids)].map((id) => infoOf(id));
  }

  return Object.assign(provider, { provider: name, listModels });
}
