import { describe, expect, it } from 'vitest';
import { Consensus } from '../../src/consensus.js';
import { InvalidOptionError } from '../../src/errors.js';
import type { ConsensusOptions } from '../../src/options.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';

const models = () => [
  new MockAdapter({ ref: 'anthropic:opus', info: { outputPricePerMTok: 25 } }),
  new MockAdapter({ ref: 'openai:gpt', info: { outputPricePerMTok: 14 } }),
  new MockAdapter({ ref: 'perplexity:sonar', info: { outputPricePerMTok: 15, proposerEligible: false } }),
];

function invalid(run: () => unknown): InvalidOptionError {
  try {
    run();
  } catch (error) {
    if (InvalidOptionError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('constructor options', () => {
  it.each<[string, () => ConsensusOptions, string, RegExp]>([
    ['no models', () => ({ models: [] }), 'models', /at least one model/],
    ['models missing', () => ({}) as ConsensusOptions, 'models', /at least one model/],
    ['rounds < 1', () => ({ models: models(), rounds: 0 }), 'rounds', /integer >= 1, received 0/],
    ['fractional rounds', () => ({ models: models(), rounds: 1.5 }), 'rounds', /received 1.5/],
    ['negative cost limit', () => ({ models: models(), costLimitUsd: -0.5 }), 'costLimitUsd', /number >= 0, received -0.5/],
    ['negative warning', () => ({ models: models(), costWarnUsd: -1 }), 'costWarnUsd', /number >= 0/],
    ['unknown panel ref', () => ({ models: models(), panel: ['openai:gpt', 'google:gemini'] }), 'panel[1]', /"google:gemini", which is not one of the models: anthropic:opus, openai:gpt, perplexity:sonar/],
    ['empty panel', () => ({ models: models(), panel: [] }), 'panel', /empty/],
    ['panel without an eligible proposer', () => ({ models: models(), panel: ['perplexity:sonar'] }), 'panel', /no proposer-eligible model/],
    ['malformed ref', () => ({ models: models(), proposer: 'gpt' as never }), 'proposer', /model ref like "openai:gpt-5.2"/],
    ['unknown proposer', () => ({ models: models(), proposer: 'x:y' }), 'proposer', /"x:y"/],
    ['zero challengers', () => ({ models: models(), challengerCount: 0 }), 'challengerCount', /integer >= 1/],
    ['temperature out of range', () => ({ models: models(), temperature: 3 }), 'temperature', /between 0 and 2/],
    ['unknown framing', () => ({ models: models(), framings: ['nice'] as never }), 'framings', /"flaw", "alternative", "risk", "devils-advocate"/],
    ['negative retries', () => ({ models: models(), retry: { maxRetries: -1 } }), 'retry.maxRetries', /integer >= 0/],
    ['duplicate model', () => { const [a] = models(); return { models: [a!, a!] }; }, 'models[1]', /twice/],
    ['not an adapter', () => ({ models: [{ provider: 'x' }] as never }), 'models[0]', /not a duh model adapter/],
    ['bad price', () => ({ models: [new MockAdapter({ ref: 'a:b', info: { inputPricePerMTok: -1 } })] }), 'models[0]', /inputPricePerMTok/],
    ['models without a proposer-eligible one', () => ({ models: [new MockAdapter({ ref: 'perplexity:sonar', info: { proposerEligible: false } })] }), 'models', /no proposer-eligible model \(perplexity:sonar\)/],
    ['onEvent not a function', () => ({ models: models(), onEvent: 'x' as never }), 'onEvent', /must be a function/],
  ])('rejects %s, naming the option', (_case, options, option, message) => {
    const error = invalid(() => new Consensus(options()));
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
    expect(error.code).toBe('INVALID_OPTION');
  });
});

describe('run options', () => {
  const duh = new Consensus({ models: models() });

  it.each<[string, unknown, object, string, RegExp]>([
    ['an empty question', '', {}, 'question', /non-empty string, received ""/],
    ['a blank question', ' \n ', {}, 'question', /non-empty string/],
    ['a non-string question', 42, {}, 'question', /received 42/],
    ['rounds < 1', 'q', { rounds: 0 }, 'rounds', /received 0/],
    ['an unknown challenger', 'q', { challengers: ['openai:gpt', 'nope:x'] }, 'challengers[1]', /"nope:x"/],
    ['an unknown protocol', 'q', { protocol: 'chaos' }, 'protocol', /must be one of "consensus", received "chaos"/],
    ['voting (not yet)', 'q', { protocol: 'voting' }, 'protocol', /not available in this release yet/],
    ['a non-signal', 'q', { signal: {} }, 'signal', /AbortSignal/],
  ])('stream() throws synchronously for %s', (_case, question, options, option, message) => {
    const error = invalid(() => duh.stream(question as string, options));
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
  });

  it('ask() rejects (rather than throws) for bad input', async () => {
    const pending = duh.ask('');
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).rejects.toSatisfy((error: unknown) => InvalidOptionError.isInstance(error));
  });

  it('run options override constructor defaults', async () => {
    const [a, b] = models();
    const consensus = new Consensus({ models: [a!, b!], rounds: 3, classify: false });
    const result = await consensus.ask('q', { rounds: 1, proposer: 'openai:gpt', challengers: ['anthropic:opus'] });
    expect(result.rounds).toHaveLength(1);
    expect(result.rounds[0]!.proposal.model).toBe('openai:gpt');
    expect(result.rounds[0]!.challenges.map((challenge) => challenge.model)).toEqual(['anthropic:opus']);
  });

  it('clamps the output budget to each model and tells the model its budget', async () => {
    const small = new MockAdapter({ ref: 'perplexity:sonar-pro', info: { outputPricePerMTok: 15, maxOutputTokens: 8192, proposerEligible: false } });
    const big = new MockAdapter({ ref: 'anthropic:opus', info: { outputPricePerMTok: 25, maxOutputTokens: 128_000 } });
    await new Consensus({ models: [big, small], rounds: 1, challengerCount: 1 }).ask('q');
    expect(small.calls[0]!.request.maxOutputTokens).toBe(8192);
    expect(small.calls[0]!.request.messages[0]!.content).toContain('about 8,192 tokens');
    expect(big.calls[0]!.request.maxOutputTokens).toBe(16_384);
    expect(big.calls[0]!.request.messages[0]!.content).toContain('about 16,384 tokens');
    expect(big.calls[0]!.request.temperature).toBe(0.7);
  });

  it('sends the taxonomy call to the cheapest model by input price, as JSON at temperature 0.3 with 200 tokens', async () => {
    const cheap = new MockAdapter({ ref: 'mistral:small', info: { inputPricePerMTok: 0.2, outputPricePerMTok: 0.6 }, reply: '{"intent":"factual","category":"x"}' });
    const [a, b] = models();
    const result = await new Consensus({ models: [a!, b!, cheap], rounds: 1 }).ask('q');
    const classify = cheap.calls.find((call) => call.request.responseFormat === 'json');
    expect(classify?.request).toMatchObject({ maxOutputTokens: 200, temperature: 0.3, responseFormat: 'json' });
    expect(result.taxonomy).toEqual({ intent: 'factual', category: 'x', genus: '' });
    expect(result.confidence).toBe(0.95);
  });

  it('keeps a run going when the taxonomy reply is not JSON (confidence capped at the default 0.85)', async () => {
    const cheap = new MockAdapter({ ref: 'mistral:small', info: { inputPricePerMTok: 0.2 }, reply: 'no json here' });
    const [a, b] = models();
    const result = await new Consensus({ models: [a!, b!, cheap], rounds: 1 }).ask('q');
    expect(result.taxonomy).toBeNull();
    expect(result.confidence).toBe(0.85);
  });
});
