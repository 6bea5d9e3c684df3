import { describe, expect, it } from 'vitest';
import { challengesConverged, DEFAULT_CONVERGENCE_THRESHOLD, jaccard } from '../../src/protocol/convergence.js';

/** Space-separated distinct words `${prefix}0 … ${prefix}${n-1}`. */
function words(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, index) => `${prefix}${index}`);
}

/**
 * Two texts whose word sets share `shared` words and whose union has `union` distinct words
 * (the extra words all sit in the first text), so their Jaccard similarity is shared / union.
 */
function pairWithJaccard(shared: number, union: number): [string, string] {
  const common = words('common', shared);
  const extra = words('extra', union - shared);
  return [[...common, ...extra].join(' '), common.join(' ')];
}

describe('jaccard', () => {
  it('is 2/5 for word sets sharing 2 of 5 distinct words', () => {
    // {the, cat, sat} vs {the, cat, ran, fast}: ∩ = {the, cat}, ∪ has 5 words.
    expect(jaccard('the cat sat', 'the cat ran fast')).toBeCloseTo(0.4, 12);
    expect(jaccard('the cat ran fast', 'the cat sat')).toBeCloseTo(0.4, 12);
  });

  it('is 1 for identical texts and 0 for disjoint ones', () => {
    expect(jaccard('use a queue for writes', 'use a queue for writes')).toBe(1);
    expect(jaccard('alpha beta', 'gamma delta')).toBe(0);
  });

  it('works on word sets: order and repetition do not matter', () => {
    expect(jaccard('a b c', 'c b a')).toBe(1);
    expect(jaccard('a a a b', 'b a')).toBe(1);
    expect(jaccard('a a b b', 'a c c c')).toBeCloseTo(1 / 3, 12);
  });

  it('is case-insensitive', () => {
    expect(jaccard('The Cat SAT', 'the cat sat')).toBe(1);
    expect(jaccard('THE CAT sat', 'the cat ran fast')).toBeCloseTo(0.4, 12);
  });

  it('splits on runs of any whitespace', () => {
    expect(jaccard('the   cat\t\tsat\n\nhere', 'the cat sat here')).toBe(1);
    expect(jaccard('  leading and trailing  ', 'leading and trailing')).toBe(1);
    expect(jaccard('the \n cat \t sat', 'the cat ran fast')).toBeCloseTo(0.4, 12);
  });

  it('does not strip punctuation (words are whitespace-separated tokens)', () => {
    expect(jaccard('cat.', 'cat')).toBe(0);
  });

  it('is 1 when both texts are empty (or whitespace only)', () => {
    expect(jaccard('', '')).toBe(1);
    expect(jaccard('   ', '\n\t')).toBe(1);
  });

  it('is 0 when exactly one text is empty', () => {
    expect(jaccard('', 'something')).toBe(0);
    expect(jaccard('something', '')).toBe(0);
    expect(jaccard('  \n ', 'something')).toBe(0);
  });

  it('the construction helper produces the intended similarity', () => {
    const [a, b] = pairWithJaccard(7, 10);
    expect(jaccard(a, b)).toBe(0.7);
  });
});

describe('challengesConverged', () => {
  const challenges = [
    'The cost estimate ignores egress fees and is off by an order of magnitude.',
    'A managed queue would remove the need for the custom retry logic.',
  ];

  it('uses the 0.7 threshold by default', () => {
    expect(DEFAULT_CONVERGENCE_THRESHOLD).toBe(0.7);
  });

  it('is false in round 1 (no previous round)', () => {
    expect(challengesConverged(challenges, undefined)).toBe(false);
  });

  it('is false when the previous round had no challenges', () => {
    expect(challengesConverged(challenges, [])).toBe(false);
  });

  it('is false when the current round has no challenges', () => {
    expect(challengesConverged([], challenges)).toBe(false);
  });

  it('is true for identical challenges', () => {
    expect(challengesConverged(challenges, [...challenges])).toBe(true);
  });

  it('is true for identical challenges in a different order', () => {
    expect(challengesConverged(challenges, [...challenges].reverse())).toBe(true);
  });

  it('is false for unrelated challenges', () => {
    expect(challengesConverged(['alpha beta gamma'], ['delta epsilon zeta'])).toBe(false);
  });

  it('is true at exactly the threshold (Jaccard 7/10 = 0.7)', () => {
    const [current, previous] = pairWithJaccard(7, 10);
    expect(challengesConverged([current], [previous])).toBe(true);
  });

  it('is false just under the threshold (Jaccard 69/100 = 0.69)', () => {
    const [current, previous] = pairWithJaccard(69, 100);
    expect(jaccard(current, previous)).toBeCloseTo(0.69, 12);
    expect(challengesConverged([current], [previous])).toBe(false);
  });

  it('is false just under the threshold (Jaccard 699/1000)', () => {
    const [current, previous] = pairWithJaccard(699, 1000);
    expect(challengesConverged([current], [previous])).toBe(false);
  });

  it('is true just over the threshold (Jaccard 701/1000)', () => {
    const [current, previous] = pairWithJaccard(701, 1000);
    expect(challengesConverged([current], [previous])).toBe(true);
  });

  it('honours a custom threshold', () => {
    const [current, previous] = pairWithJaccard(1, 2);
    expect(challengesConverged([current], [previous], 0.5)).toBe(true);
    expect(challengesConverged([current], [previous], 0.51)).toBe(false);
    expect(challengesConverged([current], [previous])).toBe(false);
  });

  it('takes, for each current challenge, its best match among the previous ones (mean of maxima)', () => {
    // Each current challenge is identical to one previous challenge and disjoint from the other:
    // maxima are [1, 1] → mean 1 (converged), whereas the mean over all pairs would be 0.5.
    const previous = ['alpha beta gamma', 'delta epsilon zeta'];
    const current = ['delta epsilon zeta', 'alpha beta gamma'];
    expect(challengesConverged(current, previous)).toBe(true);
  });

  it('averages the maxima over the current challenges', () => {
    // maxima: 1 (identical to a previous one) and 0.4 (2/5) → mean 0.7 → converged
    const previous = ['one two three four', 'the cat ran fast'];
    expect(challengesConverged(['one two three four', 'the cat sat'], previous)).toBe(true);
    // maxima: 1 and 0 → mean 0.5 → not converged
    expect(challengesConverged(['one two three four', 'nothing in common'], previous)).toBe(false);
    // maxima: 1, 1, 0 → mean 2/3 < 0.7 → not converged
    expect(challengesConverged(['one two three four', 'the cat ran fast', 'nothing in common'], previous)).toBe(false);
    // maxima: 1, 1, 1, 0 → mean 0.75 → converged
    expect(
      challengesConverged(['one two three four', 'the cat ran fast', 'ONE two THREE four', 'nothing in common'], previous),
    ).toBe(true);
  });

  it('does not require every previous challenge to be matched', () => {
    // A single repeated challenge converges even if the previous round also raised an unrelated one.
    expect(challengesConverged(['alpha beta gamma'], ['alpha beta gamma', 'totally different point here'])).toBe(true);
  });

  it('uses the max to any previous challenge, not the first or last', () => {
    const [current, close] = pairWithJaccard(8, 10);
    expect(challengesConverged([current], ['unrelated words', close, 'more unrelated words'])).toBe(true);
  });
});
