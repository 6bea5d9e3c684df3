/**
 * The model catalog (duh.md §3.4) as data: ids, context windows, output limits, prices and proposer
 * eligibility. Adapters look their models up here; users override or extend any entry per model.
 *
 * @module
 */
import type { ModelCapability, ModelInfo } from '../../src/adapter.js';

/** Catalog facts for one model, without the provider and id (those come from the adapter). */
export type CatalogEntry = Omit<ModelInfo, 'provider' | 'modelId'>;

/** Per-model overrides a user may pass (`models: { 'gpt-5.2': { outputPricePerMTok: 12 } }`). */
export type ModelOverrides = Partial<CatalogEntry>;

const TEXT: readonly ModelCapability[] = ['text', 'streaming', 'json', 'tools', 'system-prompt'];

const entry = (displayName: string, contextWindow: number, maxOutputTokens: number, input: number, output: number, proposerEligible = true): CatalogEntry => ({
  displayName,
  contextWindow,
  maxOutputTokens,
  inputPricePerMTok: input,
  outputPricePerMTok: output,
  proposerEligible,
  capabilities: TEXT,
});

/** Known models by provider, in duh's catalog order (earlier wins price ties). */
export const CATALOG: Readonly<Record<string, Readonly<Record<string, CatalogEntry>>>> = {
  anthropic: {
    'claude-opus-4-6': entry('Claude Opus 4.6', 200_000, 128_000, 5, 25),
    'claude-sonnet-4-6': entry('Claude Sonnet 4.6', 200_000, 64_000, 3, 15),
    'claude-sonnet-4-5-20250929': entry('Claude Sonnet 4.5', 200_000, 64_000, 3, 15),
    'claude-haiku-4-5-20251001': entry('Claude Haiku 4.5', 200_000, 64_000, 1, 5),
  },
  openai: {
    'gpt-5.2': entry('GPT-5.2', 400_000, 128_000, 1.75, 14),
    'gpt-5-mini': entry('GPT-5 mini', 400_000, 128_000, 0.25, 2),
    o3: entry('o3', 200_000, 100_000, 2, 8),
  },
  google: {
    'gemini-3-pro-preview': entry('Gemini 3 Pro (Preview)', 1_048_576, 65_536, 2, 12),
    'gemini-3-flash-preview': entry('Gemini 3 Flash (Preview)', 1_048_576, 65_536, 0.5, 3),
    'gemini-2.5-pro': entry('Gemini 2.5 Pro', 1_048_576, 65_536, 1.25, 10),
    'gemini-2.5-flash': entry('Gemini 2.5 Flash', 1_048_576, 65_536, 0.3, 2.5),
  },
  mistral: {
    'mistral-large-latest': entry('Mistral Large', 128_000, 32_000, 2, 6),
    'mistral-medium-latest': entry('Mistral Medium', 128_000, 32_000, 2.7, 8.1),
    'mistral-small-latest': entry('Mistral Small', 128_000, 32_000, 0.2, 0.6),
    'codestral-latest': entry('Codestral', 256_000, 32_000, 0.3, 0.9),
  },
  perplexity: {
    sonar: entry('Sonar', 128_000, 8_192, 1, 1, false),
    'sonar-pro': entry('Sonar Pro', 200_000, 8_192, 3, 15, false),
    'sonar-deep-research': entry('Sonar Deep Research', 128_000, 8_192, 2, 8, false),
  },
};

/** What duh assumes about a model the catalog does not know (duh.md §3.3), by provider. */
export const UNKNOWN_MODEL: Readonly<Record<string, Omit<CatalogEntry, 'displayName'>>> = {
  anthropic: { contextWindow: 200_000, maxOutputTokens: 4_096, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: TEXT },
  openai: { contextWindow: 200_000, maxOutputTokens: 4_096, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: TEXT },
  google: { contextWindow: 1_048_576, maxOutputTokens: 8_192, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: TEXT },
  mistral: { contextWindow: 128_000, maxOutputTokens: 4_096, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: true, capabilities: TEXT },
  perplexity: { contextWindow: 128_000, maxOutputTokens: 8_192, inputPricePerMTok: 0, outputPricePerMTok: 0, proposerEligible: false, capabilities: TEXT },
};

/**
 * The catalog facts of `modelId` at `provider`: the catalog entry (or the provider's unknown-model defaults, or
 * `fallback`), then the user's overrides on top.
 */
export function catalogInfo(provider: string, modelId: string, overrides: ModelOverrides = {}, fallback?: Omit<CatalogEntry, 'displayName'>): ModelInfo {
  const known = CATALOG[provider]?.[modelId];
  const base: CatalogEntry = known ?? { displayName: modelId, ...(fallback ?? UNKNOWN_MODEL[provider] ?? UNKNOWN_MODEL['openai']!) };
  return { ...base, ...overrides, provider, modelId };
}
