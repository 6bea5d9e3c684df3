// Roles, rate limits and budgets on one engine. Run: npm run build && npx node examples/limits-and-budgets.ts
import { BudgetExceededError, Consensus, type ConsensusEvent, type Principal, PolicyDeniedError, rbac } from 'duh';
import { memoryLimiter } from 'duh/limiter/memory';
import { demoPanel } from 'duh/testing';

export async function main(): Promise<{ asked: number; denied: string; refused: string; degradedTo: number | undefined }> {
  const duh = new Consensus({
    // Scripted models with real catalog names and prices: offline, nothing billed.
    models: demoPanel({ chunkDelayMs: 0, latencyMs: 0 }),
    maxOutputTokens: 2000,
    policy: rbac(),
    // Share one store between instances with redisLimiter() from duh/limiter/redis.
    limiter: memoryLimiter(),
    limits: {
      perUser: { requests: '60/min', tokens: '200k/hour' },
      perTenant: { requests: '600/min' },
      maxWaitMs: 10_000, // queue up to 10 s for a bucket instead of failing
    },
    budget: { perUser: { usd: 0.5, per: 'day' }, perTenant: { usd: 1, per: 'month' } },
  });

  const alice: Principal = { id: 'alice', tenant: 'acme', roles: ['contributor'] };
  const vera: Principal = { id: 'vera', tenant: 'acme', roles: ['viewer'] };

  // A contributor asks: the run's worst case is reserved from both budgets, then settled at its real cost.
  const onEvent = (event: ConsensusEvent) => {
    if (event.type === 'budget') console.log(`budget ${event.action}: ${event.budgets.map((line) => `${line.budget} $${line.amountUsd.toFixed(4)}`).join(', ')}`);
  };
  const result = await duh.ask('Should we shard by tenant or by region?', { principal: alice, rounds: 1, onEvent });
  console.log(`decision for alice (${result.cost.totalUsd.toFixed(4)} USD): ${result.decision.slice(0, 60)}…`);

  // A viewer may read but not ask.
  let denied = '';
  try {
    await duh.ask('Can I ask too?', { principal: vera });
  } catch (error) {
    if (!PolicyDeniedError.isInstance(error)) throw error;
    denied = error.reason ?? '';
    console.log(`vera: ${error.message}`);
  }

  // A run whose worst case does not fit the rest of the budget is refused with the figures...
  let refused = '';
  try {
    await duh.ask('Plan the whole migration in detail.', { principal: alice, rounds: 8 });
  } catch (error) {
    if (!BudgetExceededError.isInstance(error)) throw error;
    refused = `${error.budget}: $${error.usedUsd.toFixed(4)} used of $${error.limitUsd}, run may cost $${error.requestedUsd.toFixed(4)}`;
    console.log(`refused: ${refused}`);
  }

  // ...or scaled down to fit, when the caller prefers an answer to a refusal.
  let degradedTo: number | undefined;
  await duh.ask('Plan the whole migration in detail.', {
    principal: alice,
    rounds: 8,
    onBudget: 'degrade',
    onEvent: (event) => {
      if (event.type === 'budget-degraded') degradedTo = event.toRounds;
    },
  });
  console.log(`degraded from 8 rounds to ${degradedTo}`);

  const { total } = await duh.threads.list({ principal: vera });
  return { asked: total, denied, refused, degradedTo };
}

if (import.meta.main) await main();
