/**
 * Sycophancy detection (duh §1.8): a challenge that opens with praise or agreement is not a real challenge.
 *
 * @module
 */

/** The 14 opening phrases duh treats as deference, lower-case. */
export const SYCOPHANCY_MARKERS: readonly string[] = Object.freeze([
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

/** How many leading characters are inspected. */
export const SYCOPHANCY_WINDOW = 200;

/**
 * True when any marker appears in the first 200 characters of `text`, case-insensitively.
 *
 * The window is cut **before** whitespace is trimmed (as duh does), so leading whitespace uses up part of the
 * window and a marker that straddles character 200 is not seen.
 */
export function detectSycophancy(text: string): boolean {
  const opening = text.slice(0, SYCOPHANCY_WINDOW).toLowerCase().trim();
  return MARKER_PATTERN.test(opening);
}

/** Any marker as a substring, in one pass (the markers are plain lower-case text; escaped all the same). */
const MARKER_PATTERN = new RegExp(SYCOPHANCY_MARKERS.map((marker) => marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
