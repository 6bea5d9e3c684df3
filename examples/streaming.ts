// Watch a run live: token deltas, challenges, commits; give up after 30 seconds.
import { Consensus, type ConsensusEvent } from 'duh';
import { demoPanel } from 'duh/testing';

export async function main(options: { timeoutMs?: number; fast?: boolean } = {}): Promise<ConsensusEvent[]> {
  const duh = new Consensus({ models: demoPanel(options.fast ? { chunkDelayMs: 0, latencyMs: 0 } : {}) });
  const stream = duh.stream('Is Rust a good first programming language?', {
    rounds: 2,
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000), // one signal cancels every member call
  });
  const seen: ConsensusEvent[] = [];
  for await (const event of stream) {
    seen.push(event);
    switch (event.type) {
      case 'phase-start':
        console.log(`\n[round ${event.round}] ${event.phase}: ${event.models.join(', ')}`);
        break;
      case 'member-delta':
        if (event.phase === 'revise') process.stdout.write(event.text);
        break;
      case 'challenge':
        console.log(`  ${event.model} [${event.framing}]${event.sycophantic ? ' (sycophantic)' : ''}`);
        break;
      case 'commit':
        console.log(`\n  committed: confidence ${event.confidence}, rigor ${event.rigor}`);
        break;
      case 'error':
        console.error(`run failed: ${event.error.message}`);
        break;
    }
  }
  const result = await stream.result; // rejects if the run failed
  console.log(`\n${result.stopReason} after ${result.rounds.length} rounds, $${result.cost.totalUsd.toFixed(4)}`);
  return seen;
}

if (import.meta.main) await main();
