/**
 * The CLI's storage: `--storage` or `DUH_STORAGE`, one of `memory`, `sqlite:<path>` (default `sqlite:./duh.db`)
 * or a `postgres://` URL (in the schema `DUH_PG_SCHEMA`, default `duh`). Drivers load only when chosen.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import type { StorageDriver } from '../storage.js';
import { memoryStorage } from '../../storage/memory.js';

/** The storage used when neither `--storage` nor `DUH_STORAGE` is given. */
export const DEFAULT_STORAGE = 'sqlite:./duh.db';

/** Open the storage a spec names. */
export async function openStorage(spec: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<StorageDriver> {
  const chosen = (spec ?? env['DUH_STORAGE'] ?? DEFAULT_STORAGE).trim();
  if (chosen === 'memory') return memoryStorage();
  if (chosen.startsWith('sqlite:')) {
    const path = chosen.slice('sqlite:'.length) || './duh.db';
    const { sqliteStorage } = await import('../../storage/sqlite.js');
    return sqliteStorage({ path });
  }
  if (chosen.startsWith('postgres://') || chosen.startsWith('postgresql://')) {
    const { postgresStorage } = await import('../../storage/postgres.js');
    const schema = env['DUH_PG_SCHEMA']?.trim();
    return postgresStorage({ connectionString: chosen, ...(schema ? { schema } : {}) });
  }
  throw new InvalidOptionError(
    'storage',
    chosen.replace(/\/\/[^@/]*@/, '//[redacted]@'),
    'The storage must be `memory`, `sqlite:<path>` (e.g. sqlite:./duh.db) or a postgres:// URL; set it with --storage or DUH_STORAGE.',
  );
}
