// Test code that uses duh, offline: scripted models, an injected 429, and a clock that never really waits.
import { Consensus } from 'duh';
import { ManualClock, MockAdapter } from 'duh/testing';

export async function main(): Promise<{ attempts: number; slept: number[]; decision: string }> {
  const clock = new ManualClock({ autoAdvance: true });
  const proposer = new MockAdapter({
    ref: 'anthropic:claude-opus-4-6',
    info: { inputPricePerMTok: 5, outputPricePerMTok: 25 },
    script: [{ rateLimit: { retryAfterMs: 3000 } }], // first call: HTTP 429, Retry-After 3 s
    reply: (_request, { system }) => (system.includes('independent experts') ? 'Shard by tenant.' : 'Shard by region.'),
  });
  const challenger = new MockAdapter({ ref: 'openai:gpt-5.2', reply: 'Regions do not isolate noisy tenants.' });
  const duh = new Consensus({ models: [proposer, challenger], clock, rounds: 1 });

  const result = await duh.ask('Shard by tenant or by region?');
  const outcome = {
    attempts: result.rounds[0]!.proposal.attempts, // 2: the 429, then the answer
    slept: clock.sleeps.filter((ms) => ms === 3000), // the Retry-After was honoured, without real waiting
    decision: result.decision,
  };
  console.log(outcome);
  return outcome;
}

if (import.meta.main) await main();
