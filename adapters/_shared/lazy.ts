/**
 * Lazy loading of optional peer dependencies (vendor SDKs): imported on a member's first call, once per process.
 *
 * @module
 */
import { MissingDependencyError } from '../../src/errors.js';

/**
 * Wrap a dynamic `import()` so it runs once, on first use, and fails with a {@link MissingDependencyError} that
 * names the package when it is not installed. Pass the import as a literal (`() => import('openai')`) so
 * bundlers can see it.
 */
export function lazyPeer<T>(packageName: string, usedBy: string, load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined; // let a later call retry (e.g. after installing)
      const code = (error as { code?: string } | null)?.code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
        throw new MissingDependencyError(packageName, usedBy, 'pass a ready client with the `client` option', { cause: error });
      }
      throw error;
    });
    return loading;
  };
}
