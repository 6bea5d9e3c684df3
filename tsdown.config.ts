import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsdown';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * One entry per public subpath. `test/package/exports.test.ts` checks that these entries and the `exports`
 * map in package.json agree, so a new plug-in cannot be built without being exported (or the reverse).
 */
export const entries = {
  index: 'src/index.ts',
  testing: 'src/testing/index.ts',
  'storage/memory': 'storage/memory.ts',
  'storage/sqlite': 'storage/sqlite.ts',
  'storage/postgres': 'storage/postgres.ts',
  'limiter/memory': 'limiter/memory.ts',
  'limiter/redis': 'limiter/redis.ts',
  identity: 'src/identity/index.ts',
  'adapters/openai': 'adapters/openai.ts',
  'adapters/anthropic': 'adapters/anthropic.ts',
  'adapters/google': 'adapters/google.ts',
  'adapters/mistral': 'adapters/mistral.ts',
  'adapters/perplexity': 'adapters/perplexity.ts',
  'adapters/openai-compatible': 'adapters/openai-compatible.ts',
  'adapters/ai-sdk': 'adapters/ai-sdk.ts',
  /** The `duh` bin; not a subpath export. */
  cli: 'src/cli/main.ts',
} as const;

export default defineConfig({
  entry: entries,
  format: ['esm', 'cjs'],
  dts: true,
  platform: 'node',
  target: 'node22',
  sourcemap: false,
  clean: true,
  outDir: 'dist',
  define: { __DUH_VERSION__: JSON.stringify(version) },
});
