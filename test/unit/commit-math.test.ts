import { describe, expect, it } from 'vitest';
import {
  CONFIDENCE_CAPS,
  DEFAULT_CONFIDENCE_CAP,
  computeConfidence,
  computeRigor,
  confidenceCap,
  formatDissent,
  parseTaxonomy,
} from '../../src/protocol/commit.js';

/** `total` challenges of which the first `genuine` are genuine and the rest sycophantic. */
function challenges(genuine: number, total: number): { sycophantic: boolean }[] {
  return Array.from({ length: total }, (_, index) => ({ sycophantic: index >= genuine }));
}

describe('computeRigor', () => {
  it('is 0.5 with no challenges', () => {
    expect(computeRigor([])).toBe(0.5);
  });

  it.each([
    [2, 2, 1.0],
    [1, 2, 0.75],
    [0, 2, 0.5],
    [2, 3, 0.8333333333],
    [1, 3, 0.6666666667],
    [1, 1, 1.0],
    [0, 1, 0.5],
  ])('%i genuine of %i → %d', (genuine, total, expected) => {
    expect(computeRigor(challenges(genuine, total))).toBeCloseTo(expected, 9);
  });

  it('does not depend on which challenges are the sycophantic ones', () => {
    expect(computeRigor([{ sycophantic: true }, { sycophantic: false }, { sycophantic: false }])).toBeCloseTo(5 / 6, 12);
    expect(computeRigor([{ sycophantic: false }, { sycophantic: true }, { sycophantic: false }])).toBeCloseTo(5 / 6, 12);
  });

  it('stays within [0.5, 1] and equals 0.5 + 0.5 × genuine/total for every mix up to 10 challenges', () => {
    for (let total = 1; total <= 10; total++) {
      for (let genuine = 0; genuine <= total; genuine++) {
        const rigor = computeRigor(challenges(genuine, total));
        expect(rigor).toBeGreaterThanOrEqual(0.5);
        expect(rigor).toBeLessThanOrEqual(1);
        expect(rigor).toBeCloseTo(0.5 + 0.5 * (genuine / total), 12);
      }
    }
  });

  it('is strictly increasing in the number of genuine challenges for a fixed total (up to 10)', () => {
    for (let total = 1; total <= 10; total++) {
      for (let genuine = 1; genuine <= total; genuine++) {
        expect(computeRigor(challenges(genuine, total))).toBeGreaterThan(computeRigor(challenges(genuine - 1, total)));
      }
    }
  });

  it('is monotonic in the genuine ratio across different totals (up to 10)', () => {
    const points: { ratio: number; rigor: number }[] = [];
    for (let total = 1; total <= 10; total++) {
      for (let genuine = 0; genuine <= total; genuine++) {
        points.push({ ratio: genuine / total, rigor: computeRigor(challenges(genuine, total)) });
      }
    }
    for (const a of points) {
      for (const b of points) {
        if (a.ratio < b.ratio) expect(a.rigor).toBeLessThan(b.rigor);
        if (a.ratio === b.ratio) expect(a.rigor).toBeCloseTo(b.rigor, 12);
      }
    }
  });

  it('is 1.0 exactly when every challenge is genuine and 0.5 exactly when none is', () => {
    for (let total = 1; total <= 10; total++) {
      expect(computeRigor(challenges(total, total))).toBe(1);
      expect(computeRigor(challenges(0, total))).toBe(0.5);
    }
  });
});

describe('confidence caps', () => {
  it('has the domain caps of duh §1.10', () => {
    expect(CONFIDENCE_CAPS).toEqual({ factual: 0.95, technical: 0.9, creative: 0.85, judgment: 0.8, strategic: 0.7 });
    expect(DEFAULT_CONFIDENCE_CAP).toBe(0.85);
  });

  it.each([
    ['factual', 0.95],
    ['technical', 0.9],
    ['creative', 0.85],
    ['judgment', 0.8],
    ['strategic', 0.7],
  ])('caps %s at %d', (intent, cap) => {
    expect(confidenceCap(intent)).toBe(cap);
  });

  it.each([
    ['FACTUAL', 0.95],
    ['Technical', 0.9],
    ['CrEaTiVe', 0.85],
    ['JUDGMENT', 0.8],
    ['Strategic', 0.7],
  ])('is case-insensitive: %s → %d', (intent, cap) => {
    expect(confidenceCap(intent)).toBe(cap);
  });

  it.each([['unknown'], ['opinion'], [''], ['   '], ['constructor'], ['toString'], ['__proto__'], ['hasOwnProperty']])(
    'uses the default 0.85 for intent %j',
    (intent) => {
      expect(confidenceCap(intent)).toBe(0.85);
    },
  );

  it('uses the default 0.85 for null and undefined', () => {
    expect(confidenceCap(null)).toBe(0.85);
    expect(confidenceCap(undefined)).toBe(0.85);
  });
});

describe('computeConfidence = min(cap, rigor)', () => {
  it('strategic with rigor 1.0 → 0.7', () => {
    expect(computeConfidence(1, { intent: 'strategic' })).toBe(0.7);
  });

  it('no taxonomy with rigor 1.0 → 0.85', () => {
    expect(computeConfidence(1, null)).toBe(0.85);
  });

  it('rigor 0.5 → 0.5 whatever the intent', () => {
    expect(computeConfidence(0.5, null)).toBe(0.5);
    for (const intent of ['factual', 'technical', 'creative', 'judgment', 'strategic', 'unknown']) {
      expect(computeConfidence(0.5, { intent })).toBe(0.5);
    }
  });

  it.each([
    [1, 'factual', 0.95],
    [1, 'technical', 0.9],
    [1, 'creative', 0.85],
    [1, 'judgment', 0.8],
    [1, 'strategic', 0.7],
    [1, 'unknown', 0.85],
    [1, '', 0.85],
    [0.75, 'factual', 0.75],
    [0.75, 'strategic', 0.7],
    [0.75, 'JUDGMENT', 0.75],
    [0.8333333333333333, 'judgment', 0.8],
    [0.8333333333333333, 'technical', 0.8333333333333333],
  ])('rigor %d, intent %j → %d', (rigor, intent, expected) => {
    expect(computeConfidence(rigor, { intent })).toBeCloseTo(expected, 12);
  });

  it('mixed 1 genuine + 1 sycophantic without taxonomy → 0.75; all sycophantic → 0.5', () => {
    expect(computeConfidence(computeRigor(challenges(1, 2)), null)).toBe(0.75);
    expect(computeConfidence(computeRigor(challenges(0, 2)), null)).toBe(0.5);
    expect(computeConfidence(computeRigor(challenges(2, 2)), null)).toBe(0.85);
  });
});

describe('formatDissent', () => {
  it('renders genuine challenges as `[model]: text` joined by exactly one blank line', () => {
    const dissent = formatDissent([
      { model: 'openai:gpt-5.2', text: 'The cost estimate is off by 10x.', sycophantic: false },
      { model: 'google:gemini-2.5-pro', text: 'Consider a queue instead.', sycophantic: false },
    ]);
    expect(dissent).toBe('[openai:gpt-5.2]: The cost estimate is off by 10x.\n\n[google:gemini-2.5-pro]: Consider a queue instead.');
  });

  it('keeps only the genuine challenges, in order', () => {
    const dissent = formatDissent([
      { model: 'a:one', text: 'First objection.', sycophantic: false },
      { model: 'b:two', text: 'Great answer, nothing to add.', sycophantic: true },
      { model: 'c:three', text: 'Third objection.', sycophantic: false },
    ]);
    expect(dissent).toBe('[a:one]: First objection.\n\n[c:three]: Third objection.');
    expect(dissent).not.toContain('b:two');
    expect(dissent).not.toContain('Great answer');
    expect(dissent?.split('\n\n')).toHaveLength(2);
    expect(dissent).not.toContain('\n\n\n');
  });

  it('renders a single genuine challenge with no separator', () => {
    expect(formatDissent([{ model: 'mistral:mistral-large-latest', text: 'No.', sycophantic: false }])).toBe(
      '[mistral:mistral-large-latest]: No.',
    );
  });

  it('is null when every challenge is sycophantic', () => {
    expect(
      formatDissent([
        { model: 'a:one', text: 'Great answer.', sycophantic: true },
        { model: 'b:two', text: 'Well done.', sycophantic: true },
      ]),
    ).toBeNull();
  });

  it('is null when there are no challenges', () => {
    expect(formatDissent([])).toBeNull();
  });
});

describe('parseTaxonomy', () => {
  it('parses a plain JSON object', () => {
    expect(parseTaxonomy('{"intent": "technical", "category": "databases", "genus": "indexing"}')).toEqual({
      intent: 'technical',
      category: 'databases',
      genus: 'indexing',
    });
  });

  it('parses a fenced ```json block', () => {
    const reply = 'Here is the classification:\n```json\n{"intent": "strategic", "category": "architecture", "genus": "microservices"}\n```\nHope that helps.';
    expect(parseTaxonomy(reply)).toEqual({ intent: 'strategic', category: 'architecture', genus: 'microservices' });
  });

  it('parses a JSON object embedded in prose', () => {
    const reply = 'Sure! The answer is {"intent": "factual", "category": "history", "genus": "dates"} as requested.';
    expect(parseTaxonomy(reply)).toEqual({ intent: 'factual', category: 'history', genus: 'dates' });
  });

  it('turns a null genus into the empty string', () => {
    expect(parseTaxonomy('{"intent": "judgment", "category": "hiring", "genus": null}')).toEqual({
      intent: 'judgment',
      category: 'hiring',
      genus: '',
    });
  });

  it('turns a missing genus into the empty string', () => {
    expect(parseTaxonomy('{"intent": "creative", "category": "naming"}')).toEqual({
      intent: 'creative',
      category: 'naming',
      genus: '',
    });
  });

  it('keeps an unknown intent as given (it is simply uncapped)', () => {
    const taxonomy = parseTaxonomy('{"intent": "opinion", "category": "food", "genus": "pizza"}');
    expect(taxonomy).toEqual({ intent: 'opinion', category: 'food', genus: 'pizza' });
    expect(computeConfidence(1, taxonomy)).toBe(0.85);
  });

  it.each([['not json at all'], [''], ['   '], ['[1, 2, 3]'], ['{"intent": '], ['```json\nnope\n```']])(
    'returns null for garbage %j',
    (reply) => {
      expect(parseTaxonomy(reply)).toBeNull();
    },
  );
});
