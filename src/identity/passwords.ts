/**
 * Password hashing with scrypt (`node:crypto`), stored as a self-describing string:
 *
 * ```text
 * $scrypt$N=131072,r=8,p=1$<salt, base64url>$<derived key, base64url>
 * ```
 *
 * The string carries its own parameters, so hashes made with older (weaker) settings keep verifying after the
 * defaults are raised, and {@link needsRehash} says when to store a fresh hash (the identity service does it on
 * the next successful login). Verification compares in constant time. A password never appears in an error.
 *
 * @module
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';

/** scrypt settings. `cost` is scrypt's N (a power of two), `blockSize` its r, `parallelization` its p. */
export interface PasswordHashOptions {
  /** CPU/memory cost N, a power of two. Memory use is about 128 × N × r bytes (128 MiB at the default). @default 131072 (2^17, OWASP's recommendation) */
  cost?: number;
  /** Block size r. @default 8 */
  blockSize?: number;
  /** Parallelization p. @default 1 */
  parallelization?: number;
  /** Salt length in bytes. @default 16 */
  saltBytes?: number;
}

/** Length of the derived key, in bytes. Fixed, so a truncated hash can never verify. */
const KEY_BYTES = 32;

/** The settings {@link hashPassword} uses when given none. */
export const PASSWORD_DEFAULTS: Readonly<Required<PasswordHashOptions>> = Object.freeze({ cost: 2 ** 17, blockSize: 8, parallelization: 1, saltBytes: 16 });

/** Bounds a stored hash may claim, so a crafted hash cannot make verification eat the machine. */
const LIMITS = { maxCost: 2 ** 20, maxBlockSize: 32, maxParallelization: 16, minSaltBytes: 8, maxSaltBytes: 64 };

const FORMAT = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

interface Parsed {
  cost: number;
  blockSize: number;
  parallelization: number;
  salt: Buffer;
  key: Buffer;
}

const isPowerOfTwo = (value: number) => Number.isSafeInteger(value) && value > 1 && (value & (value - 1)) === 0;

function settings(options: PasswordHashOptions = {}): Required<PasswordHashOptions> {
  const merged = { ...PASSWORD_DEFAULTS, ...options };
  if (!isPowerOfTwo(merged.cost) || merged.cost > LIMITS.maxCost) {
    throw new InvalidOptionError('cost', merged.cost, `The scrypt \`cost\` must be a power of two between 2 and ${LIMITS.maxCost}, received ${String(merged.cost)}.`);
  }
  for (const [name, value, max] of [
    ['blockSize', merged.blockSize, LIMITS.maxBlockSize],
    ['parallelization', merged.parallelization, LIMITS.maxParallelization],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > max) throw new InvalidOptionError(name, value, `The scrypt \`${name}\` must be an integer from 1 to ${max}, received ${String(value)}.`);
  }
  if (!Number.isInteger(merged.saltBytes) || merged.saltBytes < LIMITS.minSaltBytes || merged.saltBytes > LIMITS.maxSaltBytes) {
    throw new InvalidOptionError('saltBytes', merged.saltBytes, `\`saltBytes\` must be an integer from ${LIMITS.minSaltBytes} to ${LIMITS.maxSaltBytes}.`);
  }
  return merged;
}

function derive(password: string, salt: Buffer, cost: number, blockSize: number, parallelization: number, keyBytes: number): Promise<Buffer> {
  // scrypt refuses to use more than `maxmem`; allow what the parameters need, plus headroom.
  const maxmem = 256 * cost * blockSize + 32 * 1024 * 1024;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keyBytes, { N: cost, r: blockSize, p: parallelization, maxmem }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

function parse(hash: string): Parsed | undefined {
  if (typeof hash !== 'string') return undefined;
  const match = FORMAT.exec(hash);
  if (!match) return undefined;
  const [cost, blockSize, parallelization] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!isPowerOfTwo(cost) || cost > LIMITS.maxCost) return undefined;
  if (blockSize < 1 || blockSize > LIMITS.maxBlockSize || parallelization < 1 || parallelization > LIMITS.maxParallelization) return undefined;
  const salt = Buffer.from(match[4]!, 'base64url');
  const key = Buffer.from(match[5]!, 'base64url');
  // Only the exact encoding hashPassword writes: a cut or padded hash is tampered, not a shorter key.
  if (salt.toString('base64url') !== match[4] || key.toString('base64url') !== match[5]) return undefined;
  if (salt.length < LIMITS.minSaltBytes || salt.length > LIMITS.maxSaltBytes || key.length !== KEY_BYTES) return undefined;
  return { cost, blockSize, parallelization, salt, key };
}

/**
 * Hash a password with scrypt and a fresh random salt.
 *
 * @throws {InvalidOptionError} when the password is not a non-empty string (the message never repeats it) or a
 *   setting is out of range
 * @example
 * ```ts
 * const stored = await hashPassword('correct horse battery staple');
 * await verifyPassword('correct horse battery staple', stored); // true
 * ```
 */
export async function hashPassword(password: string, options: PasswordHashOptions = {}): Promise<string> {
  if (typeof password !== 'string' || password.length === 0) throw new InvalidOptionError('password', '[redacted]', 'A password must be a non-empty string.');
  const { cost, blockSize, parallelization, saltBytes } = settings(options);
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, cost, blockSize, parallelization, KEY_BYTES);
  return `$scrypt$N=${cost},r=${blockSize},p=${parallelization}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/**
 * Whether `password` matches `hash` (made by {@link hashPassword}, with any parameters). Constant-time
 * comparison. A malformed or tampered hash, or one claiming out-of-range parameters, is simply no match.
 */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (typeof password !== 'string' || password.length === 0) return false;
  const parsed = parse(hash);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.cost, parsed.blockSize, parsed.parallelization, KEY_BYTES);
  return timingSafeEqual(key, parsed.key);
}

/** Whether a stored hash is malformed or weaker than `options` (then hash the password again after a successful check). */
export function needsRehash(hash: string, options: PasswordHashOptions = {}): boolean {
  const parsed = parse(hash);
  if (!parsed) return true;
  const wanted = settings(options);
  return parsed.cost < wanted.cost || parsed.blockSize < wanted.blockSize || parsed.parallelization < wanted.parallelization || parsed.salt.length < wanted.saltBytes;
}

/** Whether a string has the shape of a {@link hashPassword} result (not whether it matches anything). */
export function isPasswordHash(hash: unknown): hash is string {
  return typeof hash === 'string' && parse(hash) !== undefined;
}
