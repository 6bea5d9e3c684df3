/**
 * {@link demoPanel}: scripted models that stage a believable debate about any question, offline.
 *
 * @module
 */
import type { GenerateRequest } from '../adapter.js';
import { MockAdapter, type MockCallContext } from './mock-adapter.js';

/** Options for {@link demoPanel}. */
export interface DemoPanelOptions {
  /** Characters per streamed delta. @default 14 */
  chunkSize?: number;
  /** Delay between deltas, in milliseconds; 0 for tests. @default 6 */
  chunkDelayMs?: number;
  /** Delay before each answer starts, in milliseconds. @default 120 */
  latencyMs?: number;
}

const subjectOf = (prompt: string): string => {
  const question = /^Question: (.*)$/m.exec(prompt)?.[1] ?? prompt.split('\n')[0] ?? prompt;
  const trimmed = question.trim().replace(/[?.!]+$/, '');
  return trimmed.length > 120 ? `${trimmed.slice(0, 117)}...` : trimmed;
};

const roundOf = (prompt: string): number => (prompt.includes('The previous round reached this answer') ? (prompt.match(/Round-\d/g)?.length ?? 0) + 2 : 1);

const PROPOSALS = [
  (subject: string) =>
    `Recommendation for "${subject}": start with the simplest option that can be reversed cheaply, and set an explicit ` +
    'trigger for revisiting it. Concretely: (1) pick the option your team can operate today with the people you have; ' +
    '(2) write down the two or three measurable signals (load, team size, incident rate) that would justify the more ' +
    'complex alternative; (3) keep the seams clean so that migrating later costs weeks, not quarters. Most teams that ' +
    'choose the complex path early pay for it in coordination overhead long before they benefit from it.',
  (subject: string) =>
    `Revised recommendation for "${subject}" (Round-1 feedback folded in): keep the simple default, but budget for the ` +
    'risks the reviewers raised. Name an owner for the migration trigger, measure the signals monthly, and run one ' +
    'rehearsal of the expensive path on a non-critical component so the team learns its real cost before it matters.',
  (subject: string) =>
    `Final recommendation for "${subject}" (Round-1 and Round-2 feedback folded in): choose the reversible option now, ` +
    'commit to the written triggers, and treat the alternative as a planned second phase rather than an emergency. ' +
    'The evidence favours this ordering in most situations; the exceptions are regulated or very high-scale settings.',
];

const CHALLENGES: Record<string, readonly ((subject: string) => string)[]> = {
  flaw: [
    () =>
      'The answer assumes the cheap option stays cheap, but it gives no numbers: it never estimates the migration cost it ' +
      'promises will be "weeks, not quarters". Without a cost model that claim is unfalsifiable, and teams routinely ' +
      'underestimate migrations by a factor of three.',
    () =>
      'A logical gap remains: monthly measurement of the triggers is too slow for fast-moving signals such as incident ' +
      'rate. By the time a monthly review notices the trend, the cheap option may already be failing in production.',
    () =>
      'The rehearsal idea is sound in principle, yet the revised answer never says who pays for it or how success is ' +
      'judged; an unowned rehearsal usually slips until the crisis it was meant to prevent.',
  ],
  alternative: [
    () =>
      'A fundamentally different approach: decide by running both options for two weeks on a thin vertical slice and ' +
      'measuring delivery speed and operating load directly, instead of reasoning from general heuristics.',
    () =>
      'Consider buying instead of building the complex path: a managed service removes most of the operating burden that ' +
      'the answer uses as its main argument, which changes the trade-off entirely for small teams.',
    () =>
      'Another route is to split the decision per component: keep the simple default for the core but adopt the ' +
      'alternative immediately where the load profile is already known to differ.',
  ],
  risk: [
    () => 'Two risks are unaddressed: key-person dependency on whoever owns the triggers, and data migration failures during the switch.',
    () => 'Risk of metric gaming: once triggers are written down, teams may tune the metrics rather than the system.',
    () => 'Vendor lock-in from the managed-service route could make the second phase more expensive, not less.',
  ],
  'devils-advocate': [
    () => 'I disagree: the complex option should be chosen now, because retrofitting it later under pressure costs far more.',
    () => 'I disagree with the triggers: they create false precision and delay a decision the team already knows it needs.',
    () => 'I disagree that phasing helps: two architectures in flight are worse than one deliberate choice.',
  ],
};

const framingOf = (system: string): string => {
  if (system.includes('rigorous analyst')) return 'flaw';
  if (system.includes('creative strategist')) return 'alternative';
  if (system.includes('risk analyst')) return 'risk';
  return 'devils-advocate';
};

function demoReply(_request: GenerateRequest, { prompt, system }: MockCallContext): string {
  const subject = subjectOf(prompt);
  if (prompt.startsWith('Classify the question')) {
    return JSON.stringify({ intent: 'strategic', category: 'engineering decision', genus: 'architecture' });
  }
  if (system.includes('independent experts challenged')) {
    const round = Math.min(3, (prompt.match(/Round-\d/g)?.length ?? 0) + 1);
    return (
      `${PROPOSALS[round - 1]!(subject).replace(/^(Revised |Final )?[Rr]ecommendation/, 'Decision')} ` +
      'Addressing the challenges: the cost and timing concerns are valid and are now handled with explicit owners and ' +
      'budgets; the proposal to decide by a measured experiment is adopted where it is cheap; the argument to choose the ' +
      'complex option immediately is rejected, because it pays the coordination cost before any benefit arrives.'
    );
  }
  if (system.includes('expert advisor')) return PROPOSALS[Math.min(2, roundOf(prompt) - 1)]!(subject);
  const framing = framingOf(system);
  const round = Math.min(3, (prompt.match(/Round-\d/g)?.length ?? 0) + 1);
  return CHALLENGES[framing]![round - 1]!(subject);
}

/**
 * Four scripted models named after real ones, with their real catalog prices (Anthropic Claude Opus 4.6,
 * OpenAI GPT-5.2, Google Gemini 3 Pro, Mistral Small). They stream plausible proposals, framed challenges,
 * revisions and a taxonomy for any question, and never converge early, so a 3-round run shows every phase.
 * Costs are computed from the catalog prices, but no provider is called and nothing is billed.
 */
export function demoPanel(options: DemoPanelOptions = {}): MockAdapter[] {
  const common = {
    reply: demoReply,
    chunkSize: options.chunkSize ?? 14,
    chunkDelayMs: options.chunkDelayMs ?? 6,
    latencyMs: options.latencyMs ?? 120,
  };
  return [
    new MockAdapter({
      ...common,
      ref: 'anthropic:claude-opus-4-6',
      info: { displayName: 'Claude Opus 4.6 (scripted)', contextWindow: 200_000, maxOutputTokens: 128_000, inputPricePerMTok: 5, outputPricePerMTok: 25 },
    }),
    new MockAdapter({
      ...common,
      ref: 'openai:gpt-5.2',
      info: { displayName: 'GPT-5.2 (scripted)', contextWindow: 400_000, maxOutputTokens: 128_000, inputPricePerMTok: 1.75, outputPricePerMTok: 14 },
    }),
    new MockAdapter({
      ...common,
      ref: 'google:gemini-3-pro-preview',
      info: { displayName: 'Gemini 3 Pro (scripted)', contextWindow: 1_048_576, maxOutputTokens: 65_536, inputPricePerMTok: 2, outputPricePerMTok: 12 },
    }),
    new MockAdapter({
      ...common,
      ref: 'mistral:mistral-small-latest',
      info: { displayName: 'Mistral Small (scripted)', contextWindow: 128_000, maxOutputTokens: 32_000, inputPricePerMTok: 0.2, outputPricePerMTok: 0.6 },
    }),
  ];
}
