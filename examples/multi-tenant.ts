// One deployment, many instances and tenants: records and identity in Postgres, limits and budgets in Redis,
// API keys for callers, each tenant's own provider key, and a verified audit log.
// Run: npm run build && DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 npx node examples/multi-tenant.ts
import { randomBytes } from 'node:crypto';
import { Consensus, type Principal, rbac } from 'duh';
import { createIdentity } from 'duh/identity';
import { redisLimiter } from 'duh/limiter/redis';
import { postgresStorage } from 'duh/storage/postgres';
import { demoPanel } from 'duh/testing';

export interface MultiTenantOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Postgres schema and Redis key prefix, so several apps (or test runs) can share one server. */
  namespace: string;
}

/** Build what every instance builds at start-up. Everything shared lives in Postgres and Redis. */
export function createInstance(options: MultiTenantOptions) {
  const storage = postgresStorage({ connectionString: options.databaseUrl, schema: options.namespace, max: 4 });
  const limiter = redisLimiter({ url: options.redisUrl, prefix: `${options.namespace}:` });
  const policy = rbac();
  // In production the keyring comes from DUH_VAULT_KEYS (the same on every instance) and never from code.
  const vault = { keys: { current: 'k1', keys: { k1: VAULT_KEY } } };
  const identity = createIdentity({ storage, policy, vault });
  const duh = new Consensus({
    models: demoPanel({ chunkDelayMs: 0, latencyMs: 0 }), // your real adapters here
    storage,
    limiter,
    policy,
    credentials: identity.credentials(), // a tenant's own provider keys, decrypted per run
    limits: { perUser: { requests: '30/min' }, perTenant: { tokens: '2m/hour' } },
    budget: { perTenant: { usd: 50, per: 'month' } },
    maxOutputTokens: 2000,
  });
  return {
    duh,
    identity,
    /** What a request handler does: authenticate, then ask as that principal. */
    async handleAsk(apiKey: string, question: string, origin: { ip: string; userAgent: string }) {
      const principal = await identity.authenticate(apiKey, origin);
      return duh.ask(question, { principal, origin, rounds: 1 });
    },
    async close() {
      await duh.flush();
      await identity.flush();
      await limiter.close();
      await storage.close?.();
    },
  };
}

const VAULT_KEY = randomBytes(32).toString('base64');

export async function main(options: MultiTenantOptions) {
  // Two instances of the same app, as behind a load balancer.
  const first = createInstance(options);
  const second = createInstance(options);
  try {
    // Bootstrap (once, e.g. from the CLI: `duh user create`, `duh key create`): an admin creates a user and a key,
    // and stores the tenant's own Anthropic key.
    const admin: Principal = { id: 'root', tenant: 'acme', roles: ['admin'] };
    const alice = await first.identity.users.create({ email: 'alice@acme.test', role: 'contributor' }, { principal: admin });
    const { key } = await first.identity.apiKeys.create({ userId: alice.id, name: 'alice laptop', scopes: ['ask', 'read'] }, { principal: admin });
    await first.identity.providerKeys.set('anthropic', 'sk-ant-acme-own-key-000000000000', { principal: admin });

    // Requests land on either instance: the key, the limits, the budget and the records are shared.
    const origin = { ip: '203.0.113.7', userAgent: 'example/1.0' };
    const one = await first.handleAsk(key, 'Should we shard by tenant or by region?', origin);
    const two = await second.handleAsk(key, 'Which region should host the EU tenants?', origin);
    const principal = await second.identity.authenticate(key);
    const { total } = await second.duh.threads.list({ principal });

    // The audit log saw the key, the runs and the admin's changes; its hash chain verifies.
    await first.close();
    await second.duh.flush();
    const audit = await second.identity.audit.verify({ principal: admin });
    console.log(`alice ran ${total} threads ($${(one.cost.totalUsd + two.cost.totalUsd).toFixed(4)}); audit ok: ${audit.ok}`);
    return { threads: total, audit, principal };
  } finally {
    await second.close();
  }
}

if (import.meta.main) {
  await main({
    databaseUrl: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    namespace: `duh_example_${Date.now()}`,
  });
}
