// Built-artifact checks: the exports map and the build entries agree, every subpath loads in ESM and CJS,
// and the core bundle pulls in nothing heavy. `npm test` builds before running these.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { entries } from '../../tsdown.config.js';

const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { import: { types: string; default: string }; require: { types: string; default: string } }>;
  bin: Record<string, string>;
  main: string;
  types: string;
  sideEffects: boolean;
  engines: { node: string };
  dependencies: Record<string, string>;
};
const BIN_ONLY = new Set(['cli']);
const subpathOf = (entry: string) => (entry === 'index' ? '.' : `./${entry}`);

describe('package exports', () => {
  it('has one export per public build entry and one build entry per export', () => {
    const fromEntries = Object.keys(entries).filter((entry) => !BIN_ONLY.has(entry)).map(subpathOf).sort();
    const fromExports = Object.keys(pkg.exports).filter((subpath) => subpath !== './package.json').sort();
    expect(fromExports).toEqual(fromEntries);
  });

  it('points every export at built files that exist', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') {
        expect(existsSync(join(root, target)), `${subpath} -> ${target}`).toBe(true);
        continue;
      }
      for (const file of [target.import.types, target.import.default, target.require.types, target.require.default]) {
        expect(existsSync(join(root, file)), `${subpath} -> ${file}`).toBe(true);
      }
    }
    expect(existsSync(join(root, pkg.main))).toBe(true);
    expect(existsSync(join(root, pkg.types))).toBe(true);
  });

  it('ships the duh bin with a shebang', () => {
    const bin = join(root, pkg.bin['duh']!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('is ESM-first, side-effect free and needs Node >= 22.13', () => {
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.engines.node).toBe('>=22.13');
  });

  it('loads every subpath in ESM and CJS with the same exports', async () => {
    const require = createRequire(join(root, 'package.json'));
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      const esm = (await import(pathToFileURL(join(root, target.import.default)).href)) as Record<string, unknown>;
      const cjs = require(join(root, target.require.default)) as Record<string, unknown>;
      expect(Object.keys(esm).sort(), subpath).toEqual(Object.keys(cjs).sort());
      expect(Object.keys(esm).length, subpath).toBeGreaterThan(0);
    }
  });

  it('recognises errors across the ESM and CJS copies (Symbol.for marker)', async () => {
    const require = createRequire(join(root, 'package.json'));
    const esm = (await import(pathToFileURL(join(root, 'dist/index.mjs')).href)) as typeof import('../../src/index.js');
    const cjs = require(join(root, 'dist/index.cjs')) as typeof import('../../src/index.js');
    const error = new cjs.InvalidOptionError('rounds', 0, 'bad');
    expect(error instanceof esm.InvalidOptionError).toBe(false);
    expect(esm.InvalidOptionError.isInstance(error)).toBe(true);
    expect(esm.DuhError.isInstance(error)).toBe(true);
    expect(esm.ProviderError.isInstance(error)).toBe(false);
  });
});

/** Every file the ESM core entry reaches through static imports, and every bare specifier it imports. */
function graph(entry: string) {
  const files = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g)) {
      const specifier = match[1] ?? match[2]!;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else bare.add(specifier);
    }
  };
  visit(join(root, entry));
  return { files, bare };
}

describe('core bundle', () => {
  it('imports no package and no Node builtin at all (no SDK, driver, zod or fetch client at import)', () => {
    const { bare } = graph('dist/index.mjs');
    expect([...bare]).toEqual([]);
  });

  it('contains none of the things that must stay out of the core', () => {
    const { files } = graph('dist/index.mjs');
    const source = [...files].map((file) => readFileSync(file, 'utf8')).join('\n');
    // Module specifiers, quoted as an import would quote them (prose and JSDoc examples may mention the names).
    for (const name of ['openai', '@anthropic-ai/sdk', '@google/genai', '@mistralai/mistralai', 'ioredis', 'pg', 'node:sqlite', 'zod', 'ky', 'eventsource-parser']) {
      expect(new RegExp(`["']${name.replace(/[/.]/g, '\\$&')}["']`).test(source), name).toBe(false);
    }
    // Test doubles and the CLI stay out of the core.
    for (const identifier of ['class MockAdapter', 'function demoPanel', 'parseArgs']) {
      expect(source.includes(identifier), identifier).toBe(false);
    }
  });
});

describe('adapter bundles', () => {
  const PEERS: Record<string, string | undefined> = {
    openai: 'openai',
    perplexity: 'openai',
    'openai-compatible': 'openai',
    anthropic: '@anthropic-ai/sdk',
    google: '@google/genai',
    mistral: '@mistralai/mistralai',
    'ai-sdk': undefined, // types only: no runtime import at all
  };

  it('load their SDK only through a lazy import(), and declare it as an optional peer', () => {
    const manifest = pkg as unknown as { peerDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional: boolean }> };
    for (const [name, peer] of Object.entries(PEERS)) {
      const { files, bare } = graph(`dist/adapters/${name}.mjs`);
      expect([...bare], name).toEqual([]);
      // Comments may show `import('openai')` as an example; only code counts.
      const source = [...files].map((file) => readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')).join('\n');
      const dynamic = [...new Set([...source.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)].map((match) => match[1]))];
      expect(dynamic, name).toEqual(peer ? [peer] : []);
      if (peer) expect(manifest.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
    }
  });
});
