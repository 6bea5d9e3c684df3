/**
 * Settings every built-in adapter factory accepts, and how API keys are found.
 *
 * @module
 */
import { modelRef, type ModelAdapter } from '../../src/adapter.js';
import { InvalidOptionError } from '../../src/errors.js';
import type { ModelOverrides } from './catalog.js';

/** Settings of a `createX()` provider factory. */
export interface ProviderSettings<Client> {
  /** API key; defaults to the provider's usual environment variable, read on first use. */
  apiKey?: string;
  /** Base URL of the API (proxies, gateways, regional endpoints). */
  baseURL?: string;
  /** Extra headers on every request. */
  headers?: Readonly<Record<string, string>>;
  /**
   * A ready SDK client (Azure, Vertex, proxies, tests). When given, `apiKey`, `baseURL`, `headers` and `fetch` are
   * not used. A model's `withApiKey()` copy then uses `client.withOptions({ apiKey })` (the `openai` and
   * `@anthropic-ai/sdk` clients have it); with a client that lacks `withOptions`, `withApiKey()` throws.
   */
  client?: Client;
  /** A `fetch` to use instead of the global one (tests, proxies, tracing). */
  fetch?: typeof globalThis.fetch;
  /** Catalog overrides per model id: prices, limits, proposer eligibility, display name. */
  models?: Readonly<Record<string, ModelOverrides>>;
}

/** Per-model options of a provider (`openai('gpt-5.2', { info: { outputPricePerMTok: 12 } })`). */
export interface ModelSettings {
  /** Catalog overrides for this model (take precedence over the provider's `models` overrides). */
  info?: ModelOverrides;
}

/** Read an environment variable on any runtime (Node, Bun, Deno with permissions, workers without `process`). */
export function env(name: string): string | undefined {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value?.trim() ? value : undefined;
}

/**
 * The API key to use: the `apiKey` setting, else the first environment variable that is set. Throws an
 * `InvalidOptionError` that says where to put the key when none is. Call it on first use, never at import.
 */
export function resolveApiKey(apiKey: string | undefined, envVariables: string | readonly string[], providerName: string): string {
  const names = typeof envVariables === 'string' ? [envVariables] : envVariables;
  let key = apiKey;
  for (const name of names) key ??= env(name);
  if (!key) {
    throw new InvalidOptionError(
      'apiKey',
      undefined,
      `${providerName} API key is missing. Pass it with the \`apiKey\` option or set the ${names.join(' or ')} environment variable.`,
    );
  }
  return key;
}

/** A fetch that looks up `globalThis.fetch` at call time (so msw and other interceptors installed later apply). */
export function lateFetch(custom: typeof globalThis.fetch | undefined): typeof globalThis.fetch {
  return custom ?? ((input, init) => globalThis.fetch(input, init));
}

/**
 * Check a key given to `withApiKey()`: a non-empty string without control characters (a line break would corrupt
 * the HTTP header). The `InvalidOptionError` names `apiKey` and never carries the key itself.
 */
export function checkApiKey(apiKey: unknown, ref: string): string {
  if (typeof apiKey !== 'string' || apiKey.trim() === '') {
    const received = typeof apiKey === 'string' ? 'an empty string' : apiKey === null ? 'null' : typeof apiKey;
    const value = typeof apiKey === 'string' || apiKey === null || apiKey === undefined ? apiKey : undefined;
    throw new InvalidOptionError('apiKey', value, `withApiKey() of \`${ref}\` needs the tenant's API key as a non-empty string, received ${received}.`);
  }
  if (/[\u0000-\u001f\u007f]/.test(apiKey)) {
    throw new InvalidOptionError('apiKey', undefined, `withApiKey() of \`${ref}\` received an API key with a line break or another control character: trim it (the key is not shown here).`);
  }
  return apiKey;
}

/** A ready SDK client that can copy itself with other options, as `openai` and `@anthropic-ai/sdk` clients can. */
interface CopyableClient {
  withOptions(options: { apiKey: string }): unknown;
}

/**
 * The settings of a provider copy that authenticates with `apiKey`, everything else unchanged. A ready `client`
 * is replaced by `client.withOptions({ apiKey })` (its base URL, headers, fetch and other options kept); a client
 * without `withOptions` cannot change keys, so that is an `InvalidOptionError` naming `client` rather than a copy
 * that would silently bill the shared key.
 */
export function settingsWithApiKey<S extends ProviderSettings<unknown>>(settings: S, apiKey: unknown, ref: string): S {
  const key = checkApiKey(apiKey, ref);
  const { client } = settings;
  if (client === undefined) return { ...settings, apiKey: key };
  const withOptions = (client as Partial<CopyableClient> | null)?.withOptions;
  if (typeof withOptions !== 'function') {
    throw new InvalidOptionError(
      'client',
      undefined,
      `\`${ref}\` was made with a ready \`client\` that cannot change its API key (it has no \`withOptions()\`), so withApiKey() cannot give it a tenant's key. ` +
        'Pass `apiKey` (and `baseURL`, `headers`, `fetch` as needed) to the provider factory instead of `client`.',
    );
  }
  return { ...settings, apiKey: key, client: withOptions.call(client, { apiKey: key }) };
}

/**
 * Give a built-in adapter its `withApiKey()`: the same model, made again by `remake` from the provider settings
 * with the tenant's key (see {@link settingsWithApiKey}). The copy gets a provider of its own, so it shares no SDK
 * client with the original and builds its own on its first call. Returns `adapter`.
 */
export function withKeyCopies<S extends ProviderSettings<unknown>>(adapter: ModelAdapter, settings: S, remake: (settings: S) => ModelAdapter): ModelAdapter {
  adapter.withApiKey = (apiKey: string) => remake(settingsWithApiKey(settings, apiKey, modelRef(adapter)));
  return adapter;
}
