/**
 * Which models the CLI runs on. Provider adapters (`duh/adapters/*`) plug in here; until a key for a provider
 * with an adapter is found, the CLI runs the offline demo on scripted models and says so.
 *
 * @module
 */
import type { ModelAdapter } from '../adapter.js';
import { demoPanel, type DemoPanelOptions } from '../testing/demo-panel.js';

/** The environment variables that hold provider keys (duh's names). */
export const PROVIDER_KEY_VARIABLES = ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GOOGLE_API_KEY', 'MISTRAL_API_KEY', 'PERPLEXITY_API_KEY'] as const;

/** The models to run on, and what to tell the user about them. */
export interface ModelSelection {
  models: ModelAdapter[];
  /** True when the models are scripted (nothing is called or billed). */
  demo: boolean;
  /** One line explaining the choice. */
  notice: string;
}

/**
 * Pick the CLI's models from the environment. Only the variable *names* are read here; key values never leave
 * the environment.
 */
export function selectModels(env: Readonly<Record<string, string | undefined>>, options: { demo: boolean; demoPanel?: DemoPanelOptions }): ModelSelection {
  const models = demoPanel(options.demoPanel);
  if (options.demo) return { models, demo: true, notice: 'Offline demo: scripted models (--demo); no provider is called and nothing is billed.' };
  const found = PROVIDER_KEY_VARIABLES.filter((name) => (env[name] ?? '').trim() !== '');
  if (found.length === 0) {
    return {
      models,
      demo: true,
      notice: `Offline demo: no provider key is set (${PROVIDER_KEY_VARIABLES.join(', ')}), so duh runs on scripted models; nothing is billed.`,
    };
  }
  return {
    models,
    demo: true,
    notice:
      `Offline demo: found ${found.join(', ')}, but this release ships no provider adapters yet (they arrive as duh/adapters/*), ` +
      'so duh runs on scripted models; nothing is called or billed.',
  };
}
