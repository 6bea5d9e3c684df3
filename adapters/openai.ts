/**
 * `duh/adapters/openai`: OpenAI chat models (`gpt-5.2`, `gpt-5-mini`, `o3`, ...) through the official `openai`
 * SDK, which is an optional peer dependency loaded on a member's first call.
 *
 * ```ts
 * import { Consensus } from 'duh';
 * import { openai } from 'duh/adapters/openai';
 * const duh = new Consensus({ models: [openai('gpt-5.2'), openai('o3')] });
 * ```
 *
 * The API key comes from the `apiKey` setting or the `OPENAI_API_KEY` environment variable, read on first use.
 * Reasoning models (o-series, `gpt-5`, `gpt-5-mini`, `gpt-5-nano`, `*-pro`) get no `temperature` and no `stop`,
 * and their system prompt is sent as a `developer` message. Tools go out as `tools` / `tool_choice`, and the
 * model's calls come back as `toolCalls` (streamed argument fragments assembled). See docs/adapters/openai.md.
 *
 * @module
 */
import type { GenerateRequest, ModelAdapter } from '../src/adapter.js';
import { ProviderError } from '../src/errors.js';
import { CATALOG, catalogInfo } from './_shared/catalog.js';
import { errorFromStatus, header } from './_shared/errors.js';
import { lazyPeer } from './_shared/lazy.js';
import { chatCompletionsModel, clientHandle, type ApiErrorLike, type ChatDialect, type ErrorContext, type OpenAIChatClient } from './_shared/openai-chat.js';
import { resolveApiKey, withKeyCopies, type ModelSettings, type ProviderSettings } from './_shared/settings.js';

export type { OpenAIChatClient } from './_shared/openai-chat.js';

const API_KEY_ENV = 'OPENAI_API_KEY';
const API_KEY_HINT = `Check the \`apiKey\` option or the ${API_KEY_ENV} environment variable.`;

const loadOpenAI = /*@__PURE__*/ lazyPeer('openai', 'duh/adapters/openai', () => import('openai'));

/** Settings of {@link createOpenAI}. */
export interface OpenAIProviderSettings extends ProviderSettings<OpenAIChatClient> {
  /** OpenAI organization id (`OpenAI-Organization` header). Defaults to the SDK's `OPENAI_ORG_ID`. */
  organization?: string;
  /** OpenAI project id (`OpenAI-Project` header). Defaults to the SDK's `OPENAI_PROJECT_ID`. */
  project?: string;
}

/** Per-model settings of an OpenAI model. */
export interface OpenAIModelSettings extends ModelSettings {
  /**
   * Treat the model as a reasoning model: omit `temperature` and `stop`, and send system prompts as `developer`
   * messages. Defaults from the model id (see {@link isOpenAIReasoningModel}).
   */
  reasoning?: boolean;
}

/** An OpenAI provider: call it with a model id to get a {@link ModelAdapter}. */
export interface OpenAIProvider {
  (modelId: string, settings?: OpenAIModelSettings): ModelAdapter;
  /** The model ids of duh's catalog for OpenAI (any other id works too, with zero prices unless you set them). */
  models(): string[];
}

/**
 * Whether an OpenAI model id names a reasoning model, which rejects `temperature` (and `stop`): the o-series
 * (`o1`, `o3`, `o3-mini`, `o4-mini`, ...), `gpt-5`, `gpt-5-mini`, `gpt-5-nano` (and other `gpt-5-*` except
 * `gpt-5-chat-*`), dated snapshots of these, and `gpt-5.x-pro`/`-codex`. `gpt-5.1` and later default to no
 * reasoning and accept `temperature` unless a `reasoning_effort` other than `none` is passed in `providerOptions`.
 */
export function isOpenAIReasoningModel(modelId: string): boolean {
  const id = modelId.toLowerCase();
  if (/^o\d/.test(id)) return true;
  if (/^gpt-5(-(?!chat)[a-z0-9.-]+)?$/.test(id)) return true;
  return /^gpt-5\.\d+-(pro|codex)/.test(id);
}

/** o1-mini and o1-preview take neither system nor developer messages: their system prompt joins the first user message. */
const NO_SYSTEM_ROLE = /^o1-(mini|preview)/;

/**
 * Map OpenAI's error codes to helpful errors: an exhausted quota (`insufficient_quota`, HTTP 429) is not worth
 * retrying, and a parameter a model rejects names the setting that fixes it.
 */
function mapOpenAIError(error: ApiErrorLike, context: ErrorContext): ProviderError | undefined {
  const body = typeof error.error === 'object' && error.error !== null ? (error.error as Record<string, unknown>) : {};
  const code = error.code ?? body['code'];
  if (error.status === 429 && code === 'insufficient_quota') {
    const requestId = header(context.headers, 'x-request-id');
    return new ProviderError(
      { ...context.fields, status: 429, kind: 'rate-limit', retryable: false, ...(requestId ? { requestId } : {}) },
      `HTTP 429: ${context.detail} The account's quota is used up: check the plan and billing details; retrying will not help.`,
      { cause: error },
    );
  }
  if (error.status === 400 && (error.param === 'temperature' || error.param === 'stop')) {
    return errorFromStatus(context.fields, 400, `${context.detail} Pass \`{ reasoning: true }\` as this model's settings to omit \`${error.param}\`.`, {
      headers: context.headers,
      cause: error,
    });
  }
  return undefined;
}

/**
 * Create an OpenAI provider.
 *
 * @example
 * ```ts
 * const openai = createOpenAI({ apiKey: process.env.MY_OPENAI_KEY, models: { 'gpt-5.2': { outputPricePerMTok: 12 } } });
 * const model = openai('gpt-5.2');
 * ```
 */
export function createOpenAI(settings: OpenAIProviderSettings = {}): OpenAIProvider {
  const client = clientHandle({
    settings,
    load: loadOpenAI,
    apiKey: () => resolveApiKey(settings.apiKey, API_KEY_ENV, 'OpenAI'),
    baseURL: settings.baseURL,
    extra: {
      ...(settings.organization !== undefined ? { organization: settings.organization } : {}),
      ...(settings.project !== undefined ? { project: settings.project } : {}),
    },
  });
  const provider = (modelId: string, modelSettings: OpenAIModelSettings = {}): ModelAdapter => {
    const info = catalogInfo('openai', modelId, { ...settings.models?.[modelId], ...modelSettings.info });
    const dialect = (request: GenerateRequest): ChatDialect => {
      const effort = request.providerOptions?.['openai']?.['reasoning_effort'];
      const reasoning = modelSettings.reasoning ?? (isOpenAIReasoningModel(modelId) || (typeof effort === 'string' && effort !== 'none'));
      return {
        maxTokensParam: 'max_completion_tokens',
        temperature: !reasoning,
        stop: !reasoning,
        systemRole: NO_SYSTEM_ROLE.test(modelId) ? 'user' : reasoning ? 'developer' : 'system',
        jsonMode: 'json_object',
        // A tool-calls-only assistant message goes back as OpenAI sent it: `content: null`.
        toolCallContent: 'null',
      };
    };
    const adapter = chatCompletionsModel({
      provider: 'openai',
      modelId,
      info,
      client,
      optionsKey: 'openai',
      apiKeyHint: API_KEY_HINT,
      dialect,
      streamUsage: true,
      requireUsage: true,
      mapApiError: mapOpenAIError,
    });
    return withKeyCopies(adapter, settings, (keyed) => createOpenAI(keyed)(modelId, modelSettings));
  };
  return Object.assign(provider, { models: () => Object.keys(CATALOG['openai'] ?? {}) });
}

/** The default OpenAI provider (`OPENAI_API_KEY`, `https://api.openai.com/v1`). */
export const openai: OpenAIProvider = /*@__PURE__*/ createOpenAI();
