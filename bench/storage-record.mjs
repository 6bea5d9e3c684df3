// The record that G11 and G12 write: what the engine stores for one run of one round. createThread (a ~300 B
// question) then appendTurn of round 1 with 5 contributions of ~2 KB (proposer, 3 challengers, reviser) and the
// decision (~2 KB text, dissent, taxonomy). Thread ids are UUIDv7, built as duh builds them. Records are built
// before timing starts, so only the writes are timed.
import { contribution } from './lib.mjs';

/**
 * UUIDv7 as `src/internal/ids.ts` builds it: 48-bit ms timestamp, version 7, a 12-bit counter within the
 * millisecond (seeded randomly each millisecond), the rest from a random v4. Ids sort in the order they were made.
 */
let lastTime = -1;
let sequence = 0;
export function uuidv7(now = Date.now()) {
  let time = Math.max(0, Math.floor(now));
  if (time <= lastTime) {
    time = lastTime;
    if (++sequence > 0xfff) {
      time = ++lastTime;
      sequence = 0;
    }
  } else {
    lastTime = time;
    sequence = Math.floor(Math.random() * 0x800);
  }
  const hex = time.toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7${sequence.toString(16).padStart(3, '0')}${crypto.randomUUID().slice(18)}`;
}

const MODELS = ['openai:gpt-5.2', 'anthropic:claude-opus-4-6', 'google:gemini-3-pro-preview', 'mistral:mistral-large-latest', 'openai:gpt-5.2'];
const ROLES = ['proposer', 'challenger', 'challenger', 'challenger', 'reviser'];
const FRAMINGS = ['flaw', 'alternative', 'risk'];

/** Roughly what one record holds (for the section header). */
export const RECORD_SHAPE = '1 thread (300 B question) + 1 turn: 5 contributions × 2 KB + 2 KB decision, dissent, taxonomy';

/** One record: `{ thread: NewThread, turn: StoredTurn }`, distinct text per record (seeded). */
export function makeRecord(i, now = Date.now()) {
  const at = new Date(now).toISOString();
  const question = contribution(300, i).replace(/^Position \d+: /, 'Question: ');
  const contributions = ROLES.map((role, k) => ({
    model: MODELS[k],
    role,
    content: contribution(2048, i * 7 + k),
    inputTokens: 900 + k,
    outputTokens: 500 + k,
    costUsd: 0.0123,
    latencyMs: 2345,
    finishReason: 'stop',
    truncated: false,
    ...(role === 'challenger' ? { framing: FRAMINGS[k - 1], sycophantic: false } : {}),
  }));
  return {
    thread: { id: uuidv7(now), question, protocol: 'consensus', userId: null, createdAt: at },
    turn: {
      roundNumber: 1,
      state: 'COMMIT',
      contributions,
      decision: {
        content: contribution(2048, i * 13 + 5),
        confidence: 0.82,
        rigor: 0.75,
        dissent: `[${MODELS[3]}]: ${contribution(200, i)}`,
        taxonomy: { intent: 'strategic', category: 'software architecture', genus: 'build-vs-split decision' },
      },
      createdAt: at,
      completedAt: at,
    },
  };
}

/** `count` records with ids one ms apart (time-ordered, like a stream of runs), built up front. */
export function makeRecords(count, start = Date.now()) {
  return Array.from({ length: count }, (_, i) => makeRecord(i, start + i));
}

export const SCOPE = { tenant: 'default' };


/**
 * The same record as the engine writes it, phase by phase: `first` (round 1 at PROPOSE, the proposal) for
 * startThread, then the CHALLENGE (three challenges), REVISE (the revision) and COMMIT (the decision) phases for
 * appendPhase. Every phase is stamped with the turn's time, so the stored thread equals the one-call record's.
 */
export function phaseWrites({ turn }) {
  const [proposal, ...rest] = turn.contributions;
  const challenges = rest.slice(0, -1);
  const revision = rest.at(-1);
  const at = turn.createdAt;
  return {
    first: { roundNumber: 1, state: 'PROPOSE', contributions: [proposal], decision: null, createdAt: at, completedAt: at },
    phases: [
      { roundNumber: 1, state: 'CHALLENGE', contributions: challenges, decision: null, at },
      { roundNumber: 1, state: 'REVISE', contributions: [revision], decision: null, at },
      { roundNumber: 1, state: 'COMMIT', contributions: [], decision: turn.decision, at },
    ],
  };
}
