import { describe, expect, it } from 'vitest';
import { detectSycophancy, SYCOPHANCY_MARKERS, SYCOPHANCY_WINDOW } from '../../src/protocol/sycophancy.js';

const capitalize = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

describe('SYCOPHANCY_MARKERS', () => {
  it('is exactly the 14 markers of duh §1.8, in order, lower-case', () => {
    expect(SYCOPHANCY_MARKERS).toEqual([
      'great answer',
      'great point',
      'good answer',
      'good point',
      'well done',
      'excellent analysis',
      'excellent answer',
      'this is a good',
      'i agree with most',
      'i largely agree',
      'no significant flaws',
      'the proposal is sound',
      'the answer is sound',
      'i agree with the',
    ]);
    expect(SYCOPHANCY_MARKERS).toHaveLength(14);
  });

  it('inspects a 200-character window', () => {
    expect(SYCOPHANCY_WINDOW).toBe(200);
  });
});

describe('detectSycophancy: every marker', () => {
  it.each(SYCOPHANCY_MARKERS)('detects %j at the start', (marker) => {
    expect(detectSycophancy(`${capitalize(marker)}. The rest of the response continues here.`)).toBe(true);
  });

  it.each(SYCOPHANCY_MARKERS)('detects %j inside the opening sentence', (marker) => {
    expect(detectSycophancy(`Overall, ${marker} and I have nothing to add.`)).toBe(true);
  });

  it.each(SYCOPHANCY_MARKERS)('detects %j in upper case', (marker) => {
    expect(detectSycophancy(`${marker.toUpperCase()}! Nothing else to say.`)).toBe(true);
  });
});

describe('detectSycophancy: the 200-character window', () => {
  it('detects a marker ending at char 199 (exclusive end 199)', () => {
    const marker = 'great answer';
    const text = 'x'.repeat(199 - marker.length) + marker + ' and more text after the window';
    expect(text.indexOf(marker) + marker.length).toBe(199);
    expect(detectSycophancy(text)).toBe(true);
  });

  it('detects a marker whose last character is char 199 (the last one in the window)', () => {
    const marker = 'great answer';
    const text = 'x'.repeat(200 - marker.length) + marker + ' and more text after the window';
    expect(text.indexOf(marker) + marker.length).toBe(200);
    expect(detectSycophancy(text)).toBe(true);
  });

  it('does not detect a marker starting after char 200', () => {
    const text = 'I disagree with this. ' + 'x'.repeat(200) + 'great answer though';
    expect(text.indexOf('great answer')).toBeGreaterThan(200);
    expect(detectSycophancy(text)).toBe(false);
  });

  it('does not detect a marker starting exactly at char 200', () => {
    const text = 'x'.repeat(200) + 'great answer';
    expect(detectSycophancy(text)).toBe(false);
  });

  it('does not detect a marker starting at 190 and crossing 200 (cut by the window)', () => {
    const marker = 'excellent analysis';
    const text = 'x'.repeat(190) + marker + ' and more';
    expect(text.indexOf(marker)).toBe(190);
    expect(detectSycophancy(text)).toBe(false);
  });

  it('does not detect a marker missing only its last character from the window', () => {
    const marker = 'good point';
    const text = 'x'.repeat(201 - marker.length) + marker;
    expect(text.length).toBe(201);
    expect(detectSycophancy(text)).toBe(false);
  });

  it('detects a 200-character string that ends with a marker', () => {
    const marker = 'good point';
    const text = 'x'.repeat(200 - marker.length) + marker;
    expect(text).toHaveLength(200);
    expect(detectSycophancy(text)).toBe(true);
  });

  it('returns false for the empty string', () => {
    expect(detectSycophancy('')).toBe(false);
  });

  it('returns false for whitespace only', () => {
    expect(detectSycophancy('   \n\t  ')).toBe(false);
  });

  it('returns false for a short string with no marker', () => {
    expect(detectSycophancy('I disagree.')).toBe(false);
  });

  it('does not flag praise that only comes after 200 characters', () => {
    const opening = 'I disagree strongly with this approach for three reasons. ';
    const text = opening + 'x'.repeat(200 - opening.length) + ' That said, good point about the timeline.';
    expect(detectSycophancy(text)).toBe(false);
  });
});

describe('detectSycophancy: whitespace', () => {
  it.each([
    ['spaces', '   great answer! Everything is correct.'],
    ['newlines', '\n\ngreat answer! Everything is correct.'],
    ['tabs', '\t\tgreat answer! Everything is correct.'],
    ['mixed', ' \n\t \r\ngreat answer! Everything is correct.'],
  ])('ignores leading %s', (_kind, text) => {
    expect(detectSycophancy(text)).toBe(true);
  });

  it('slices the window before trimming: leading whitespace consumes the window', () => {
    const marker = 'great answer';
    // Without the leading whitespace the marker would sit entirely inside the window...
    const body = 'x'.repeat(180) + marker;
    expect(detectSycophancy(body)).toBe(true);
    // ...but 10 leading spaces push its end to 202, beyond the 200-character window.
    const padded = ' '.repeat(10) + body;
    expect(padded.indexOf(marker) + marker.length).toBe(202);
    expect(detectSycophancy(padded)).toBe(false);
  });

  it('slices before trimming: 200 leading newlines hide an opening marker entirely', () => {
    expect(detectSycophancy('\n'.repeat(200) + 'Great answer!')).toBe(false);
    expect(detectSycophancy('\n'.repeat(199) + 'Great answer!')).toBe(false);
    expect(detectSycophancy('\n'.repeat(188) + 'Great answer!')).toBe(true);
  });
});

describe('detectSycophancy: case-insensitivity', () => {
  it.each([
    'great answer! solid work.',
    'GREAT ANSWER! SOLID WORK.',
    'Great Answer! Solid work.',
    'Excellent Analysis of the problem.',
    'gOoD pOiNt, but consider latency.',
    'I Agree With The overall direction.',
  ])('flags %j', (text) => {
    expect(detectSycophancy(text)).toBe(true);
  });
});

describe('detectSycophancy: false-positive resistance', () => {
  it.each([
    'I disagree with the fundamental premise of this proposal.',
    'A critical gap is the lack of security analysis.',
    'The flaw in this approach is the O(n^2) complexity.',
    'The answer gets wrong the cost estimation entirely.',
    'The risk is that this approach fails under concurrent load.',
    'An alternative approach would be to use message queues.',
    'My primary concern is the absence of error handling.',
    'The problem with this recommendation is scalability.',
  ])('does not flag %j', (text) => {
    expect(detectSycophancy(text)).toBe(false);
  });

  it('flags "While the good point about caching is noted…" (documented limitation: plain substring match)', () => {
    expect(detectSycophancy('While the good point about caching is noted, the approach fails.')).toBe(true);
  });
});
