/**
 * Who speaks (duh §1.6, §1.7): the proposer, the challengers and their framings, and the cheapest model for
 * housekeeping calls (taxonomy).
 *
 * All functions are pure and keep the input order for ties ("first wins"), so selection is deterministic
 * given the order models were passed in.
 *
 * @module
 */
import type { ModelInfo, ModelRef } from '../adapter.js';
import { InsufficientModelsError } from '../errors.js';
import { CHALLENGE_FRAMINGS, type ChallengeFraming } from '../record.js';

/** A model as selection sees it. */
export interface Candidate {
  ref: ModelRef;
  info: Pick<ModelInfo, 'provider' | 'inputPricePerMTok' | 'outputPricePerMTok' | 'proposerEligible'>;
}

function applyPanel<T extends Candidate>(models: readonly T[], panel: readonly string[] | undefined): T[] {
  return panel ? models.filter((model) => panel.includes(model.ref)) : [...models];
}

/** The first model with the largest `key` (stable: earlier wins ties). */
function maxBy<T>(items: readonly T[], key: (item: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) if (best === undefined || key(item) > key(best)) best = item;
  return best;
}

/**
 * The proposer: among models in the panel (all when no panel), drop those not proposer-eligible, then take the
 * highest output price — price as a proxy for capability. Ties go to the earlier model.
 */
export function selectProposer<T extends Candidate>(models: readonly T[], panel?: readonly string[]): T {
  const pool = applyPanel(models, panel);
  if (pool.length === 0) throw new InsufficientModelsError('No models available for proposal. Pass at least one model in `models` (and in `panel`, if set).');
  const eligible = pool.filter((model) => model.info.proposerEligible);
  const best = maxBy(eligible, (model) => model.info.outputPricePerMTok);
  if (!best) {
    throw new InsufficientModelsError(
      `No proposer-eligible models available among ${pool.map((model) => model.ref).join(', ')}. Add a proposer-eligible model or pass \`proposer\`.`,
    );
  }
  return best;
}

/**
 * The challengers for `proposer`: other-provider models first, at most one per provider, then the remaining
 * other-provider models, then same-provider models (each group by output price, highest first), and finally
 * the proposer itself (self-critique) until `count` is reached. Challenger-only models are welcome here.
 */
export function selectChallengers<T extends Candidate>(
  models: readonly T[],
  proposer: T,
  count: number,
  panel?: readonly string[],
): T[] {
  const pool = applyPanel(models, panel);
  if (pool.length === 0) throw new InsufficientModelsError('No models available for challenge. Check the `panel` option.');
  const byPrice = (list: T[]) => list.map((model, index) => ({ model, index }))
    .sort((a, b) => b.model.info.outputPricePerMTok - a.model.info.outputPricePerMTok || a.index - b.index)
    .map(({ model }) => model);
  const others = pool.filter((model) => model.ref !== proposer.ref);
  const crossProvider = byPrice(others.filter((model) => model.info.provider !== proposer.info.provider));
  const sameProvider = byPrice(others.filter((model) => model.info.provider === proposer.info.provider));

  const chosen: T[] = [];
  const seenProviders = new Set<string>();
  for (const model of crossProvider) {
    if (chosen.length >= count) break;
    if (seenProviders.has(model.info.provider)) continue;
    seenProviders.add(model.info.provider);
    chosen.push(model);
  }
  for (const model of [...crossProvider, ...sameProvider]) {
    if (chosen.length >= count) break;
    if (!chosen.includes(model)) chosen.push(model);
  }
  while (chosen.length < count) chosen.push(proposer);
  return chosen;
}

/** The framing for challenger `index`, rotating through `order` (flaw → alternative → risk → devil's advocate). */
export function framingFor(index: number, order: readonly ChallengeFraming[] = CHALLENGE_FRAMINGS): ChallengeFraming {
  return order[index % order.length] ?? 'flaw';
}

/** The cheapest model by input price (earlier wins ties), for taxonomy and other housekeeping calls. */
export function selectCheapest<T extends Candidate>(models: readonly T[]): T | undefined {
  return maxBy(models, (model) => -model.info.inputPricePerMTok);
}
