import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { ProviderError } from '../../src/errors.js';
import type { ConsensusEvent } from '../../src/events.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { MockAdapter, type MockResponder } from '../../src/testing/mock-adapter.js';
import { collect, trio } from '../helpers.js';

const QUESTION = 'Which region should we launch in?';
type Circuit = Extract<ConsensusEvent, { type: 'circuit-state' }>;
const circuitEvents = (events: ConsensusEvent[]) => events.filter((event): event is Circuit => event.type === 'circuit-state');

function setup(reply: MockResponder, options: { circuitBreaker?: { failureThreshold?: number; cooldownMs?: number } | false } = {}) {
  const clock = new ManualClock({ autoAdvance: true });
  const { models, challengerA } = trio();
  const flaky = new MockAdapter({ ref: challengerA.ref, info: challengerA.info, reply });
  const backup = new MockAdapter({ ref: 'mistral:mistral-large-latest', info: { inputPricePerMTok: 2, outputPricePerMTok: 6 }, reply: 'Backup: latency to EU users matters most.' });
  const duh = new Consensus({
    models: [models[0]!, flaky, models[2]!],
    fallbacks: { [challengerA.ref]: [backup] },
    rounds: 1,
    clock,
    retry: { maxRetries: 0 },
    ...(options.circuitBreaker !== undefined ? { circuitBreaker: options.circuitBreaker } : {}),
  });
  return { duh, clock, flaky, backup };
}

describe('circuit breaker', () => {
  it('opens after repeated outages, then skips the model at once in favour of its fallback', async () => {
    const { duh, flaky, backup } = setup({ serverError: { status: 503 } }, { circuitBreaker: { failureThreshold: 3, cooldownMs: 60_000 } });
    const seen: ConsensusEvent[] = [];
    for (let run = 0; run < 3; run++) seen.push(...(await collect(duh.stream(QUESTION))));
    expect(flaky.calls).toHaveLength(3);
    expect(circuitEvents(seen)).toEqual([expect.objectContaining({ model: 'openai:gpt-5.2', state: 'open', previous: 'closed', failures: 3 })]);
    expect(duh.circuits).toEqual([expect.objectContaining({ model: 'openai:gpt-5.2', state: 'open', failures: 3 })]);

    // The fourth run does not call the open model at all: the fallback answers straight away.
    const events = await collect(duh.stream(QUESTION));
    expect(flaky.calls).toHaveLength(3);
    const skipped = events.find((event) => event.type === 'member-error' && event.model === 'openai:gpt-5.2');
    expect(skipped).toMatchObject({ error: { kind: 'circuit-open', retryable: false }, fallbackTo: 'mistral:mistral-large-latest', willRetry: false });
    expect(events.some((event) => event.type === 'member-start' && event.model === 'openai:gpt-5.2')).toBe(false);
    expect(backup.calls).toHaveLength(4);
  });

  it('lets one probe through after the cooldown and closes on success', async () => {
    let outage = true;
    const { duh, clock, flaky } = setup(() => (outage ? { serverError: { status: 500 } } : 'Recovered: pick Frankfurt.'), { circuitBreaker: { failureThreshold: 2, cooldownMs: 10_000 } });
    await duh.ask(QUESTION);
    await duh.ask(QUESTION);
    expect(duh.circuits[0]?.state).toBe('open');
    await duh.ask(QUESTION); // still open: skipped
    expect(flaky.calls).toHaveLength(2);
    outage = false;
    await clock.advance(10_000);
    const events = await collect(duh.stream(QUESTION));
    expect(circuitEvents(events).map((event) => [event.previous, event.state])).toEqual([
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
    expect(flaky.calls).toHaveLength(3);
    expect(duh.circuits).toEqual([]);
  });

  it('re-opens when the probe fails', async () => {
    const { duh, clock } = setup({ serverError: { status: 502 } }, { circuitBreaker: { failureThreshold: 1, cooldownMs: 5_000 } });
    await duh.ask(QUESTION);
    await clock.advance(5_000);
    const events = await collect(duh.stream(QUESTION));
    expect(circuitEvents(events).map((event) => [event.previous, event.state])).toEqual([
      ['open', 'half-open'],
      ['half-open', 'open'],
    ]);
  });

  it('does not count failures that are not outages (bad key, bad request, rate limit)', async () => {
    const denied = new ProviderError({ provider: 'openai', model: 'gpt-5.2', status: 401 }, 'Invalid API key.');
    const { duh, flaky } = setup({ error: denied }, { circuitBreaker: { failureThreshold: 1 } });
    for (let run = 0; run < 3; run++) await duh.ask(QUESTION);
    expect(flaky.calls).toHaveLength(3);
    expect(duh.circuits).toEqual([]);
  });

  it('can be turned off', async () => {
    const { duh, flaky } = setup({ serverError: { status: 500 } }, { circuitBreaker: false });
    for (let run = 0; run < 7; run++) await duh.ask(QUESTION);
    expect(flaky.calls).toHaveLength(7);
    expect(duh.circuits).toEqual([]);
  });

  it('validates its options', () => {
    const { models } = trio();
    expect(() => new Consensus({ models, circuitBreaker: { failureThreshold: 0 } })).toThrow(/`circuitBreaker.failureThreshold` option must be an integer >= 1/);
  });
});
