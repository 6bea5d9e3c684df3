/**
 * Prompts for the consensus phases (duh §1.4, §1.5, §1.7, §1.9, §1.10), written by the same intent in our own
 * words. Every debate prompt is: date grounding + role + reply-budget note.
 *
 * @module
 */
import type { ChatMessage } from '../adapter.js';
import type { ChallengeFraming } from '../record.js';

/** "Today's date is YYYY-MM-DD." plus an instruction to anchor time-sensitive claims in it (UTC date). */
export function dateGrounding(now: Date): string {
  // The UTC day number decides; the text is built once per day (every prompt of a run asks).
  const dayNumber = Math.floor(now.getTime() / 86_400_000);
  if (dayNumber === lastGrounding.dayNumber) return lastGrounding.text;
  lastGrounding = { dayNumber, text: groundingFor(now.toISOString().slice(0, 10)) };
  return lastGrounding.text;
}

let lastGrounding = { dayNumber: Number.NaN, text: '' };

function groundingFor(day: string): string {
  return (
    `Today's date is ${day}. Anchor anything time-sensitive (timeframes, technologies, markets, prices, costs) ` +
    'to this date and use concrete, current information rather than what was true years ago.'
  );
}

/** Tells the model its reply budget (with thousands separators) and to finish on a complete thought. */
export function tokenBudgetNote(maxOutputTokens: number): string {
  let note = budgetNotes.get(maxOutputTokens);
  if (note === undefined) {
    note = budgetNoteFor(maxOutputTokens);
    if (budgetNotes.size < 64) budgetNotes.set(maxOutputTokens, note);
  }
  return note;
}

const budgetNotes = /*@__PURE__*/ new Map<number, string>();

function budgetNoteFor(maxOutputTokens: number): string {
  return (
    `\n\nYour reply has a budget of about ${maxOutputTokens.toLocaleString('en-US')} tokens. ` +
    'Be thorough but concise: lead with the points that matter most, and end on a complete thought rather than being cut off.'
  );
}

function system(now: Date, role: string, maxOutputTokens: number): ChatMessage {
  return { role: 'system', content: `${dateGrounding(now)}\n\n${role}${tokenBudgetNote(maxOutputTokens)}` };
}

const PROPOSER_ROLE =
  'You are an expert advisor. Answer the question thoroughly: weigh the different angles, the trade-offs and the ' +
  'practical consequences. Be specific, with examples, numbers and the reasoning behind them. Do not hedge and do ' +
  'not fall back on generic advice; commit to a recommendation.';

/** What the previous round concluded, carried into the next round's proposal. */
export interface PreviousRound {
  decision: string;
  challenges: readonly string[];
}

/** PROPOSE: round 1 is the bare question; later rounds add the previous decision and its challenges. */
export function buildProposeMessages(input: {
  question: string;
  now: Date;
  maxOutputTokens: number;
  previous?: PreviousRound | undefined;
}): ChatMessage[] {
  let user = input.question;
  if (input.previous) {
    const challenges = input.previous.challenges.map((challenge) => `- ${challenge}`).join('\n');
    user =
      `${input.question}\n\nThe previous round reached this answer:\n${input.previous.decision}\n\n` +
      `Reviewers raised these challenges against it:\n${challenges}\n\n` +
      'Write an improved answer that deals with every valid challenge and keeps what was right.';
  }
  return [system(input.now, PROPOSER_ROLE, input.maxOutputTokens), { role: 'user', content: user }];
}

const NO_PRAISE =
  'You MUST NOT open with praise, agreement or compliments of any kind. Your first sentence MUST state a criticism directly.';

const FRAMING_ROLES: Readonly<Record<ChallengeFraming, string>> = {
  flaw:
    'You are a rigorous analyst reviewing another expert\'s answer. You MUST find at least one substantive factual or ' +
    'logical error in it. For each one, say what is wrong, why it matters, and what the correct information is. Use ' +
    `concrete specifics, counter-examples and numbers. ${NO_PRAISE}`,
  alternative:
    'You are a creative strategist reviewing another expert\'s answer. You MUST propose at least one fundamentally ' +
    'different approach that could be better. Explain when it wins, and what it costs. Think laterally rather than ' +
    `refining the original. ${NO_PRAISE}`,
  risk:
    'You are a risk analyst reviewing another expert\'s answer. You MUST identify at least two concrete risks it does ' +
    'not address. For each: the scenario, how likely it is, its impact, and a mitigation. Consider edge cases, scale, ' +
    `security, dependencies and second-order effects. ${NO_PRAISE}`,
  'devils-advocate':
    'You are a devil\'s advocate. You MUST argue the strongest possible case that the answer\'s recommendation is ' +
    'wrong: if it says X, argue for not-X, as if you believed it, with evidence and logic. A good first sentence ' +
    `starts with "I disagree". ${NO_PRAISE}`,
};

/** CHALLENGE: a framing-specific critic role, and the answer to critique labelled as something not to defer to. */
export function buildChallengeMessages(input: {
  question: string;
  proposal: string;
  framing: ChallengeFraming;
  now: Date;
  maxOutputTokens: number;
}): ChatMessage[] {
  const user =
    `Question: ${input.question}\n\nAnother expert answered as follows. Your job is to challenge this answer, not to ` +
    `defer to it or agree with it:\n\n${input.proposal}`;
  return [system(input.now, FRAMING_ROLES[input.framing], input.maxOutputTokens), { role: 'user', content: user }];
}

const REVISER_ROLE =
  'You answered a question and independent experts challenged your answer. Write the improved final answer: ' +
  '(1) address every valid challenge, (2) keep the points that were right and justify them better, (3) fold in ' +
  'useful new perspectives, and (4) push back, with reasons, on challenges that are wrong. Present it as your own ' +
  'final answer; do not mention the review or the debate.';

/** REVISE: the original answer and every challenge as `Challenge from <model>:` blocks. */
export function buildReviseMessages(input: {
  question: string;
  proposal: string;
  challenges: readonly { model: string; text: string }[];
  now: Date;
  maxOutputTokens: number;
}): ChatMessage[] {
  const blocks = input.challenges.map((challenge) => `Challenge from ${challenge.model}:\n${challenge.text}`).join('\n\n');
  const user =
    `Question: ${input.question}\n\nYour original answer:\n${input.proposal}\n\n${blocks}\n\n` +
    'Now write your improved final answer.';
  return [system(input.now, REVISER_ROLE, input.maxOutputTokens), { role: 'user', content: user }];
}

/** COMMIT: ask the cheapest model to classify the decision as a JSON object. */
export function buildTaxonomyMessages(input: { question: string; decision: string }): ChatMessage[] {
  const user =
    'Classify the question and decision below. Reply with a JSON object only, no prose, with these keys:\n' +
    '- "intent": exactly one of "factual", "judgment", "creative", "strategic", "technical"\n' +
    '- "category": a short topic label (one to three words)\n' +
    '- "genus": a finer label within the category, or null\n\n' +
    `Question: ${input.question}\n\nDecision: ${input.decision}`;
  return [{ role: 'user', content: user }];
}
