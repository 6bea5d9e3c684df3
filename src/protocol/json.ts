/**
 * Robust JSON-object extraction from model replies (duh §2.4).
 *
 * @module
 */

/**
 * Find a JSON object in a model's reply: the whole trimmed text, else the first ```` ```json ```` fenced block,
 * else the first bare `{...}` (one level of nesting allowed). Returns `undefined` when none parses to an object.
 */
export function extractJsonObject(text: string): Record<string, unknown> | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const candidates = [trimmed];
  const fenced = /```(?:json)?\s*(\{[\s\S]*?\})\s*```/i.exec(trimmed);
  if (fenced?.[1]) candidates.push(fenced[1]);
  const bare = /\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}/.exec(trimmed);
  if (bare) candidates.push(bare[0]);
  for (const candidate of candidates) {
    try {
      const value: unknown = JSON.parse(candidate);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // not this candidate; try the next
    }
  }
  return undefined;
}
