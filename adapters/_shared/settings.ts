/**
 * Settings every built-in adapter factory accepts, and how API keys are found.
 *
 * @module
 */
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
  /** A ready SDK client (Azure, Vertex, proxies, tests). When given, `apiKey`, `baseURL`, `headers` and `fetch` are not used. */
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
