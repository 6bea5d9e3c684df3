/**
 * Session tokens: HS256 JSON Web Tokens made and checked with `jose` (an optional peer, imported on first use).
 *
 * A token carries `sub` (the user id), `tenant`, `roles`, `iat`, `exp` and `iss`. The secret comes from
 * configuration (`DUH_JWT_SECRET` or the `secret` option) and must be at least 32 bytes. Any problem with a
 * token (bad signature, expired, malformed, another issuer) is an `AuthenticationError` whose message never
 * contains the token or the secret.
 *
 * @module
 */
import { createHmac } from 'node:crypto';
import { AuthenticationError, InvalidOptionError, MissingDependencyError } from '../errors.js';

/** Options of {@link createSessions}. */
export interface SessionOptions {
  /** The HMAC secret: at least 32 bytes (a string is taken as UTF-8). @default process.env.DUH_JWT_SECRET */
  secret?: string | Uint8Array;
  /** How long a token is valid, in seconds. @default 86400 (24 hours, as duh) */
  ttlSeconds?: number;
  /** The `iss` claim written and required. @default 'duh' */
  issuer?: string;
  /** An `aud` claim to write and require, when set. */
  audience?: string;
  /** Source of the current time (milliseconds since the epoch), for tests. @default Date.now */
  clock?: { now(): number };
  /** Where `DUH_JWT_SECRET` is read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The claims of a session token. */
export interface SessionClaims {
  /** The user id. */
  sub: string;
  tenant: string;
  roles: string[];
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
  /** The digest of the subject's `stamp` at issue ({@link Sessions.digestStamp}), when one was given. */
  stamp?: string;
}

/** Who a session token is for. */
export interface SessionSubject {
  id: string;
  tenant: string;
  roles?: readonly string[];
  /**
   * A value that changes when the session must end, e.g. the user's password hash: the token carries a keyed
   * digest of it (never the value), which {@link Sessions.digestStamp} recomputes to compare.
   */
  stamp?: string;
}

/** Issues and checks session tokens. Holds the secret in a closure: nothing of it shows in JSON or logs. */
export interface Sessions {
  /** A signed token for this user. */
  issue(subject: SessionSubject): Promise<{ token: string; expiresAt: string }>;
  /**
   * The claims of a valid token.
   * @throws {AuthenticationError} when the token is invalid or expired (never naming the token)
   */
  verify(token: string): Promise<SessionClaims>;
  /** Token lifetime, in seconds. */
  readonly ttlSeconds: number;
  /**
   * The digest a token issued with `stamp` carries (an HMAC with the session secret, so a token shows nothing of
   * the stamp). Optional for implementations of your own; without it stamps are not checked.
   */
  digestStamp?(stamp: string): string;
}

type Jose = typeof import('jose');

let josePromise: Promise<Jose> | undefined;
function loadJose(): Promise<Jose> {
  return (josePromise ??= import('jose').catch((error: unknown) => {
    josePromise = undefined;
    throw new MissingDependencyError('jose', 'Session tokens (duh/identity)', 'authenticate with API keys only (leave the `jwt` option out)', { cause: error });
  }));
}

/** Minimum HMAC secret length for HS256, in bytes (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;

/**
 * Create a session token issuer/verifier. The secret is checked at once; `jose` is loaded on the first token.
 *
 * @throws {InvalidOptionError} when there is no secret, or it is shorter than 32 bytes (the message names only the length)
 * @example
 * ```ts
 * const sessions = createSessions({ secret: process.env.DUH_JWT_SECRET });
 * const { token } = await sessions.issue({ id: 'u1', tenant: 'acme', roles: ['admin'] });
 * const claims = await sessions.verify(token); // { sub: 'u1', tenant: 'acme', roles: ['admin'], ... }
 * ```
 */
export function createSessions(options: SessionOptions = {}): Sessions {
  const env = options.env ?? (typeof process === 'undefined' ? {} : process.env);
  const given = options.secret ?? env['DUH_JWT_SECRET'];
  if (given === undefined || given === '') {
    throw new InvalidOptionError('secret', undefined, 'Session tokens need a secret of at least 32 bytes: set DUH_JWT_SECRET or pass `jwt: { secret }` (for example `openssl rand -base64 48`).');
  }
  const secret = typeof given === 'string' ? new TextEncoder().encode(given) : new Uint8Array(given);
  if (secret.length < MIN_SECRET_BYTES) {
    throw new InvalidOptionError('secret', '[redacted]', `The session secret is ${secret.length} bytes; it must be at least ${MIN_SECRET_BYTES} (for example \`openssl rand -base64 48\`).`);
  }
  const ttlSeconds = options.ttlSeconds ?? 86_400;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new InvalidOptionError('ttlSeconds', ttlSeconds, `\`ttlSeconds\` must be a positive integer, received ${String(ttlSeconds)}.`);
  const issuer = options.issuer ?? 'duh';
  const { audience } = options;
  const clock = options.clock ?? { now: () => Date.now() };
  // 132 bits (22 base64url characters) of HMAC-SHA256 under the session secret, in its own domain (never the same MAC as a token's).
  const digestStamp = (stamp: string): string => createHmac('sha256', secret).update(`duh.session.stamp\u0000${stamp}`).digest('base64url').slice(0, 22);

  return {
    ttlSeconds,
    async issue(subject) {
      if (typeof subject?.id !== 'string' || subject.id === '' || typeof subject.tenant !== 'string' || subject.tenant === '') {
        throw new InvalidOptionError('subject', subject, 'A session needs a user `id` and a `tenant`.');
      }
      const { SignJWT } = await loadJose();
      const now = Math.floor(clock.now() / 1000);
      const exp = now + ttlSeconds;
      if (subject.stamp !== undefined && typeof subject.stamp !== 'string') throw new InvalidOptionError('subject.stamp', '[redacted]', 'A session `stamp` must be a string.');
      const claims = { tenant: subject.tenant, roles: [...(subject.roles ?? [])], ...(subject.stamp !== undefined ? { stp: digestStamp(subject.stamp) } : {}) };
      let builder = new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(subject.id)
        .setIssuer(issuer)
        .setIssuedAt(now)
        .setExpirationTime(exp);
      if (audience !== undefined) builder = builder.setAudience(audience);
      return { token: await builder.sign(secret), expiresAt: new Date(exp * 1000).toISOString() };
    },
    async verify(token) {
      if (typeof token !== 'string' || token === '') throw new AuthenticationError('Missing session token.');
      const jose = await loadJose();
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jose.jwtVerify(token, secret, {
          algorithms: ['HS256'],
          issuer,
          ...(audience !== undefined ? { audience } : {}),
          currentDate: new Date(clock.now()),
          requiredClaims: ['sub', 'exp', 'iat'],
        }));
      } catch (error) {
        // jose's messages name claims, never the token; still, say only what kind of failure it was.
        if (error instanceof jose.errors.JWTExpired) throw new AuthenticationError('Session token expired; sign in again.');
        throw new AuthenticationError('Invalid session token.');
      }
      const { sub, tenant, roles, iat, exp, stp } = payload;
      if (
        typeof sub !== 'string' ||
        typeof tenant !== 'string' ||
        !Array.isArray(roles) ||
        !roles.every((role) => typeof role === 'string') ||
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        (stp !== undefined && typeof stp !== 'string')
      ) {
        throw new AuthenticationError('Invalid session token.');
      }
      return { sub, tenant, roles: roles as string[], iat, exp, ...(stp !== undefined ? { stamp: stp } : {}) };
    },
    digestStamp,
  };
}

/** Whether a string is shaped like a compact JWS (three base64url parts), without checking it. */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value);
}
