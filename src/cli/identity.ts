/**
 * The CLI's identity commands, run as a local administrator of one tenant:
 *
 * - `duh user create <email> [--role r] [--name n] [--password-stdin]`, `duh user list`,
 *   `duh user set-role <id-or-email> <role>`, `duh user deactivate|activate|end-sessions <id-or-email>`
 * - `duh key create --user <id-or-email> [--name n] [--scopes a,b] [--expires 30d]` (prints the key once),
 *   `duh key list [--user <id-or-email>]`, `duh key revoke <key-id>`
 * - `duh audit verify` (exit code 1 and the first bad seq when the log was altered), `duh audit list`
 * - `duh provider-key set <provider>` (the key from standard input, never from the command line),
 *   `duh provider-key list`, `duh provider-key delete <provider>`, `duh provider-key rotate` (every tenant's
 *   keys re-encrypted under the keyring's current key); the keyring comes from `DUH_VAULT_KEYS`
 *
 * The tenant is `--tenant` (or `DUH_TENANT`, else `default`). The acting principal is `DUH_USER` (else `cli`)
 * with the `admin` role; in `duh key`, `--user` names the key's owner, elsewhere it names who acts. Every
 * command goes through the identity service, so it is policy-checked and written to the tenant's audit log.
 *
 * @module
 */
import { createIdentity, createVault, type ApiKeyInfo, type Identity } from '../identity/index.js';
import type { Principal } from '../principal.js';
import { DEFAULT_TENANT, type StorageDriver } from '../storage.js';
import { integer, shortIds, text, UsageError } from './records.js';
import { openStorage } from './storage.js';

/** The top-level commands this module handles. */
export const IDENTITY_COMMANDS: ReadonlySet<string> = new Set(['user', 'key', 'audit', 'provider-key']);

/** What an identity command needs from `main`. */
export interface IdentityCommandIo {
  stdout: { write(text: string): void };
  stderr: { write(text: string): void };
  env: Readonly<Record<string, string | undefined>>;
  /** The whole of standard input (for `--password-stdin` and `duh provider-key set`). */
  readStdin?: () => Promise<string>;
}

type Values = Readonly<Record<string, string | boolean | undefined>>;


const pad = (value: string, width: number) => (value.length >= width ? value : value + ' '.repeat(width - value.length));
const day = (iso: string | null) => (iso === null ? '-' : iso.slice(0, 16).replace('T', ' '));

const USAGE: Readonly<Record<string, string>> = {
  user: 'duh user create <email> [--role r] [--name n] [--password-stdin] | list | set-role <id-or-email> <role> | deactivate <id-or-email> | activate <id-or-email> | end-sessions <id-or-email>',
  key: 'duh key create --user <id-or-email> [--name n] [--scopes ask,read] [--expires 30d] | list [--user <id-or-email>] | revoke <key-id>',
  audit: 'duh audit verify | list [--after seq] [--limit n]',
  'provider-key': 'duh provider-key set <provider> (the key on standard input) | list | delete <provider> | rotate',
};

function keyStatus(key: ApiKeyInfo, now: number): string {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && Date.parse(key.expiresAt) <= now) return 'expired';
  return 'active';
}

async function run(identity: Identity, command: string, args: readonly string[], values: Values, principal: Principal, io: IdentityCommandIo): Promise<number> {
  const context = { principal };
  const json = values['json'] === true;
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const [sub, ...rest] = args;
  const need = (value: string | undefined, what: string): string => {
    if (!value) throw new UsageError(`\`duh ${command} ${sub}\` needs ${what}. Usage: ${USAGE[command]}`);
    return value;
  };

  if (command === 'user') {
    switch (sub) {
      case 'create': {
        const email = need(rest[0], 'an email address');
        let password: string | undefined;
        if (values['password-stdin'] === true) {
          if (!io.readStdin) throw new UsageError('--password-stdin needs standard input.');
          password = (await io.readStdin()).replace(/\r?\n$/, '');
          if (password === '') throw new UsageError('--password-stdin read an empty password.');
        }
        const role = text(values, 'role');
        const name = text(values, 'name');
        const user = await identity.users.create({ email, ...(role ? { role } : {}), ...(name ? { displayName: name } : {}), ...(password !== undefined ? { password } : {}) }, context);
        if (json) out(JSON.stringify(user, null, 2));
        else out(`Created user ${user.id} ${user.email} (${user.role})${user.hasPassword ? ' with a password' : ''}.`);
        return 0;
      }
      case 'list': {
        const limit = integer('limit', text(values, 'limit'));
        const offset = integer('offset', text(values, 'offset'));
        const page = await identity.users.list({ ...context, ...(limit !== undefined ? { limit } : {}), ...(offset !== undefined ? { offset } : {}) });
        if (json) out(JSON.stringify(page, null, 2));
        else {
          const ids = shortIds(page.users.map((user) => user.id));
          for (const user of page.users) {
            out(`${pad(ids.get(user.id)!, 13)}  ${pad(user.email, 32)}  ${pad(user.role, 12)}  ${pad(user.active ? 'active' : 'inactive', 8)}  ${day(user.createdAt)}`);
          }
          out(`${page.users.length} of ${page.total} user(s)`);
        }
        return 0;
      }
      case 'set-role': {
        const who = need(rest[0], 'a user id or email and a role');
        const role = need(rest[1], 'a role (admin, contributor, viewer)');
        const user = await identity.users.setRole(who, role, context);
        if (json) out(JSON.stringify(user, null, 2));
        else out(`User ${user.email} (${user.id}) is now ${user.role}.`);
        return 0;
      }
      case 'end-sessions': {
        const who = need(rest[0], 'a user id or email');
        const user = await identity.users.endSessions(who, context);
        if (json) out(JSON.stringify(user, null, 2));
        else out(`Ended every session of ${user.email} (${user.id}) as of ${user.sessionsEndedAt}; API keys are not affected.`);
        return 0;
      }
      case 'deactivate':
      case 'activate': {
        const who = need(rest[0], 'a user id or email');
        const user = sub === 'deactivate' ? await identity.users.deactivate(who, context) : await identity.users.activate(who, context);
        if (json) out(JSON.stringify(user, null, 2));
        else out(`User ${user.email} (${user.id}) is ${user.active ? 'active' : 'deactivated'}.`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown \`duh user\` command${sub ? ` \`${sub}\`` : ''}. Usage: ${USAGE['user']}`);
    }
  }

  if (command === 'key') {
    switch (sub) {
      case 'create': {
        const owner = need(text(values, 'user'), 'the key owner: --user <id-or-email>');
        const scopes = text(values, 'scopes')
          ?.split(',')
          .map((scope) => scope.trim())
          .filter(Boolean);
        const name = text(values, 'name');
        const expires = text(values, 'expires');
        const created = await identity.apiKeys.create({ userId: owner, ...(name ? { name } : {}), ...(scopes ? { scopes } : {}), ...(expires ? { expires } : {}) }, context);
        if (json) out(JSON.stringify({ key: created.key, apiKey: created.apiKey }, null, 2));
        else out(created.key);
        const { apiKey } = created;
        io.stderr.write(
          `Created API key ${apiKey.id} for user ${apiKey.userId} (scopes ${apiKey.scopes.join(',')}, ${apiKey.expiresAt ? `expires ${apiKey.expiresAt}` : 'never expires'}).\n` +
            'Store the key now: it is not shown again (only its hash is kept).\n',
        );
        return 0;
      }
      case 'list': {
        const owner = text(values, 'user');
        let userId: string | undefined;
        if (owner !== undefined) userId = owner.includes('@') ? (await identity.users.get(owner, context)).id : owner;
        const keys = await identity.apiKeys.list({ ...context, ...(userId !== undefined ? { userId } : {}) });
        if (json) out(JSON.stringify(keys, null, 2));
        else {
          const now = Date.now();
          for (const key of keys) {
            out(`${key.id}  ${pad(key.userId, 36)}  ${pad(key.name, 16)}  ${pad(key.scopes.join(','), 14)}  ${pad(keyStatus(key, now), 7)}  last used ${day(key.lastUsedAt)}`);
          }
          out(`${keys.length} key(s)`);
        }
        return 0;
      }
      case 'revoke': {
        const id = need(rest[0], 'a key id');
        const key = await identity.apiKeys.revoke(id, context);
        if (json) out(JSON.stringify(key, null, 2));
        else out(`Revoked key ${key.id} of user ${key.userId} at ${key.revokedAt}.`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown \`duh key\` command${sub ? ` \`${sub}\`` : ''}. Usage: ${USAGE['key']}`);
    }
  }

  if (command === 'provider-key') {
    switch (sub) {
      case 'set': {
        const provider = need(rest[0], 'a provider name (openai, anthropic, google, mistral, perplexity, …)');
        // Provider names are short words; a long or key-shaped one is most likely the key itself (not echoed).
        if (provider.length > 32 || /^(sk|pk|key|api|bearer)[-_]/i.test(provider)) {
          throw new UsageError('The first argument of `duh provider-key set` must be a provider name (openai, anthropic, …); the one given looks like a key, so it is not shown. The key goes on standard input: `duh provider-key set openai < key.txt`.');
        }
        if (rest.length > 1) throw new UsageError('`duh provider-key set` reads the key from standard input, never from the command line (where shell history and `ps` would keep it): `duh provider-key set openai < key.txt`.');
        if (!io.readStdin) throw new UsageError('`duh provider-key set` needs the key on standard input.');
        const apiKey = (await io.readStdin()).trim();
        if (apiKey === '') throw new UsageError('`duh provider-key set` read an empty key from standard input.');
        const info = await identity.providerKeys.set(provider, apiKey, context);
        if (json) out(JSON.stringify(info, null, 2));
        else out(`Stored the ${info.provider} key of tenant \`${info.tenant}\`, encrypted with vault key ${info.keyId}.`);
        return 0;
      }
      case 'list': {
        const keys = await identity.providerKeys.list(context);
        if (json) out(JSON.stringify(keys, null, 2));
        else {
          for (const key of keys) out(`${pad(key.provider, 16)}  vault key ${pad(key.keyId, 12)}  updated ${day(key.updatedAt)}`);
          out(`${keys.length} provider key(s)`);
        }
        return 0;
      }
      case 'delete': {
        const provider = need(rest[0], 'a provider name');
        const deleted = await identity.providerKeys.delete(provider, context);
        if (json) out(JSON.stringify({ provider, deleted }, null, 2));
        else out(deleted ? `Deleted the ${provider} key of tenant \`${principal.tenant}\`.` : `Tenant \`${principal.tenant}\` has no ${provider} key.`);
        return deleted ? 0 : 1;
      }
      default:
        throw new UsageError(`Unknown \`duh provider-key\` command${sub ? ` \`${sub}\`` : ''}. Usage: ${USAGE['provider-key']}`);
    }
  }

  switch (sub) {
    case 'verify': {
      const result = await identity.audit.verify(context);
      if (json) out(JSON.stringify(result, null, 2));
      if (result.ok) {
        if (!json) out(`Audit log of tenant \`${principal.tenant}\` verified: ${result.entries} entr${result.entries === 1 ? 'y' : 'ies'}, head ${result.head}.`);
        return 0;
      }
      io.stderr.write(`Audit log of tenant \`${principal.tenant}\` is broken at seq ${result.seq}${result.id ? ` (entry ${result.id})` : ''}: ${result.reason}.\n`);
      return 1;
    }
    case 'list': {
      const limit = integer('limit', text(values, 'limit'));
      const afterSeq = integer('after', text(values, 'after'));
      const events = await identity.audit.list({ ...context, ...(limit !== undefined ? { limit } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}) });
      if (json) out(JSON.stringify(events, null, 2));
      else {
        for (const event of events) {
          out(`${String(event.seq).padStart(6)}  ${event.at.slice(0, 19).replace('T', ' ')}  ${pad(event.actor ?? '-', 16)}  ${pad(event.action, 20)}  ${pad(event.outcome, 7)}  ${event.resource}${event.reason ? `  (${event.reason})` : ''}`);
        }
        out(`${events.length} entr${events.length === 1 ? 'y' : 'ies'}`);
      }
      return 0;
    }
    default:
      throw new UsageError(`Unknown \`duh audit\` command${sub ? ` \`${sub}\`` : ''}. Usage: ${USAGE['audit']}`);
  }
}

/** `duh provider-key rotate`: re-encrypt every tenant's provider keys under the keyring's current key. */
async function rotate(storage: StorageDriver, values: Values, io: IdentityCommandIo): Promise<number> {
  const vault = createVault({ env: io.env });
  const report = await vault.rotate(storage);
  if (values['json'] === true) io.stdout.write(`${JSON.stringify({ currentKeyId: vault.currentKeyId, ...report }, null, 2)}\n`);
  else {
    io.stdout.write(`Re-encrypted ${report.rotated} provider key(s) under vault key ${vault.currentKeyId}; ${report.current} already were.\n`);
    if (report.skipped > 0) io.stderr.write(`${report.skipped} key(s) changed or were deleted while rotating and were left as they were: run \`duh provider-key rotate\` again.\n`);
  }
  return report.skipped > 0 ? 1 : 0;
}

/**
 * Run `duh user|key|audit|provider-key …`: open the storage, act as the local admin of the tenant, close the storage.
 * Resolves to the exit code (usage errors reject with a {@link UsageError} for `main` to report).
 */
export async function runIdentityCommand(command: string, args: readonly string[], values: Values, io: IdentityCommandIo): Promise<number> {
  const tenant = text(values, 'tenant') || io.env['DUH_TENANT'] || DEFAULT_TENANT;
  const actor = (command === 'key' ? undefined : text(values, 'user')) || io.env['DUH_USER'] || 'cli';
  const principal: Principal = { id: actor, tenant, roles: ['admin'] };
  let storage: StorageDriver | undefined;
  let identity: Identity | undefined;
  try {
    storage = await openStorage(text(values, 'storage'), io.env);
    if (command === 'provider-key' && args[0] === 'rotate') {
      if (args.length > 1) throw new UsageError('`duh provider-key rotate` takes no arguments: it re-encrypts every tenant\'s provider keys.');
      return await rotate(storage, values, io);
    }
    identity = createIdentity({ storage, env: io.env, jwt: false });
    return await run(identity, command, args, values, principal, io);
  } finally {
    await identity?.flush();
    await storage?.close?.();
  }
}
