import { describe, expect, it } from 'vitest';
import type { ModelRef } from '../../src/adapter.js';
import { InsufficientModelsError } from '../../src/errors.js';
import { type Candidate, framingFor, selectChallengers, selectCheapest, selectProposer } from '../../src/protocol/selection.js';

/** Build a candidate from a ref and its $/Mtok prices. */
function candidate(ref: ModelRef, input: number, output: number, proposerEligible = true): Candidate {
  const provider = ref.slice(0, ref.indexOf(':'));
  return { ref, info: { provider, inputPricePerMTok: input, outputPricePerMTok: output, proposerEligible } };
}

/** The default catalog of duh §3.4, in table order (anthropic, openai, google, mistral, perplexity). */
const CATALOG: readonly Candidate[] = [
  candidate('anthropic:claude-opus-4-6', 5.0, 25.0),
  candidate('anthropic:claude-sonnet-4-6', 3.0, 15.0),
  candidate('anthropic:claude-sonnet-4-5-20250929', 3.0, 15.0),
  candidate('anthropic:claude-haiku-4-5-20251001', 1.0, 5.0),
  candidate('openai:gpt-5.2', 1.75, 14.0),
  candidate('openai:gpt-5-mini', 0.25, 2.0),
  candidate('openai:o3', 2.0, 8.0),
  candidate('google:gemini-3-pro-preview', 2.0, 12.0),
  candidate('google:gemini-3-flash-preview', 0.5, 3.0),
  candidate('google:gemini-2.5-pro', 1.25, 10.0),
  candidate('google:gemini-2.5-flash', 0.3, 2.5),
  candidate('mistral:mistral-large-latest', 2.0, 6.0),
  candidate('mistral:mistral-medium-latest', 2.7, 8.1),
  candidate('mistral:mistral-small-latest', 0.2, 0.6),
  candidate('mistral:codestral-latest', 0.3, 0.9),
  candidate('perplexity:sonar', 1.0, 1.0, false),
  candidate('perplexity:sonar-pro', 3.0, 15.0, false),
  candidate('perplexity:sonar-deep-research', 2.0, 8.0, false),
];

const only = (...providers: string[]): Candidate[] => CATALOG.filter((model) => providers.includes(model.info.provider));
const refs = (models: readonly Candidate[]): string[] => models.map((model) => model.ref);

function expectInsufficient(fn: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeDefined();
  expect(InsufficientModelsError.isInstance(thrown)).toBe(true);
  if (message) expect((thrown as Error).message).toMatch(message);
}

describe('the default catalog fixture', () => {
  it('has the 18 models of §3.4 with Perplexity challenger-only', () => {
    expect(CATALOG).toHaveLength(18);
    expect(CATALOG.filter((model) => !model.info.proposerEligible).map((model) => model.ref)).toEqual([
      'perplexity:sonar',
      'perplexity:sonar-pro',
      'perplexity:sonar-deep-research',
    ]);
  });
});

describe('worked selection examples (duh §1.14)', () => {
  describe('all five providers', () => {
    const models = only('anthropic', 'openai', 'google', 'mistral', 'perplexity');

    it('proposer is anthropic:claude-opus-4-6', () => {
      expect(selectProposer(models).ref).toBe('anthropic:claude-opus-4-6');
    });

    it('challengers are [perplexity:sonar-pro (flaw), openai:gpt-5.2 (alternative)]', () => {
      const proposer = selectProposer(models);
      const challengers = selectChallengers(models, proposer, 2);
      expect(refs(challengers)).toEqual(['perplexity:sonar-pro', 'openai:gpt-5.2']);
      expect(challengers.map((_, index) => framingFor(index))).toEqual(['flaw', 'alternative']);
    });

    it('cheapest is mistral:mistral-small-latest', () => {
      expect(selectCheapest(models)?.ref).toBe('mistral:mistral-small-latest');
    });
  });

  describe('Anthropic + OpenAI', () => {
    const models = only('anthropic', 'openai');

    it('proposer is opus', () => {
      expect(selectProposer(models).ref).toBe('anthropic:claude-opus-4-6');
    });

    it('challengers are [openai:gpt-5.2, openai:o3]', () => {
      expect(refs(selectChallengers(models, selectProposer(models), 2))).toEqual(['openai:gpt-5.2', 'openai:o3']);
    });

    it('cheapest is openai:gpt-5-mini', () => {
      expect(selectCheapest(models)?.ref).toBe('openai:gpt-5-mini');
    });
  });

  describe('Anthropic only', () => {
    const models = only('anthropic');

    it('proposer is opus', () => {
      expect(selectProposer(models).ref).toBe('anthropic:claude-opus-4-6');
    });

    it('challengers are [anthropic:claude-sonnet-4-6, anthropic:claude-sonnet-4-5-20250929]', () => {
      expect(refs(selectChallengers(models, selectProposer(models), 2))).toEqual([
        'anthropic:claude-sonnet-4-6',
        'anthropic:claude-sonnet-4-5-20250929',
      ]);
    });

    it('cheapest is anthropic:claude-haiku-4-5-20251001', () => {
      expect(selectCheapest(models)?.ref).toBe('anthropic:claude-haiku-4-5-20251001');
    });
  });
});

describe('selectProposer', () => {
  it('takes the highest output price', () => {
    const models = [candidate('a:cheap', 1, 2), candidate('b:dear', 1, 20), candidate('c:mid', 1, 10)];
    expect(selectProposer(models).ref).toBe('b:dear');
  });

  it('ignores the input price', () => {
    const models = [candidate('a:dear-input', 100, 2), candidate('b:dear-output', 1, 3)];
    expect(selectProposer(models).ref).toBe('b:dear-output');
  });

  it('breaks ties by input order (first wins)', () => {
    const tied = [candidate('x:first', 1, 10), candidate('y:second', 1, 10), candidate('z:third', 1, 10)];
    expect(selectProposer(tied).ref).toBe('x:first');
    expect(selectProposer([...tied].reverse()).ref).toBe('z:third');
  });

  it('returns the first model when every price is zero', () => {
    const free = [candidate('ollama:llama', 0, 0), candidate('ollama:qwen', 0, 0)];
    expect(selectProposer(free).ref).toBe('ollama:llama');
  });

  it('skips models that are not proposer-eligible even when they are the most expensive', () => {
    const models = [candidate('perplexity:sonar-pro', 3, 99, false), candidate('openai:gpt-5.2', 1.75, 14)];
    expect(selectProposer(models).ref).toBe('openai:gpt-5.2');
  });

  it('with Perplexity + Mistral picks the priciest Mistral model, never Perplexity', () => {
    expect(selectProposer(only('mistral', 'perplexity')).ref).toBe('mistral:mistral-medium-latest');
  });

  it('applies the panel filter before choosing', () => {
    expect(selectProposer(CATALOG, ['openai:gpt-5-mini', 'google:gemini-2.5-pro', 'mistral:mistral-small-latest']).ref).toBe(
      'google:gemini-2.5-pro',
    );
  });

  it('ignores panel entries that are not registered models', () => {
    expect(selectProposer(CATALOG, ['nope:nothing', 'openai:o3']).ref).toBe('openai:o3');
  });

  it('throws InsufficientModelsError when there are no models', () => {
    expectInsufficient(() => selectProposer([]), /No models available for proposal/);
  });

  it('throws InsufficientModelsError when the panel removes every model', () => {
    expectInsufficient(() => selectProposer(CATALOG, ['nope:nothing']), /No models available for proposal/);
    expectInsufficient(() => selectProposer(CATALOG, []), /No models available for proposal/);
  });

  it('throws InsufficientModelsError when no model is proposer-eligible', () => {
    expectInsufficient(() => selectProposer(only('perplexity')), /No proposer-eligible models available/);
    expectInsufficient(
      () => selectProposer(CATALOG, ['perplexity:sonar', 'perplexity:sonar-pro']),
      /No proposer-eligible models available/,
    );
  });
});

describe('selectChallengers', () => {
  const all = only('anthropic', 'openai', 'google', 'mistral', 'perplexity');
  const opus = CATALOG[0]!;

  it('never returns the proposer while other models are available', () => {
    for (const count of [1, 2, 3, 4, 5]) {
      expect(refs(selectChallengers(all, opus, count))).not.toContain('anthropic:claude-opus-4-6');
    }
  });

  it('count 1 → the priciest other-provider model', () => {
    expect(refs(selectChallengers(all, opus, 1))).toEqual(['perplexity:sonar-pro']);
  });

  it('count 3 → one per other provider, priciest first', () => {
    expect(refs(selectChallengers(all, opus, 3))).toEqual([
      'perplexity:sonar-pro',
      'openai:gpt-5.2',
      'google:gemini-3-pro-preview',
    ]);
  });

  it('count 4 → one model from each of the four other providers', () => {
    expect(refs(selectChallengers(all, opus, 4))).toEqual([
      'perplexity:sonar-pro',
      'openai:gpt-5.2',
      'google:gemini-3-pro-preview',
      'mistral:mistral-medium-latest',
    ]);
  });

  it('count 5 → after one per provider, fills from the remaining other-provider models by price', () => {
    expect(refs(selectChallengers(all, opus, 5))).toEqual([
      'perplexity:sonar-pro',
      'openai:gpt-5.2',
      'google:gemini-3-pro-preview',
      'mistral:mistral-medium-latest',
      'google:gemini-2.5-pro',
    ]);
  });

  it('count 7 → ties in the fill keep catalog order (openai:o3 before perplexity:sonar-deep-research, both $8)', () => {
    expect(refs(selectChallengers(all, opus, 7)).slice(4)).toEqual([
      'google:gemini-2.5-pro',
      'openai:o3',
      'perplexity:sonar-deep-research',
    ]);
  });

  it('uses every other-provider model before any same-provider model', () => {
    const challengers = refs(selectChallengers(all, opus, 17));
    expect(challengers).toHaveLength(17);
    expect(challengers.slice(0, 14).every((ref) => !ref.startsWith('anthropic:'))).toBe(true);
    expect(challengers.slice(14)).toEqual([
      'anthropic:claude-sonnet-4-6',
      'anthropic:claude-sonnet-4-5-20250929',
      'anthropic:claude-haiku-4-5-20251001',
    ]);
  });

  it('with Anthropic + OpenAI: count 3 fills from OpenAI, count 4 then falls back to the same provider', () => {
    const models = only('anthropic', 'openai');
    expect(refs(selectChallengers(models, opus, 3))).toEqual(['openai:gpt-5.2', 'openai:o3', 'openai:gpt-5-mini']);
    expect(refs(selectChallengers(models, opus, 4))).toEqual([
      'openai:gpt-5.2',
      'openai:o3',
      'openai:gpt-5-mini',
      'anthropic:claude-sonnet-4-6',
    ]);
  });

  it('pads with the proposer itself once every other model is used', () => {
    const models = only('anthropic');
    expect(refs(selectChallengers(models, opus, 4))).toEqual([
      'anthropic:claude-sonnet-4-6',
      'anthropic:claude-sonnet-4-5-20250929',
      'anthropic:claude-haiku-4-5-20251001',
      'anthropic:claude-opus-4-6',
    ]);
    expect(refs(selectChallengers(models, opus, 5)).slice(3)).toEqual(['anthropic:claude-opus-4-6', 'anthropic:claude-opus-4-6']);
  });

  it('single model, count 2 → [proposer, proposer] (self-critique)', () => {
    const solo = [candidate('ollama:llama3', 0, 0)];
    const proposer = selectProposer(solo);
    const challengers = selectChallengers(solo, proposer, 2);
    expect(challengers).toHaveLength(2);
    expect(challengers[0]).toBe(proposer);
    expect(challengers[1]).toBe(proposer);
  });

  it('returns exactly `count` challengers', () => {
    for (const count of [0, 1, 2, 3, 10, 20]) {
      expect(selectChallengers(all, opus, count)).toHaveLength(count);
    }
  });

  it('allows challenger-only models', () => {
    expect(refs(selectChallengers(only('openai', 'perplexity'), CATALOG[4]!, 2))).toEqual([
      'perplexity:sonar-pro',
      'perplexity:sonar-deep-research',
    ]);
  });

  it('sorts by output price within a group and breaks ties by input order (stable)', () => {
    const models = [
      candidate('p:proposer', 1, 100),
      candidate('q:first', 1, 5),
      candidate('q:second', 1, 5),
      candidate('r:cheap', 1, 1),
      candidate('r:dear', 1, 9),
    ];
    const proposer = models[0]!;
    expect(refs(selectChallengers(models, proposer, 4))).toEqual(['r:dear', 'q:first', 'q:second', 'r:cheap']);
    const swapped = [models[0]!, models[2]!, models[1]!, models[3]!, models[4]!];
    expect(refs(selectChallengers(swapped, proposer, 4))).toEqual(['r:dear', 'q:second', 'q:first', 'r:cheap']);
  });

  it('applies the panel filter', () => {
    const panel = ['anthropic:claude-opus-4-6', 'anthropic:claude-haiku-4-5-20251001', 'google:gemini-2.5-flash', 'mistral:codestral-latest'];
    expect(refs(selectChallengers(all, opus, 2, panel))).toEqual(['google:gemini-2.5-flash', 'mistral:codestral-latest']);
    expect(refs(selectChallengers(all, opus, 3, panel))).toEqual([
      'google:gemini-2.5-flash',
      'mistral:codestral-latest',
      'anthropic:claude-haiku-4-5-20251001',
    ]);
  });

  it('pads with the proposer when the panel leaves only the proposer', () => {
    expect(refs(selectChallengers(all, opus, 2, ['anthropic:claude-opus-4-6']))).toEqual([
      'anthropic:claude-opus-4-6',
      'anthropic:claude-opus-4-6',
    ]);
  });

  it('throws InsufficientModelsError when there are no models', () => {
    expectInsufficient(() => selectChallengers([], opus, 2));
  });

  it('throws InsufficientModelsError when the panel removes every model', () => {
    expectInsufficient(() => selectChallengers(all, opus, 2, ['nope:nothing']));
  });
});

describe('framingFor', () => {
  it('rotates flaw → alternative → risk → devils-advocate → flaw', () => {
    expect(Array.from({ length: 9 }, (_, index) => framingFor(index))).toEqual([
      'flaw',
      'alternative',
      'risk',
      'devils-advocate',
      'flaw',
      'alternative',
      'risk',
      'devils-advocate',
      'flaw',
    ]);
  });

  it('with the default two challengers only uses flaw and alternative', () => {
    expect([framingFor(0), framingFor(1)]).toEqual(['flaw', 'alternative']);
  });

  it('rotates over a custom order', () => {
    expect([0, 1, 2, 3].map((index) => framingFor(index, ['risk', 'devils-advocate']))).toEqual([
      'risk',
      'devils-advocate',
      'risk',
      'devils-advocate',
    ]);
  });

  it('falls back to flaw for an empty order', () => {
    expect(framingFor(0, [])).toBe('flaw');
  });
});

describe('selectCheapest', () => {
  it('takes the lowest input price', () => {
    expect(selectCheapest(CATALOG)?.ref).toBe('mistral:mistral-small-latest');
  });

  it('ignores the output price', () => {
    expect(selectCheapest([candidate('a:cheap-out', 5, 0.1), candidate('b:cheap-in', 0.5, 50)])?.ref).toBe('b:cheap-in');
  });

  it('breaks ties by input order (first wins)', () => {
    expect(selectCheapest([candidate('a:one', 1, 1), candidate('b:two', 1, 1)])?.ref).toBe('a:one');
    expect(selectCheapest([candidate('b:two', 1, 1), candidate('a:one', 1, 1)])?.ref).toBe('b:two');
  });

  it('may choose a challenger-only model', () => {
    expect(selectCheapest([candidate('openai:gpt-5.2', 1.75, 14), candidate('perplexity:sonar', 1, 1, false)])?.ref).toBe(
      'perplexity:sonar',
    );
  });

  it('is undefined for no models', () => {
    expect(selectCheapest([])).toBeUndefined();
  });
});
