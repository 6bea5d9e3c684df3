/**
 * `duh/identity`: users, API keys, session tokens, per-tenant provider keys and the audit log, stored through
 * the storage driver (memory, SQLite, Postgres or your own).
 *
 * {@link createIdentity} returns the service a server (or the `duh user` / `duh key` / `duh audit` CLI) uses:
 *
 * - `users`: create (passwords hashed with scrypt), list, get, change role, set password, deactivate; `login`.
 * - `apiKeys`: create (the plaintext key is returned once), list, revoke; `authenticate(key)` turns a key (or a
 *   session token) into a {@link Principal}.
 * - `providerKeys`: each tenant's own provider keys, encrypted with AES-256-GCM under a rotatable keyring;
 *   `credentials()` decrypts them for the engine's runs. They are never returned, logged or put in events.
 * - `audit`: every management call asks the policy and writes an audit entry (`success`, `failure` or `deny`
 *   with the reason) to the tenant's hash-chained log; `audit.verify()` finds the first altered entry.
 *
 * This subpath is for servers: it uses `node:crypto`, and `jose` (an optional peer) for session tokens.
 *
 * @example
 * ```ts
 * import { createIdentity } from 'duh/identity';
 * import { sqliteStorage } from 'duh/storage/sqlite';
 *
 * const identity = createIdentity({ storage: sqliteStorage({ path: 'duh.db' }), jwt: { secret: process.env.DUH_JWT_SECRET } });
 * const admin = { id: 'root', tenant: 'acme', roles: ['admin'] };
 * const alice = await identity.users.create({ email: 'alice@acme.test', role: 'contributor' }, { principal: admin });
 * const { key } = await identity.apiKeys.create({ userId: alice.id, scopes: ['ask'] }, { principal: admin });
 * const principal = await identity.authenticate(key); // { id: alice.id, tenant: 'acme', roles: ['contributor'], ... }
 * ```
 *
 * @module
 */
import { randomInt, timingSafeEqual } from 'node:crypto';
import { memoryLimiter } from '../../limiter/memory.js';
import { AuthenticationError, InvalidOptionError, NotFoundError, PolicyDeniedError, RateLimitedError, serializeError, StorageError } from '../errors.js';
import { uuidv7 } from '../internal/ids.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Policy, PolicyAction, PolicyResource } from '../policy.js';
import { authorize, resourceName } from '../policy/authorize.js';
import { rbac } from '../policy/rbac.js';
import type { CredentialResolver } from '../governance.js';
import type { Principal } from '../principal.js';
import {
  requireStorageMethod,
  type AuditEntryInput,
  type ProviderKeyInfo,
  type StorageDriver,
  type StorageScope,
  type StoredApiKey,
  type StoredAuditEvent,
  type StoredUser,
} from '../storage.js';
import { DEFAULT_API_KEY_SCOPES, generateApiKey, parseApiKey, parseExpiry, SCOPE_ROLE_CAP, validateScopes, verifyApiKeySecret, type ApiKeyScope } from './api-keys.js';
import { verifyAuditChain, type AuditVerification } from './audit.js';
import { createSessions, looksLikeJwt, type SessionOptions, type Sessions } from './jwt.js';
import { hashPassword, needsRehash, verifyPassword, type PasswordHashOptions } from './passwords.js';
import { createSignInGate, type SignInLimitOptions } from './sign-in-limits.js';
import { createVault, providerKeyContext, type Vault, type VaultOptions } from './vault.js';

// The storage contract's identity records and audit helpers, for driver authors and callers of this subpath.
export {
  AUDIT_GENESIS_HASH,
  AUDIT_OUTCOMES,
  auditCanonicalBody,
  auditCanonicalString,
  auditEntryProblem,
  auditEventId,
  auditEventOf,
  requireStorageMethod,
} from '../storage.js';
export type {
  ApiKeyQuery,
  AuditEntryInput,
  AuditOutcome,
  AuditQuery,
  NewApiKey,
  NewUser,
  OptionalStorageMethod,
  ProviderKeyInfo,
  ProviderKeyPutOptions,
  ProviderKeyWrite,
  StoredApiKey,
  StoredAuditEvent,
  StoredProviderKey,
  StoredUser,
  UserPage,
  UserQuery,
  UserUpdate,
} from '../storage.js';
export * from './api-keys.js';
export * from './audit.js';
export * from './jwt.js';
export * from './passwords.js';
export * from './sign-in-limits.js';
export * from './vault.js';

/** Where a call came from, for the audit log. */
export interface CallOrigin {
  ip?: string;
  userAgent?: string;
}

/** Who makes a management call (and from where). The policy is asked for this principal. */
export interface CallContext {
  principal: Principal;
  origin?: CallOrigin;
}

/** A user as the identity service shows it: never the password hash. */
export interface User {
  id: string;
  tenant: string;
  email: string;
  displayName: string;
  role: string;
  active: boolean;
  /** Whether the user can sign in with a password (else only with API keys). */
  hasPassword: boolean;
  createdAt: string;
  updatedAt: string;
  /** When the user's sessions were last ended (deactivation, `endSessions`), or null. */
  sessionsEndedAt: string | null;
}

/** An API key as listed: never the key or its hash. */
export interface ApiKeyInfo {
  id: string;
  tenant: string;
  userId: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/**
 * A new API key. `key` is the plaintext, shown this once: it is deliberately left out of `JSON.stringify` and
 * `console.log` output, so read it explicitly (`created.key`) and hand it to its owner.
 */
export interface CreatedApiKey {
  readonly key: string;
  apiKey: ApiKeyInfo;
}

/** A principal proven by a credential: the user, their tenant and the roles the credential may use. */
export interface AuthenticatedPrincipal extends Principal {
  roles: string[];
  /** What proved it. */
  via: 'api-key' | 'session';
  /** The API key used (for `via: 'api-key'`). */
  keyId?: string;
  /** The key's scopes (for `via: 'api-key'`). */
  scopes?: string[];
}

/** What {@link Identity.login} returns. */
export interface LoginResult {
  user: User;
  principal: AuthenticatedPrincipal;
  /** A session token, when sessions are configured. */
  token?: string;
  expiresAt?: string;
}

/** Resolves a tenant's own key for a provider, for the engine's runs: the engine's `credentials` hook. */
export type { CredentialResolver } from '../governance.js';

/** Options of {@link createIdentity}. */
export interface IdentityOptions {
  /** Where users, keys, provider keys and audit entries are kept. It must implement the identity methods. */
  storage: StorageDriver;
  /** Asked before every management call. @default rbac() (admins manage their tenant; users their own keys) */
  policy?: Policy;
  /**
   * The keyring that encrypts provider keys: a {@link Vault}, or options for {@link createVault}. Without it the
   * keyring is read from `DUH_VAULT_KEYS` when a provider key is first used.
   */
  vault?: Vault | VaultOptions;
  /**
   * Session tokens: a {@link Sessions}, or options for {@link createSessions} (`{ secret }`), or `false` for none.
   * @default sessions from DUH_JWT_SECRET when it is set, else none
   */
  jwt?: Sessions | SessionOptions | false;
  /** scrypt settings for new password hashes; older hashes are upgraded on login. */
  passwords?: PasswordHashOptions;
  /**
   * Sign-in throttling: password attempts per account and per client IP, as token buckets (failed attempts
   * count; a successful sign-in gives its attempt back), or `false` for none. Share the counts between
   * instances with `limiter: redisLimiter()`.
   * @default { perAccount: '10/15min', perIp: '100/15min' } in memory
   */
  signInLimits?: SignInLimitOptions | false;
  /** Source of the current time (milliseconds since the epoch). @default Date.now */
  clock?: { now(): number };
  /** At most one `lastUsedAt` write per key per this many milliseconds. @default 60000 */
  touchIntervalMs?: number;
  /** How long `credentials()` keeps a decrypted provider key in memory, in milliseconds (0: never). @default 30000 */
  credentialCacheMs?: number;
  /** Where background failures (last-used touches, audit writes of failed sign-ins) are reported. */
  logger?: Logger;
  /** Environment for `DUH_VAULT_KEYS` and `DUH_JWT_SECRET`. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The identity service. Management calls take a {@link CallContext} last. */
export interface Identity {
  readonly users: {
    /**
     * Create a user. The email is trimmed and lowercased and must be unused in the tenant; the password, when
     * given, is hashed with scrypt. Policy: `user:create` with the granted `role`.
     */
    create(input: { email: string; displayName?: string; role?: string; password?: string }, context: CallContext): Promise<User>;
    /** The tenant's users, oldest first. Policy: `user:read` on the tenant. */
    list(context: CallContext & { limit?: number; offset?: number }): Promise<{ users: User[]; total: number }>;
    /** A user by id or email. Policy: `user:read` (a user may read itself). @throws {NotFoundError} */
    get(idOrEmail: string, context: CallContext): Promise<User>;
    /** Change a user's role. Policy: `user:update` with the granted `role`. @throws {NotFoundError} */
    setRole(idOrEmail: string, role: string, context: CallContext): Promise<User>;
    /** Set (or, with null, remove) a user's password. Policy: `user:update`. @throws {NotFoundError} */
    setPassword(idOrEmail: string, password: string | null, context: CallContext): Promise<User>;
    /**
     * Stop a user signing in or using keys. It also ends the user's sessions for good: activating the user again
     * does not bring old session tokens back. Policy: `user:update`. @throws {NotFoundError}
     */
    deactivate(idOrEmail: string, context: CallContext): Promise<User>;
    /** Let a deactivated user back in. Policy: `user:update`. @throws {NotFoundError} */
    activate(idOrEmail: string, context: CallContext): Promise<User>;
    /**
     * End every session of a user now ("sign out everywhere"): tokens issued before are refused; the user can
     * sign in again. API keys are not affected (revoke them with `apiKeys.revoke`). Policy: `user:update`.
     * @throws {NotFoundError}
     */
    endSessions(idOrEmail: string, context: CallContext): Promise<User>;
  };
  readonly apiKeys: {
    /**
     * Create a key for a user of the tenant. Returns the plaintext key **once**; only its hash is stored.
     * `expires` is a duration (`30d`, `12h`) or an ISO date. Policy: `key:create` (owner: the user).
     */
    create(input: { userId: string; name?: string; scopes?: readonly string[]; expires?: string }, context: CallContext): Promise<CreatedApiKey>;
    /** The tenant's keys (or one user's), newest first. Policy: `key:read` (owner: `userId` when given). */
    list(context: CallContext & { userId?: string }): Promise<ApiKeyInfo[]>;
    /** Revoke a key at once. Policy: `key:revoke` (owner: the key's user). @throws {NotFoundError} */
    revoke(keyId: string, context: CallContext): Promise<ApiKeyInfo>;
  };
  readonly providerKeys: {
    /** Store (or replace) the tenant's key for a provider, encrypted. Policy: `provider-key:write`. */
    set(provider: string, apiKey: string, context: CallContext): Promise<ProviderKeyInfo>;
    /** Which providers have a key (never the key). Policy: `provider-key:read`. */
    list(context: CallContext): Promise<ProviderKeyInfo[]>;
    /** Delete the tenant's key for a provider; false when there was none. Policy: `provider-key:delete`. */
    delete(provider: string, context: CallContext): Promise<boolean>;
  };
  readonly audit: {
    /** The tenant's audit entries, ascending. Policy: `audit:read`. */
    list(context: CallContext & { afterSeq?: number; limit?: number }): Promise<StoredAuditEvent[]>;
    /** Re-compute the tenant's hash chain and report the first altered entry. Policy: `audit:read`. */
    verify(context: CallContext): Promise<AuditVerification>;
  };
  /**
   * Sign in with email and password. Writes `auth:login` to the tenant's audit log either way. Attempts are
   * throttled per account and per `origin.ip` first (see `signInLimits`); a refusal is audited at most once a
   * minute per account or address.
   * @throws {AuthenticationError} `Invalid credentials.` (unknown email or wrong password alike), or `Account disabled.`
   * @throws {RateLimitedError} `Too many sign-in attempts …` with `retryAfterMs`, before the password is checked
   */
  login(credentials: { tenant: string; email: string; password: string }, origin?: CallOrigin): Promise<LoginResult>;
  /**
   * The principal an API key (`duh_…`) or a session token proves; `Bearer ` in front is accepted. An API key
   * acts with the user's role capped by its scopes; a session with the user's current role. Deactivated users,
   * revoked or expired keys and bad tokens are refused, and so is a session issued before the user's password
   * last changed (set, changed or removed). A successful key use updates its `lastUsedAt` in the background (at
   * most once per `touchIntervalMs`).
   * @throws {AuthenticationError} (never naming the credential)
   */
  authenticate(credential: string, origin?: CallOrigin): Promise<AuthenticatedPrincipal>;
  /**
   * A session token for an existing user of the tenant (e.g. right after registration), bound to the user's
   * current password like a sign-in's.
   * @throws {InvalidOptionError} when sessions are not configured
   * @throws {NotFoundError} when the tenant has no such user
   */
  issueSession(user: { id: string; tenant: string; role?: string; roles?: readonly string[] }): Promise<{ token: string; expiresAt: string }>;
  /** The resolver the engine calls for a tenant's provider key (decrypted here, cached briefly in memory). */
  credentials(): CredentialResolver;
  /** Wait for background writes (last-used touches, audit entries of failed sign-ins); call before closing the storage. */
  flush(): Promise<void>;
}

const ROLE_RANK: Readonly<Record<string, number>> = { viewer: 1, contributor: 2, admin: 3 };
const RANKED_ROLES = ['viewer', 'contributor', 'admin'] as const;

/**
 * The roles a key may act with: the user's role capped by the highest role its scopes allow (`read` → viewer,
 * `ask` → contributor, `admin` → the user's own role). A custom role (not viewer/contributor/admin) is kept
 * only with the `admin` scope: duh cannot tell where it ranks.
 */
export function effectiveRoles(userRole: string, scopes: readonly string[]): string[] {
  const known = scopes.filter((scope): scope is ApiKeyScope => Object.hasOwn(SCOPE_ROLE_CAP, scope));
  if (known.includes('admin')) return [userRole];
  const rank = ROLE_RANK[userRole];
  if (rank === undefined || known.length === 0) return [];
  const cap = Math.max(...known.map((scope) => ROLE_RANK[SCOPE_ROLE_CAP[scope]]!));
  return [RANKED_ROLES[Math.min(rank, cap) - 1]!];
}

const toUser = (user: StoredUser): User => ({
  id: user.id,
  tenant: user.tenant,
  email: user.email,
  displayName: user.displayName,
  role: user.role,
  active: user.active,
  hasPassword: user.passwordHash !== null,
  createdAt: user.createdAt,
  updatedAt: user.updatedAt,
  sessionsEndedAt: user.sessionsEndedAt ?? null,
});

const toKeyInfo = (key: StoredApiKey): ApiKeyInfo => ({
  id: key.id,
  tenant: key.tenant,
  userId: key.userId,
  name: key.name,
  scopes: [...key.scopes],
  createdAt: key.createdAt,
  expiresAt: key.expiresAt,
  revokedAt: key.revokedAt,
  lastUsedAt: key.lastUsedAt,
});

const normalizeEmail = (email: string) => email.trim().toLowerCase();
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const PROVIDER = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const ROLE = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

function checkContext(context: CallContext): Principal {
  const principal = context?.principal;
  if (typeof principal !== 'object' || principal === null || typeof principal.id !== 'string' || principal.id === '' || typeof principal.tenant !== 'string' || principal.tenant === '') {
    throw new InvalidOptionError('principal', principal, 'Identity management calls need `{ principal: { id, tenant, roles } }`: the policy is asked for it and the audit log names it.');
  }
  return principal;
}

function checkRole(role: unknown): string {
  if (typeof role !== 'string' || !ROLE.test(role)) throw new InvalidOptionError('role', role, `A role must be a name like admin, contributor or viewer; received ${JSON.stringify(role)}.`);
  return role;
}

function isSessions(value: unknown): value is Sessions {
  return typeof value === 'object' && value !== null && typeof (value as Sessions).issue === 'function' && typeof (value as Sessions).verify === 'function';
}
function isVault(value: unknown): value is Vault {
  return typeof value === 'object' && value !== null && typeof (value as Vault).encrypt === 'function' && typeof (value as Vault).decrypt === 'function';
}

/**
 * What a session is bound to: the user's password hash (empty without a password) and, once the user's sessions
 * have been ended, when that was. Either changing refuses the tokens issued before.
 */
const sessionStamp = (user: Pick<StoredUser, 'passwordHash' | 'sessionsEndedAt'>): string =>
  user.sessionsEndedAt ? `${user.passwordHash ?? ''}\u0000${user.sessionsEndedAt}` : (user.passwordHash ?? '');

/**
 * "At most once per `intervalMs` per key", remembered for the `maxKeys` keys seen last (the oldest forgotten
 * first): `due(now, key, since?)` says whether the key is due and, if so, records `now`. `since` is a time known
 * from elsewhere (say, a stored last use) that counts as the last one too.
 */
function oncePer(intervalMs: number, maxKeys: number): (now: number, key: string, since?: number) => boolean {
  const last = new Map<string, number>();
  return (now, key, since = -Infinity) => {
    if (now - Math.max(since, last.get(key) ?? -Infinity) < intervalMs) return false;
    last.delete(key); // re-inserted last, so the keys used most recently are forgotten last
    last.set(key, now);
    if (last.size > maxKeys) last.delete(last.keys().next().value!);
    return true;
  };
}

/**
 * An ISO 8601 time at `ms` with a random sub-millisecond part (nanosecond digits): a valid time that `Date.parse`
 * reads as `ms`, and unique per call, so two ends of sessions in one millisecond never store the same value.
 */
const uniqueInstant = (ms: number): string => `${new Date(ms).toISOString().slice(0, 23)}${String(randomInt(1_000_000)).padStart(6, '0')}Z`;

/** Equal strings, compared in constant time. */
function sameText(a: string, b: string): boolean {
  const [left, right] = [Buffer.from(a), Buffer.from(b)];
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Create the identity service.
 *
 * @throws {InvalidOptionError} for a bad option (a short JWT secret, a malformed keyring)
 * @throws {StorageError} when the storage driver has no audit log (`appendAudit`), which every management call writes
 */
export function createIdentity(options: IdentityOptions): Identity {
  if (typeof options !== 'object' || options === null || typeof options.storage !== 'object' || options.storage === null) {
    throw new InvalidOptionError('storage', options?.storage, 'createIdentity() needs `{ storage }`: a storage driver that keeps identity records (memory, sqlite, postgres).');
  }
  const { storage } = options;
  const appendAudit = requireStorageMethod(storage, 'appendAudit', 'the identity service (every management call writes an audit entry)');
  const policy = options.policy ?? rbac();
  const clock = options.clock ?? { now: () => Date.now() };
  const env = options.env ?? (typeof process === 'undefined' ? {} : process.env);
  const logger = options.logger ?? silentLogger;
  const touchIntervalMs = options.touchIntervalMs ?? 60_000;
  const credentialCacheMs = options.credentialCacheMs ?? 30_000;
  const passwordOptions = options.passwords ?? {};
  const nowIso = () => new Date(clock.now()).toISOString();

  const sessions: Sessions | undefined = isSessions(options.jwt)
    ? options.jwt
    : options.jwt === false
      ? undefined
      : options.jwt !== undefined
        ? createSessions({ clock, env, ...options.jwt })
        : env['DUH_JWT_SECRET']
          ? createSessions({ clock, env })
          : undefined;

  let vault: Vault | undefined = isVault(options.vault) ? options.vault : undefined;
  const vaultOf = (): Vault => (vault ??= createVault({ env, ...(isVault(options.vault) ? {} : options.vault) }));
  if (options.vault !== undefined && !isVault(options.vault)) vault = createVault({ env, ...options.vault }); // check the keyring at once

  const method = <M extends Parameters<typeof requireStorageMethod>[1]>(name: M, usedFor: string) => requireStorageMethod(storage, name, usedFor);
  const signInGate = createSignInGate(options.signInLimits, clock, () => memoryLimiter());
  // A refused sign-in is audited at most once a minute per account (or address), so a flood of guesses does not
  // become a flood of audit writes.
  const throttleAuditDue = oncePer(60_000, 1000);

  const pending = new Set<Promise<unknown>>();
  const background = (work: Promise<unknown>, what: string, tenant: string) => {
    const tracked = work.catch((error: unknown) => logger.error({ tenant, err: serializeError(error).message }, `duh identity: could not ${what}`));
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
  };

  const audit = (scope: StorageScope, entry: Omit<AuditEntryInput, 'at'>, origin: CallOrigin | undefined): Promise<StoredAuditEvent> =>
    appendAudit(scope, { at: nowIso(), ...entry, ip: origin?.ip ?? null, userAgent: origin?.userAgent ?? null });

  /**
   * Ask the policy, run the operation, and audit the outcome: `deny` (with the policy's reason) and a
   * PolicyDeniedError, `failure` (with the error's redacted message) and the error, or `success`.
   */
  const guarded = async <T>(
    context: CallContext,
    action: PolicyAction,
    resource: Omit<PolicyResource, 'tenant'>,
    run: () => Promise<T>,
    details?: (value: T) => Record<string, string | number | boolean | null>,
  ): Promise<T> => {
    const principal = checkContext(context);
    const scope = { tenant: principal.tenant };
    const full: PolicyResource = { ...resource, tenant: principal.tenant };
    const entry = { actor: principal.id, action, resource: resourceName(full) };
    // On the way out with an error, a failed audit write is logged and the caller still gets the original error.
    const auditRefusal = (outcome: 'deny' | 'failure', reason: string) =>
      audit(scope, { ...entry, outcome, reason }, context.origin).catch((error: unknown) =>
        logger.error({ tenant: scope.tenant, action, err: serializeError(error).message }, 'duh identity: could not write an audit entry'),
      );
    try {
      await authorize(policy, principal, action, full);
    } catch (error) {
      if (PolicyDeniedError.isInstance(error)) await auditRefusal('deny', error.reason ?? 'denied by policy');
      throw error;
    }
    let value: T;
    try {
      value = await run();
    } catch (error) {
      await auditRefusal('failure', serializeError(error).message);
      throw error;
    }
    await audit(scope, { ...entry, outcome: 'success', ...(details ? { details: details(value) } : {}) }, context.origin);
    return value;
  };

  /** Read a user by id or email within the principal's tenant (not audited: the caller's guarded call is). */
  const findUser = async (scope: StorageScope, idOrEmail: string): Promise<StoredUser | null> => {
    if (typeof idOrEmail !== 'string' || idOrEmail.trim() === '') throw new InvalidOptionError('user', idOrEmail, 'Name a user by id or email.');
    return idOrEmail.includes('@')
      ? method('getUserByEmail', 'user management')(scope, normalizeEmail(idOrEmail))
      : method('getUser', 'user management')(scope, idOrEmail.trim());
  };

  /**
   * A guarded call on one existing user. The policy is asked before a missing user is reported, so a principal
   * who may not read other users cannot learn which ids exist.
   */
  const onUser = async <T>(
    idOrEmail: string,
    context: CallContext,
    action: PolicyAction,
    extra: Omit<PolicyResource, 'tenant' | 'type'>,
    run: (user: StoredUser) => Promise<T>,
    details?: (value: T) => Record<string, string | number | boolean | null>,
  ): Promise<T> => {
    const principal = checkContext(context);
    const user = await findUser({ tenant: principal.tenant }, idOrEmail);
    const id = user?.id ?? idOrEmail.trim();
    return guarded(
      context,
      action,
      { type: 'user', id, ownerId: id, ...extra },
      async () => {
        if (!user) throw new NotFoundError('user', idOrEmail, `No user \`${idOrEmail}\` in this tenant.`);
        return run(user);
      },
      details,
    );
  };

  const updateUser = async (scope: StorageScope, user: StoredUser, change: { role?: string; active?: boolean; passwordHash?: string | null; endSessions?: true }): Promise<User> => {
    const { endSessions, ...fields } = change;
    const write = method('updateUser', 'user management');
    if (!endSessions) {
      const updated = await write(scope, user.id, { ...fields, at: nowIso() });
      if (!updated) throw new NotFoundError('user', user.id, `No user \`${user.id}\` in this tenant.`);
      return toUser(updated);
    }
    // Ending sessions must change the value sessions are bound to, whatever else ends them at the same moment: a
    // compare-and-set on it, with a value no other end can have (a random sub-millisecond part) and later than the
    // stored one (even with a clock behind it), retried when another change got there first.
    let current = user;
    for (let attempt = 0; attempt < 5; attempt++) {
      const at = nowIso();
      const previous = current.sessionsEndedAt ?? null;
      const endedAt = uniqueInstant(previous === null ? clock.now() : Math.max(clock.now(), Date.parse(previous) + 1));
      const updated = await write(scope, user.id, { ...fields, sessionsEndedAt: endedAt, ifSessionsEndedAt: previous, at });
      if (!updated) throw new NotFoundError('user', user.id, `No user \`${user.id}\` in this tenant.`);
      if (updated.sessionsEndedAt === endedAt) return toUser(updated);
      if (updated.sessionsEndedAt === undefined || updated.sessionsEndedAt === previous) {
        // Nothing stored it and nothing else moved it: the driver does not keep `sessionsEndedAt`.
        throw new StorageError(storage.name, 'This storage driver does not store `sessionsEndedAt` (StoredUser), so sessions cannot be ended; upgrade the driver (the built-in drivers store it).');
      }
      current = updated;
    }
    throw new StorageError(storage.name, `Could not end the sessions of user \`${user.id}\`: other changes kept getting there first. Try again.`);
  };

  // A hash to check against when the email is unknown, so a miss takes as long as a wrong password.
  let decoyHash: Promise<string> | undefined;
  const decoy = () => (decoyHash ??= hashPassword(globalThis.crypto.randomUUID(), passwordOptions));

  const touchDue = oncePer(touchIntervalMs, 10_000);
  const touch = (key: StoredApiKey) => {
    const now = clock.now();
    if (!touchDue(now, key.id, key.lastUsedAt === null ? -Infinity : Date.parse(key.lastUsedAt))) return;
    const touchApiKey = storage.touchApiKey;
    if (typeof touchApiKey === 'function') background(touchApiKey.call(storage, { tenant: key.tenant }, key.id, new Date(now).toISOString()), 'record an API key use', key.tenant);
  };

  /** Audit a refused credential in its tenant (in the background: the caller is told no either way). */
  const refuse = (scope: StorageScope, resource: string, actor: string | null, reason: string, origin: CallOrigin | undefined, action = 'auth:api-key') => {
    background(audit(scope, { actor, action, resource, outcome: 'failure', reason }, origin), 'audit a refused credential', scope.tenant);
  };

  const authenticateKey = async (credential: string, origin: CallOrigin | undefined): Promise<AuthenticatedPrincipal> => {
    const parsed = parseApiKey(credential)!;
    const key = await method('findApiKey', 'API key authentication')(parsed.id);
    const invalid = () => new AuthenticationError('Invalid or revoked API key.');
    if (!key) throw invalid();
    const scope = { tenant: key.tenant };
    const resource = `api-key:${key.id}`;
    if (!verifyApiKeySecret(parsed.secret, key.secretHash)) {
      refuse(scope, resource, null, 'wrong secret for this key id', origin);
      throw invalid();
    }
    if (key.revokedAt !== null) {
      refuse(scope, resource, key.userId, 'the key is revoked', origin);
      throw invalid();
    }
    if (key.expiresAt !== null && Date.parse(key.expiresAt) <= clock.now()) {
      refuse(scope, resource, key.userId, 'the key has expired', origin);
      throw new AuthenticationError('API key expired; create a new one.');
    }
    const user = await method('getUser', 'API key authentication')(scope, key.userId);
    if (!user || !user.active) {
      refuse(scope, resource, key.userId, user ? 'the user is deactivated' : 'the user no longer exists', origin);
      throw new AuthenticationError('The user of this API key is deactivated.');
    }
    touch(key);
    return { id: user.id, tenant: key.tenant, roles: effectiveRoles(user.role, key.scopes), via: 'api-key', keyId: key.id, scopes: [...key.scopes] };
  };

  const authenticateSession = async (token: string): Promise<AuthenticatedPrincipal> => {
    if (!sessions) throw new AuthenticationError('Session tokens are not enabled on this server; use an API key.');
    const claims = await sessions.verify(token);
    const user = await method('getUser', 'session authentication')({ tenant: claims.tenant }, claims.sub);
    if (!user || !user.active) throw new AuthenticationError('User not found or inactive.');
    // A token carries a digest of the user's stamp when it was issued (password hash, and when sessions were
    // last ended): a password set, changed or removed, or sessions ended, since then refuse it. (Tokens from
    // before stamps carry none and run to their expiry.)
    if (claims.stamp !== undefined && sessions.digestStamp && !sameText(claims.stamp, sessions.digestStamp(sessionStamp(user)))) {
      throw new AuthenticationError('Session ended: the password changed or the sessions were ended since sign-in; sign in again.');
    }
    return { id: user.id, tenant: user.tenant, roles: [user.role], via: 'session' };
  };

  const cache = new Map<string, { value: { apiKey: string } | undefined; expires: number }>();
  const forget = (tenant: string, provider: string) => cache.delete(`${tenant}\u0000${provider}`);

  const identity: Identity & { toJSON(): unknown } = {
    users: {
      async create(input, context) {
        const principal = checkContext(context);
        if (typeof input !== 'object' || input === null || typeof input.email !== 'string' || !EMAIL.test(normalizeEmail(input.email))) {
          throw new InvalidOptionError('email', input?.email, `A user needs an email address like alice@example.com; received ${JSON.stringify(input?.email)}.`);
        }
        const email = normalizeEmail(input.email);
        const role = checkRole(input.role ?? 'contributor');
        if (input.displayName !== undefined && (typeof input.displayName !== 'string' || input.displayName.trim() === '')) {
          throw new InvalidOptionError('displayName', input.displayName, 'A display name must be a non-empty string.');
        }
        if (input.password !== undefined && (typeof input.password !== 'string' || input.password.length < 8)) {
          throw new InvalidOptionError('password', '[redacted]', 'A password must be a string of at least 8 characters.');
        }
        const id = uuidv7(clock.now());
        return guarded(
          context,
          'user:create',
          { type: 'user', id, ownerId: id, role },
          async () => {
            const passwordHash = input.password === undefined ? null : await hashPassword(input.password, passwordOptions);
            const createdAt = nowIso();
            const user = { id, email, displayName: input.displayName?.trim() ?? email.split('@')[0]!, role, passwordHash, active: true, createdAt };
            await method('createUser', 'user management')({ tenant: principal.tenant }, user);
            return toUser({ ...user, tenant: principal.tenant, updatedAt: createdAt });
          },
          (user) => ({ email: user.email, role: user.role, password: user.hasPassword }),
        );
      },

      async list(context) {
        const limit = context.limit ?? 100;
        const offset = context.offset ?? 0;
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InvalidOptionError('limit', limit, '`limit` must be an integer from 1 to 1000.');
        if (!Number.isInteger(offset) || offset < 0) throw new InvalidOptionError('offset', offset, '`offset` must be a non-negative integer.');
        return guarded(context, 'user:read', { type: 'user' }, async () => {
          const page = await method('listUsers', 'user management')({ tenant: checkContext(context).tenant }, { limit, offset });
          return { users: page.users.map(toUser), total: page.total };
        });
      },

      get: (idOrEmail, context) => onUser(idOrEmail, context, 'user:read', {}, async (user) => toUser(user)),

      setRole: (idOrEmail, role, context) =>
        onUser(idOrEmail, context, 'user:update', { role: checkRole(role) }, (user) => updateUser({ tenant: user.tenant }, user, { role }), (user) => ({ role: user.role })),

      async setPassword(idOrEmail, password, context) {
        if (password !== null && (typeof password !== 'string' || password.length < 8)) throw new InvalidOptionError('password', '[redacted]', 'A password must be a string of at least 8 characters (or null to remove it).');
        return onUser(
          idOrEmail,
          context,
          'user:update',
          {},
          async (user) => updateUser({ tenant: user.tenant }, user, { passwordHash: password === null ? null : await hashPassword(password, passwordOptions) }),
          (user) => ({ password: user.hasPassword }),
        );
      },

      deactivate: (idOrEmail, context) =>
        onUser(idOrEmail, context, 'user:update', {}, (user) => updateUser({ tenant: user.tenant }, user, { active: false, endSessions: true }), () => ({ active: false, sessionsEnded: true })),

      activate: (idOrEmail, context) => onUser(idOrEmail, context, 'user:update', {}, (user) => updateUser({ tenant: user.tenant }, user, { active: true }), () => ({ active: true })),

      endSessions: (idOrEmail, context) =>
        onUser(idOrEmail, context, 'user:update', {}, (user) => updateUser({ tenant: user.tenant }, user, { endSessions: true }), () => ({ sessionsEnded: true })),
    },

    apiKeys: {
      async create(input, context) {
        const principal = checkContext(context);
        if (typeof input !== 'object' || input === null || typeof input.userId !== 'string' || input.userId.trim() === '') {
          throw new InvalidOptionError('userId', input?.userId, 'An API key needs the `userId` (or email) of the user it acts as.');
        }
        const scopes = validateScopes(input.scopes ?? DEFAULT_API_KEY_SCOPES);
        const expiresAt = parseExpiry(input.expires, clock.now());
        const name = input.name?.trim() || 'default';
        const scope = { tenant: principal.tenant };
        const owner = await findUser(scope, input.userId);
        const ownerId = owner?.id ?? input.userId.trim();
        const generated = generateApiKey();
        const created = await guarded(
          context,
          'key:create',
          { type: 'api-key', id: generated.id, ownerId },
          async () => {
            if (!owner) throw new NotFoundError('user', input.userId, `No user \`${input.userId}\` in this tenant; create the user first.`);
            if (!owner.active) throw new InvalidOptionError('userId', owner.id, `User \`${owner.id}\` is deactivated; activate it before giving it keys.`);
            const key = { id: generated.id, userId: owner.id, name, secretHash: generated.secretHash, scopes, createdAt: nowIso(), expiresAt };
            await method('createApiKey', 'API keys')(scope, key);
            return toKeyInfo({ ...key, tenant: principal.tenant, revokedAt: null, lastUsedAt: null });
          },
          (info) => ({ userId: info.userId, name: info.name, scopes: info.scopes.join(','), expiresAt: info.expiresAt }),
        );
        const result = { apiKey: created } as CreatedApiKey;
        // Not enumerable: JSON.stringify(result) and console.log(result) leave the plaintext out.
        Object.defineProperty(result, 'key', { value: generated.key, enumerable: false });
        return result;
      },

      async list(context) {
        const principal = checkContext(context);
        const userId = context.userId;
        return guarded(context, 'key:read', { type: 'api-key', ...(userId !== undefined ? { ownerId: userId } : {}) }, async () =>
          (await method('listApiKeys', 'API keys')({ tenant: principal.tenant }, userId !== undefined ? { userId } : {})).map(toKeyInfo),
        );
      },

      async revoke(keyId, context) {
        const principal = checkContext(context);
        const scope = { tenant: principal.tenant };
        if (typeof keyId !== 'string' || keyId.trim() === '') throw new InvalidOptionError('keyId', keyId, 'Name the key to revoke by its id.');
        const id = parseApiKey(keyId)?.id ?? keyId.trim(); // a whole key pasted by mistake still names its id
        // The one unscoped lookup, narrowed to the principal's tenant at once: another tenant's key is "not found".
        const found = await method('findApiKey', 'API keys')(id);
        const existing = found?.tenant === principal.tenant ? found : undefined;
        return guarded(
          context,
          'key:revoke',
          { type: 'api-key', id, ...(existing ? { ownerId: existing.userId } : {}) },
          async () => {
            const revoked = existing ? await method('revokeApiKey', 'API keys')(scope, id, nowIso()) : null;
            if (!revoked) throw new NotFoundError('api-key', id, `No API key \`${id}\` in this tenant.`);
            return toKeyInfo(revoked);
          },
          (info) => ({ userId: info.userId, revokedAt: info.revokedAt }),
        );
      },
    },

    providerKeys: {
      async set(provider, apiKey, context) {
        const principal = checkContext(context);
        // The value is not echoed: a key pasted where the provider name goes must not reach an error or a log.
        if (typeof provider !== 'string' || !PROVIDER.test(provider)) throw new InvalidOptionError('provider', '[redacted]', 'A provider name is lowercase letters, digits, dots, dashes or underscores (openai, anthropic, …); the value given is not one (not shown, in case it is a key).');
        if (typeof apiKey !== 'string' || apiKey.trim() === '') throw new InvalidOptionError('apiKey', '[redacted]', 'A provider key must be a non-empty string.');
        const sealed = vaultOf().encrypt(apiKey.trim(), providerKeyContext(principal.tenant, provider));
        return guarded(
          context,
          'provider-key:write',
          { type: 'provider-key', id: provider },
          async () => {
            const at = nowIso();
            await method('putProviderKey', 'provider keys')({ tenant: principal.tenant }, { provider, ...sealed, at });
            forget(principal.tenant, provider);
            const stored = (await method('listProviderKeys', 'provider keys')({ tenant: principal.tenant })).find((info) => info.provider === provider);
            return stored ?? { tenant: principal.tenant, provider, keyId: sealed.keyId, createdAt: at, updatedAt: at };
          },
          (info) => ({ provider: info.provider, vaultKey: info.keyId }),
        );
      },

      list: (context) =>
        guarded(context, 'provider-key:read', { type: 'provider-key' }, () => method('listProviderKeys', 'provider keys')({ tenant: checkContext(context).tenant })),

      async delete(provider, context) {
        const principal = checkContext(context);
        return guarded(
          context,
          'provider-key:delete',
          { type: 'provider-key', id: String(provider) },
          async () => {
            const deleted = await method('deleteProviderKey', 'provider keys')({ tenant: principal.tenant }, provider);
            forget(principal.tenant, provider);
            return deleted;
          },
          (deleted) => ({ provider, deleted }),
        );
      },
    },

    audit: {
      async list(context) {
        const principal = checkContext(context);
        const limit = context.limit ?? 100;
        const afterSeq = context.afterSeq ?? 0;
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidOptionError('limit', limit, '`limit` must be an integer from 1 to 10000.');
        if (!Number.isInteger(afterSeq) || afterSeq < 0) throw new InvalidOptionError('afterSeq', afterSeq, '`afterSeq` must be a non-negative integer.');
        return guarded(context, 'audit:read', { type: 'audit' }, () => method('listAudit', 'the audit log')({ tenant: principal.tenant }, { afterSeq, limit }), (events) => ({ entries: events.length }));
      },

      verify: (context) =>
        guarded(context, 'audit:read', { type: 'audit', id: 'verify' }, () => verifyAuditChain(storage, { tenant: checkContext(context).tenant }), (result) =>
          result.ok ? { ok: true, entries: result.entries } : { ok: false, seq: result.seq },
        ),
    },

    async login(credentials, origin) {
      const { tenant, password } = credentials ?? ({} as typeof credentials);
      if (typeof tenant !== 'string' || tenant === '' || typeof credentials.email !== 'string' || typeof password !== 'string') {
        throw new InvalidOptionError('credentials', '[redacted]', 'login() needs `{ tenant, email, password }`.');
      }
      const scope = { tenant };
      const email = normalizeEmail(credentials.email);
      // Throttle before any work: a refused attempt costs no lookup and no scrypt.
      const pass = signInGate ? await signInGate.admit({ tenant, email, ip: origin?.ip }) : undefined;
      if (pass && 'bucket' in pass) {
        const seconds = Math.ceil(pass.retryAfterMs / 1000);
        if (throttleAuditDue(clock.now(), `${pass.bucket}:${pass.bucket === 'account' ? `${tenant}:${email}` : (origin?.ip ?? '')}`)) {
          await audit(scope, { actor: null, action: 'auth:login', resource: 'user:unknown', outcome: 'deny', reason: `too many attempts (${pass.bucket})`, details: { email } }, origin).catch(
            (error: unknown) => logger.error({ tenant, err: serializeError(error).message }, 'duh identity: could not write an audit entry'),
          );
        }
        throw new RateLimitedError(
          `signin:${pass.bucket}`,
          pass.retryAfterMs,
          `Too many sign-in attempts ${pass.bucket === 'account' ? 'for this account' : 'from this address'}; retry in ${seconds} s.`,
        );
      }
      const user = await method('getUserByEmail', 'sign-in')(scope, email);
      const matches = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : (await verifyPassword(password, await decoy()), false);
      if (!user || !matches) {
        await audit(scope, { actor: user?.id ?? null, action: 'auth:login', resource: `user:${user?.id ?? 'unknown'}`, outcome: 'failure', reason: user ? 'wrong password' : 'unknown email', details: { email } }, origin);
        throw new AuthenticationError('Invalid credentials.');
      }
      if (!user.active) {
        await audit(scope, { actor: user.id, action: 'auth:login', resource: `user:${user.id}`, outcome: 'failure', reason: 'account disabled' }, origin);
        throw new AuthenticationError('Account disabled.');
      }
      let current = user;
      if (needsRehash(user.passwordHash!, passwordOptions)) {
        // A compare-and-set on the hash just verified: a password changed meanwhile (an admin's reset, say) is
        // never overwritten by this re-hash of the old one.
        const fresh = await hashPassword(password, passwordOptions);
        const after = await method('updateUser', 'sign-in')(scope, user.id, { passwordHash: fresh, ifPasswordHash: user.passwordHash, at: nowIso() });
        if (after?.passwordHash === fresh) {
          // Deactivated while scrypt ran: refuse, as a sign-in that started after would be.
          if (!after.active) {
            await audit(scope, { actor: user.id, action: 'auth:login', resource: `user:${user.id}`, outcome: 'failure', reason: 'account disabled' }, origin);
            throw new AuthenticationError('Account disabled.');
          }
          current = after;
        } else {
          // Someone else wrote the hash first: another sign-in's re-hash of this same password (then it still
          // verifies), or a new password (then this sign-in fails, as if it had started after the change).
          const stored = await method('getUser', 'sign-in')(scope, user.id);
          if (!stored?.active || !stored.passwordHash || !(await verifyPassword(password, stored.passwordHash))) {
            await audit(scope, { actor: user.id, action: 'auth:login', resource: `user:${user.id}`, outcome: 'failure', reason: 'password changed during sign-in' }, origin);
            throw new AuthenticationError('Invalid credentials.');
          }
          current = stored;
        }
      }
      // Only failed attempts wear the buckets down.
      await pass?.release();
      const principal: AuthenticatedPrincipal = { id: user.id, tenant, roles: [user.role], via: 'session' };
      const session = sessions ? await sessions.issue({ ...principal, stamp: sessionStamp(current) }) : undefined;
      await audit(scope, { actor: user.id, action: 'auth:login', resource: `user:${user.id}`, outcome: 'success', details: { session: session !== undefined } }, origin);
      return { user: toUser(current), principal, ...(session ? { token: session.token, expiresAt: session.expiresAt } : {}) };
    },

    async authenticate(credential, origin) {
      if (typeof credential !== 'string' || credential.trim() === '') throw new AuthenticationError('Missing credentials: send an API key (X-API-Key) or a session token (Authorization: Bearer).');
      const value = credential.trim().replace(/^Bearer\s+/i, '');
      if (parseApiKey(value)) return authenticateKey(value, origin);
      if (looksLikeJwt(value)) return authenticateSession(value);
      throw new AuthenticationError('Unrecognised credentials: expected a duh API key (duh_…) or a session token.');
    },

    async issueSession(user) {
      if (!sessions) throw new InvalidOptionError('jwt', undefined, 'Session tokens are not configured: pass `jwt: { secret }` to createIdentity() or set DUH_JWT_SECRET.');
      const stored = await method('getUser', 'issuing a session')({ tenant: user.tenant }, user.id);
      if (!stored) throw new NotFoundError('user', user.id);
      return sessions.issue({ id: user.id, tenant: user.tenant, roles: user.roles ?? (user.role ? [user.role] : []), stamp: sessionStamp(stored) });
    },

    credentials() {
      const getProviderKey = method('getProviderKey', 'tenant provider keys');
      return async ({ tenant, provider }) => {
        const cacheKey = `${tenant}\u0000${provider}`;
        const now = clock.now();
        const hit = cache.get(cacheKey);
        if (hit && hit.expires > now) return hit.value ? { apiKey: hit.value.apiKey } : undefined;
        const stored = await getProviderKey({ tenant }, provider);
        const value = stored ? { apiKey: vaultOf().decrypt(stored, providerKeyContext(tenant, provider)) } : undefined;
        if (credentialCacheMs > 0) {
          for (const [key, entry] of cache) if (entry.expires <= now) cache.delete(key);
          cache.set(cacheKey, { value, expires: now + credentialCacheMs });
        }
        return value ? { apiKey: value.apiKey } : undefined;
      };
    },

    async flush() {
      while (pending.size) await Promise.all([...pending]);
    },

    toJSON: () => ({ storage: storage.name, sessions: sessions !== undefined, vault: vault ? { current: vault.currentKeyId, keyIds: vault.keyIds } : null }),
  };
  Object.defineProperty(identity, Symbol.for('nodejs.util.inspect.custom'), { value: () => `Identity { storage: '${storage.name}', sessions: ${sessions !== undefined} }` });
  return identity;
}
