import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Examples import the package by name; inside the repo that means the sources (as in tsconfig `paths`).
    alias: [
      { find: /^duh$/, replacement: source('./src/index.ts') },
      { find: /^duh\/testing$/, replacement: source('./src/testing/index.ts') },
      { find: /^duh\/storage\/([a-z]+)$/, replacement: source('./storage/$1.ts') },
      { find: /^duh\/limiter\/([a-z]+)$/, replacement: source('./limiter/$1.ts') },
      { find: /^duh\/identity$/, replacement: source('./src/identity/index.ts') },
      { find: /^duh\/adapters\/([a-z-]+)$/, replacement: source('./adapters/$1.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
  },
});
