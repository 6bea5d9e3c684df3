// The README's real-model example. Needs OPENAI_API_KEY, ANTHROPIC_API_KEY and GOOGLE_API_KEY (it bills them),
// and the SDKs: npm install openai @anthropic-ai/sdk @google/genai. Run: npx node examples/real-providers.ts
import { Consensus } from 'duh';
import { anthropic } from 'duh/adapters/anthropic';
import { google } from 'duh/adapters/google';
import { openai } from 'duh/adapters/openai';

export function createEngine(): Consensus {
  return new Consensus({
    models: [openai('gpt-5.2'), anthropic('claude-opus-4-6'), google('gemini-3-pro-preview')],
    fallbacks: { 'openai:gpt-5.2': ['google:gemini-3-pro-preview'] },
    costLimitUsd: 2, // a round starts only when its worst case fits
  });
}

if (import.meta.main) {
  const duh = createEngine();
  const { decision, confidence, dissent, cost } = await duh.ask('Should we shard by tenant or by region?');
  console.log(decision, '\n\nconfidence', confidence, '\ncost $', cost.totalUsd.toFixed(4), '\n\ndissent:\n', dissent);
}
