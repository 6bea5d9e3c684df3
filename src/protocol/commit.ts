/**
 * COMMIT math (duh §1.10): rigor, epistemic confidence, dissent and the taxonomy reply.
 *
 * @module
 */
import type { Taxonomy } from '../record.js';
import { extractJsonObject } from './json.js';

/** The intents the classifier may return. */
export const INTENTS = ['factual', 'technical', 'creative', 'judgment', 'strategic'] as const;

/** Confidence ceiling by intent: how knowable an answer of that kind can be. */
export const CONFIDENCE_CAPS: Readonly<Record<(typeof INTENTS)[number], number>> = {
  factual: 0.95,
  technical: 0.9,
  creative: 0.85,
  judgment: 0.8,
  strategic: 0.7,
};

/** The cap used when there is no taxonomy or the intent is unknown. */
export const DEFAULT_CONFIDENCE_CAP = 0.85;

/** Rigor: 0.5 with no challenges, else 0.5 + 0.5 × genuine / total. Range [0.5, 1]. */
export function computeRigor(challenges: readonly { sycophantic: boolean }[]): number {
  if (challenges.length === 0) return 0.5;
  const genuine = challenges.filter((challenge) => !challenge.sycophantic).length;
  return 0.5 + 0.5 * (genuine / challenges.length);
}

/** The confidence cap for an intent (case-insensitive); {@link DEFAULT_CONFIDENCE_CAP} when unknown. */
export function confidenceCap(intent: string | null | undefined): number {
  const key = (intent ?? '').trim().toLowerCase();
  return Object.hasOwn(CONFIDENCE_CAPS, key) ? CONFIDENCE_CAPS[key as keyof typeof CONFIDENCE_CAPS] : DEFAULT_CONFIDENCE_CAP;
}

/** Epistemic confidence: min(cap by intent, rigor). */
export function computeConfidence(rigor: number, taxonomy: Pick<Taxonomy, 'intent'> | null): number {
  return Math.min(confidenceCap(taxonomy?.intent), rigor);
}

/** Dissent: the genuine (non-sycophantic) challenges as `[model]: text`, joined by a blank line; null if none. */
export function formatDissent(challenges: readonly { model: string; text: string; sycophantic: boolean }[]): string | null {
  const genuine = challenges.filter((challenge) => !challenge.sycophantic);
  if (genuine.length === 0) return null;
  return genuine.map((challenge) => `[${challenge.model}]: ${challenge.text}`).join('\n\n');
}

/** Parse the classifier's reply into a taxonomy; `null` when no usable JSON object is found. */
export function parseTaxonomy(reply: string): Taxonomy | null {
  const object = extractJsonObject(reply);
  if (!object) return null;
  const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : value == null ? '' : String(value));
  const intent = text(object['intent']);
  const category = text(object['category']);
  if (!intent && !category) return null;
  // duh: genus is "" whenever the classifier's value is falsy (null, false, 0, "").
  return { intent, category, genus: object['genus'] ? text(object['genus']) : '' };
}
