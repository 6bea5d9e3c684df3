/**
 * Which models the CLI runs on: every catalog model of each provider whose API key is set (as duh does), or
 * the offline demo on scripted models when no key is set or `--demo` is given.
 *
 * @module
 */
import { createAnthropic } from '../../adapters/anthropic.js';
import { createGoogle } from '../../adapters/google.js';
import { createMistral } from '../../adapters/mistral.js';
import { createOpenAI } from '../../adapters/openai.js';
import { createPerplexity } from '../../adapters/perplexity.js';
import type { ModelAdapter } from '../adapter.js';
import { demoPanel, type DemoPanelOptions } from '../testing/demo-panel.js';

/** A provider the CLI can use, the environment variables that enable it, and how to build it with a key. */
interface CliProvider {
  name: string;
  variables: readonly string[];
  create: (apiKey: string) => { (modelId: string): ModelAdapter; models(): string[] };
}

/** Providers in duh's registration order (which breaks price ties in selection). */
const PROVIDERS: readonly CliProvider[] = [
  { name: 'anthropic', variables: ['ANTHROPIC_API_KEY'], create: (apiKey) => createAnthropic({ apiKey }) },
  { name: 'openai', variables: ['OPENAI_API_KEY'], create: (apiKey) => createOpenAI({ apiKey }) },
  { name: 'google', variables: ['GOOGLE_API_KEY', 'GEMINI_API_KEY'], create: (apiKey) => createGoogle({ apiKey }) },
  { name: 'mistral', variables: ['MISTRAL_API_KEY'], create: (apiKey) => createMistral({ apiKey }) },
  { name: 'perplexity', variables: ['PERPLEXITY_API_KEY'], create: (apiKey) => createPerplexity({ apiKey }) },
];

const keyOf = (entry: CliProvider, env: Readonly<Record<string, string | undefined>>) =>
  entry.variables.map((name) => env[name]?.trim()).find((value) => value !== undefined && value !== '');

/** The environment variables that hold provider keys. */
export const PROVIDER_KEY_VARIABLES: readonly string[] = PROVIDERS.flatMap((entry) => entry.variables);

/** The models to run on, and what to tell the user about them. */
export interface ModelSelection {
  models: ModelAdapter[];
  /** True when the models are scripted (nothing is called or billed). */
  demo: boolean;
  /** One line explaining the choice. */
  notice: string;
}

/** Pick the CLI's models from the environment. Only the variable *names* are reported, never the values. */
export function selectModels(env: Readonly<Record<string, string | undefined>>, options: { demo: boolean; demoPanel?: DemoPanelOptions }): ModelSelection {
  if (options.demo) {
    return { models: demoPanel(options.demoPanel), demo: true, notice: 'Offline demo: scripted models (--demo); no provider is called and nothing is billed.' };
  }
  const enabled = PROVIDERS.filter((entry) => keyOf(entry, env) !== undefined);
  if (enabled.length === 0) {
    return {
      models: demoPanel(options.demoPanel),
      demo: true,
      notice: `Offline demo: no provider key is set (${PROVIDER_KEY_VARIABLES.join(', ')}), so duh runs on scripted models; nothing is billed.`,
    };
  }
  // Keys go straight from the given environment into each provider (never into output).
  const models = enabled.flatMap((entry) => {
    const provider = entry.create(keyOf(entry, env)!);
    return provider.models().map((modelId) => provider(modelId));
  });
  const found = enabled.flatMap((entry) => entry.variables.filter((name) => (env[name] ?? '').trim() !== ''));
  return {
    models,
    demo: false,
    notice: `Live run on ${enabled.map((entry) => entry.name).join(', ')} (keys from ${found.join(', ')}); provider prices apply.`,
  };
}
