// Ask one question and print the decision. Run: npm run build && npx node examples/basic.ts
import { Consensus } from 'duh';
import { demoPanel } from 'duh/testing';

export async function main(question = 'Should we shard by tenant or by region?'): Promise<string> {
  // Scripted models with real catalog names and prices: offline, nothing billed.
  const duh = new Consensus({ models: demoPanel({ chunkDelayMs: 0, latencyMs: 0 }) });
  const { decision, confidence, rigor, dissent, cost, rounds } = await duh.ask(question, { rounds: 2 });
  const report = [
    decision,
    `confidence ${confidence.toFixed(2)} · rigor ${rigor.toFixed(2)} · ${rounds.length} rounds · $${cost.totalUsd.toFixed(4)}`,
    dissent ? `dissent:\n${dissent}` : 'no dissent',
  ].join('\n\n');
  console.log(report);
  return report;
}

if (import.meta.main) await main();
