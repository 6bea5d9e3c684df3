// Who may import whom (DESIGN.md §3), checked on the sources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function sources(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) out.push(path);
    }
  };
  try {
    walk(join(root, folder));
  } catch {
    // folder not there yet
  }
  return out;
}

/** Relative imports of a file, as repo-relative paths of the .ts files they name; bare specifiers as-is. */
function importsOf(file: string): { local: string[]; bare: string[] } {
  // Comments hold examples (`import ... from 'duh'`) that are not imports.
  const source = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const local: string[] = [];
  const bare: string[] = [];
  for (const match of source.matchAll(/(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const specifier = match[1] ?? match[2]!;
    if (specifier.startsWith('.')) local.push(relative(root, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts'));
    else bare.push(specifier);
  }
  return { local, bare };
}

const CONTRACTS = ['src/adapter.ts', 'src/storage.ts', 'src/events.ts', 'src/errors.ts', 'src/record.ts', 'src/principal.ts', 'src/policy.ts', 'src/limiter.ts', 'src/limiter/bucket.ts'];
const rel = (file: string) => relative(root, file);

describe('import boundaries', () => {
  it('contracts import only other contracts', () => {
    for (const file of CONTRACTS) {
      for (const target of importsOf(join(root, file)).local) expect(CONTRACTS, `${file} imports ${target}`).toContain(target);
    }
  });

  it('the engine never imports the CLI, the test doubles or a plug-in other than the default memory storage and limiter', () => {
    const engine = [...sources('src/engine'), ...sources('src/protocol'), join(root, 'src/consensus.ts'), join(root, 'src/options.ts'), join(root, 'src/stream.ts')];
    for (const file of engine) {
      for (const target of importsOf(file).local) {
        const allowed = target.startsWith('src/') ? !target.startsWith('src/cli/') && !target.startsWith('src/testing/') : target === 'storage/memory.ts' || target === 'limiter/memory.ts';
        expect(allowed, `${rel(file)} imports ${target}`).toBe(true);
      }
    }
  });

  it('storage drivers and adapters import only contracts (and their own optional peer)', () => {
    for (const file of [...sources('storage'), ...sources('adapters'), ...sources('limiter')]) {
      for (const target of importsOf(file).local) {
        const own = target.startsWith(`${rel(file).split('/')[0]}/_shared/`);
        expect(CONTRACTS.includes(target) || own, `${rel(file)} imports ${target}`).toBe(true);
      }
    }
  });

  it('nothing but the CLI imports the CLI', () => {
    for (const file of [...sources('src'), ...sources('storage'), ...sources('adapters')]) {
      if (rel(file).startsWith('src/cli/')) continue;
      for (const target of importsOf(file).local) expect(target.startsWith('src/cli/'), `${rel(file)} imports ${target}`).toBe(false);
    }
  });

  it('the core (src, except the CLI) imports no package at all', () => {
    // The one exception: src/identity/ (the server-side `duh/identity` subpath, never imported by the core) hashes
    // and encrypts with node:crypto and loads the optional peer jose lazily for session tokens. Nothing else.
    const identityPackages = new Set(['node:crypto', 'jose']);
    for (const file of sources('src')) {
      if (rel(file).startsWith('src/cli/')) continue;
      const bare = importsOf(file).bare;
      expect(rel(file).startsWith('src/identity/') ? bare.filter((name) => !identityPackages.has(name)) : bare, rel(file)).toEqual([]);
    }
  });
});
