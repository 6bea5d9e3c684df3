/**
 * API keys: `duh_<keyId>_<secret>`.
 *
 * - `keyId` (16 hex digits) names the key in listings, revocations and the audit log; it is not secret.
 * - `secret` is 32 random bytes, base64url. Only its SHA-256 (hex) is stored; the full key is shown to its
 *   owner once, when created. A fast hash is right here: the secret has 256 bits of entropy, so there is
 *   nothing to brute-force (passwords, which are guessable, use scrypt).
 * - Verification compares hashes in constant time.
 * - Scopes limit what a key may do: `read` (viewer), `ask` (contributor), `admin` (everything the user may do).
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';

/** The prefix every duh API key starts with (so secret scanners and people can recognise one). */
export const API_KEY_PREFIX = 'duh';

/** What a key may be used for. */
export type ApiKeyScope = 'read' | 'ask' | 'admin';

/** Every {@link ApiKeyScope}: `read` lists and reads records, `ask` also runs, `admin` also manages the tenant. */
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['read', 'ask', 'admin'];

/** The scopes a key gets when none are given. */
export const DEFAULT_API_KEY_SCOPES: readonly ApiKeyScope[] = ['ask', 'read'];

/** The highest role each scope lets a key act with (the user's own role still caps it). */
export const SCOPE_ROLE_CAP: Readonly<Record<ApiKeyScope, 'viewer' | 'contributor' | 'admin'>> = Object.freeze({ read: 'viewer', ask: 'contributor', admin: 'admin' });

/** A freshly generated key: the plaintext (show it once) and what to store. */
export interface GeneratedApiKey {
  /** The full key, `duh_<id>_<secret>`. Show it to its owner once; never store or log it. */
  key: string;
  /** The key id (public). */
  id: string;
  /** Hex SHA-256 of the secret part: the only thing stored. */
  secretHash: string;
}

/** The parts of a key string. */
export interface ParsedApiKey {
  id: string;
  secret: string;
}

const KEY_FORMAT = /^duh_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Hex SHA-256 of an API key's secret part. */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Generate a new key: 8 random bytes of id, 32 of secret. */
export function generateApiKey(): GeneratedApiKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { key: `${API_KEY_PREFIX}_${id}_${secret}`, id, secretHash: hashApiKeySecret(secret) };
}

/** Split a key into id and secret, or undefined when it is not shaped like a duh key. */
export function parseApiKey(key: string): ParsedApiKey | undefined {
  if (typeof key !== 'string') return undefined;
  const match = KEY_FORMAT.exec(key.trim());
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** Whether a string looks like a duh API key (not whether it is valid). */
export function isApiKey(value: string): boolean {
  return parseApiKey(value) !== undefined;
}

/** Whether `secret` hashes to `secretHash`, compared in constant time. */
export function verifyApiKeySecret(secret: string, secretHash: string): boolean {
  const actual = Buffer.from(hashApiKeySecret(secret), 'hex');
  const expected = Buffer.from(typeof secretHash === 'string' && /^[0-9a-f]{64}$/.test(secretHash) ? secretHash : '', 'hex');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

/**
 * Check a list of scopes: each one of {@link API_KEY_SCOPES}, no duplicates, at least one.
 *
 * @throws {InvalidOptionError} naming the scope that is wrong
 */
export function validateScopes(scopes: readonly string[]): ApiKeyScope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) throw new InvalidOptionError('scopes', scopes, `An API key needs at least one scope: ${API_KEY_SCOPES.join(', ')}.`);
  const seen = new Set<ApiKeyScope>();
  for (const scope of scopes) {
    if (!API_KEY_SCOPES.includes(scope as ApiKeyScope)) {
      throw new InvalidOptionError('scopes', scope, `Unknown API key scope ${JSON.stringify(scope)}; use ${API_KEY_SCOPES.join(', ')}.`);
    }
    seen.add(scope as ApiKeyScope);
  }
  return API_KEY_SCOPES.filter((scope) => seen.has(scope));
}

const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/**
 * When a key given `expires` should stop working: a duration from `now` (`90m`, `12h`, `30d`, `8w`, `1y`) or an
 * ISO 8601 date or timestamp in the future. `never` (or undefined) gives null.
 *
 * @throws {InvalidOptionError} naming `expires` for anything else, or a time not in the future
 */
export function parseExpiry(expires: string | undefined, now: number): string | null {
  if (expires === undefined || expires === 'never') return null;
  const text = typeof expires === 'string' ? expires.trim() : '';
  const duration = /^(\d+)\s*([mhdwy])$/i.exec(text);
  let at: number;
  if (duration) {
    at = now + Number(duration[1]) * UNIT_MS[duration[2]!.toLowerCase()]!;
  } else if (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(Date.parse(text))) {
    at = Date.parse(text);
  } else {
    throw new InvalidOptionError('expires', expires, `\`expires\` must be a duration like 30d, 12h, 90m, 8w or 1y, an ISO date, or "never"; received ${JSON.stringify(expires)}.`);
  }
  if (!Number.isFinite(at) || at > 8.64e15 || at <= now) throw new InvalidOptionError('expires', expires, `\`expires\` must lie in the future; received ${JSON.stringify(expires)}.`);
  return new Date(at).toISOString();
}
