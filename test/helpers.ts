import type { ConsensusEvent } from '../src/events.js';
import type { MockCallContext, MockResponder } from '../src/testing/mock-adapter.js';
import { MockAdapter } from '../src/testing/mock-adapter.js';

/** Which phase a request belongs to, read from its prompts. */
export function roleOf(context: Pick<MockCallContext, 'prompt' | 'system'>): 'propose' | 'challenge' | 'revise' | 'classify' {
  if (context.prompt.startsWith('Classify the question')) return 'classify';
  if (context.system.includes('independent experts challenged')) return 'revise';
  if (context.system.includes('expert advisor')) return 'propose';
  return 'challenge';
}

/** A responder that answers per phase. */
export function byPhase(replies: Partial<Record<ReturnType<typeof roleOf>, string | ((context: MockCallContext) => string)>>): MockResponder {
  return (_request, context) => {
    const reply = replies[roleOf(context)] ?? `default ${roleOf(context)} reply`;
    return typeof reply === 'function' ? reply(context) : reply;
  };
}

/** Three models on three providers: proposer (highest output price), two challengers, and a cheap classifier. */
export function trio(options: { proposer?: MockResponder; challengerA?: MockResponder; challengerB?: MockResponder; latencyMs?: number } = {}) {
  const common = options.latencyMs === undefined ? {} : { latencyMs: options.latencyMs };
  const proposer = new MockAdapter({
    ref: 'anthropic:claude-opus-4-6',
    info: { inputPricePerMTok: 5, outputPricePerMTok: 25, maxOutputTokens: 128_000 },
    reply: options.proposer ?? byPhase({ propose: 'Use Postgres with row-level security.', revise: 'Use Postgres with RLS and per-tenant pools.', classify: '{"intent":"technical","category":"databases","genus":"multi-tenancy"}' }),
    ...common,
  });
  const challengerA = new MockAdapter({
    ref: 'openai:gpt-5.2',
    info: { inputPricePerMTok: 1.75, outputPricePerMTok: 14, maxOutputTokens: 128_000 },
    reply: options.challengerA ?? byPhase({ challenge: 'The proposal ignores noisy neighbours on shared pools.', classify: '{"intent":"technical","category":"databases","genus":"multi-tenancy"}' }),
    ...common,
  });
  const challengerB = new MockAdapter({
    ref: 'google:gemini-3-pro-preview',
    info: { inputPricePerMTok: 0.5, outputPricePerMTok: 12, maxOutputTokens: 65_536 },
    reply: options.challengerB ?? byPhase({ challenge: 'Consider schema-per-tenant instead; migrations differ.', classify: '{"intent":"technical","category":"databases","genus":"multi-tenancy"}' }),
    ...common,
  });
  return { proposer, challengerA, challengerB, models: [proposer, challengerA, challengerB] };
}

/** Collect every event of a stream. */
export async function collect(stream: AsyncIterable<ConsensusEvent>): Promise<ConsensusEvent[]> {
  const events: ConsensusEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Resolve after pending microtasks and one macrotask. */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
