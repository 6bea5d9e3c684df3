/**
 * Convergence (duh §1.11): a run stops early when a round's challenges repeat the previous round's.
 *
 * @module
 */

/** Default threshold on the mean of maximum Jaccard similarities. */
export const DEFAULT_CONVERGENCE_THRESHOLD = 0.7;

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().split(/\s+/).filter((word) => word.length > 0));
}

/**
 * Jaccard similarity of the sets of lower-cased, whitespace-separated words of `a` and `b`:
 * |A ∩ B| / |A ∪ B|. Both empty → 1; exactly one empty → 0.
 */
export function jaccard(a: string, b: string): number {
  const left = words(a);
  const right = words(b);
  if (left.size === 0 && right.size === 0) return 1;
  if (left.size === 0 || right.size === 0) return 0;
  let shared = 0;
  for (const word of left) if (right.has(word)) shared++;
  return shared / (left.size + right.size - shared);
}

/**
 * Whether the current round's challenges converged with the previous round's: for each current challenge take
 * its highest Jaccard similarity to any previous challenge; converged when the mean of those is ≥ `threshold`.
 * Round 1 (no previous challenges) never converges.
 */
export function challengesConverged(
  current: readonly string[],
  previous: readonly string[] | undefined,
  threshold: number = DEFAULT_CONVERGENCE_THRESHOLD,
): boolean {
  if (!previous || previous.length === 0 || current.length === 0) return false;
  let sum = 0;
  for (const challenge of current) {
    let best = 0;
    for (const earlier of previous) best = Math.max(best, jaccard(challenge, earlier));
    sum += best;
  }
  return sum / current.length >= threshold;
}
