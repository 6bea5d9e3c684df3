// The README's first example, verbatim (test/examples.test.ts keeps them in sync). Run: npx node examples/readme.ts
import { Consensus } from 'duh';
import { demoPanel } from 'duh/testing'; // scripted models with real names and prices: offline, nothing billed

const duh = new Consensus({ models: demoPanel() });
const { decision, confidence, rigor, dissent, cost } = await duh.ask('Should we shard by tenant or by region?');

console.log(decision);
console.log(`confidence ${confidence} · rigor ${rigor} · $${cost.totalUsd.toFixed(4)}`);
console.log(dissent); // the genuine challenges, "[model]: text"
