/**
 * Thread export formats (duh.md §5.6): duh's JSON document and its Markdown report. Votes sit where duh puts
 * them; subtasks, which duh's exports leave out, are an addition at the end of each (only when there are any).
 *
 * @module
 */
import type { StoredThread } from './storage.js';

/** The version string written in exports (duh's Python writes its own version there). */
const EXPORT_VERSION = 'duh-ts';

/**
 * duh's JSON export of one thread (snake_case fields, as the Python CLI and REST API write them): `votes` as
 * `{ model_ref, content }`, and, not in duh's layout, a `subtasks` array after them when the thread has any.
 */
export function threadToJson(thread: StoredThread, exportedAt: string): Record<string, unknown> {
  return {
    thread_id: thread.id,
    question: thread.question,
    status: thread.status,
    created_at: thread.createdAt,
    turns: thread.turns.map((turn) => ({
      round_number: turn.roundNumber,
      state: turn.state,
      contributions: turn.contributions.map((contribution) => ({
        model_ref: contribution.model,
        role: contribution.role,
        content: contribution.content,
        input_tokens: contribution.inputTokens,
        output_tokens: contribution.outputTokens,
        cost_usd: contribution.costUsd,
      })),
      decision: turn.decision
        ? { content: turn.decision.content, confidence: turn.decision.confidence, rigor: turn.decision.rigor, dissent: turn.decision.dissent }
        : null,
    })),
    votes: thread.votes.map((vote) => ({ model_ref: vote.model, content: vote.content })),
    ...(thread.subtasks.length > 0
      ? {
          subtasks: thread.subtasks.map((subtask) => ({
            label: subtask.label,
            description: subtask.description,
            dependencies: [...subtask.dependencies],
            status: subtask.status,
            sequence_order: subtask.sequenceOrder,
            child_thread_id: subtask.childThreadId,
            created_at: subtask.createdAt,
            updated_at: subtask.updatedAt,
          })),
        }
      : {}),
    exported_at: exportedAt,
  };
}

/** Options of {@link threadToMarkdown}. */
export interface MarkdownOptions {
  /** `full` adds every round's proposal, challenges and revision; `decision` stops after the dissent. @default 'full' */
  content?: 'full' | 'decision';
  /** @default true */
  includeDissent?: boolean;
  /** The export date, ISO. */
  exportedAt: string;
}

const percent = (value: number) => `${Math.round(value * 100)}%`;
const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * duh's Markdown report of one thread: decision, confidence and rigor, dissent, then (full) every round and the
 * votes (`### Votes`, as duh lays them out), then, not in duh's layout, the decomposition plan
 * (`### Subtasks`) when there is one. The footer's cost counts contributions and votes.
 */
export function threadToMarkdown(thread: StoredThread, options: MarkdownOptions): string {
  const lines: string[] = [`# Consensus: ${thread.question}`, ''];
  const final = [...thread.turns].reverse().find((turn) => turn.decision !== null)?.decision ?? null;
  if (final) lines.push('## Decision', final.content, '', `Confidence: ${percent(final.confidence)}  Rigor: ${percent(final.rigor)}`, '');
  if ((options.includeDissent ?? true) && final?.dissent) lines.push('## Dissent', final.dissent, '');
  if ((options.content ?? 'full') === 'full') {
    lines.push('---', '', '## Consensus Process', '');
    for (const turn of thread.turns) {
      lines.push(`### Round ${turn.roundNumber}`, '');
      const challenges = turn.contributions.filter((contribution) => contribution.role === 'challenger');
      for (const contribution of turn.contributions) {
        if (contribution.role === 'proposer') lines.push(`#### Proposal (${contribution.model})`, contribution.content, '');
        else if (contribution.role === 'challenger') {
          if (contribution === challenges[0]) {
            lines.push('#### Challenges');
            for (const challenge of challenges) lines.push(`**${challenge.model}**: ${challenge.content}`, '');
          }
        } else if (contribution.role === 'reviser') lines.push(`#### Revision (${contribution.model})`, contribution.content, '');
        else if (contribution.role !== 'classifier') lines.push(`#### ${capitalise(contribution.role)} (${contribution.model})`, contribution.content, '');
      }
    }
    if (thread.votes.length > 0) {
      lines.push('### Votes');
      for (const vote of thread.votes) lines.push(`**${vote.model}**: ${vote.content}`, '');
    }
    if (thread.subtasks.length > 0) {
      // Not in duh's report (it has no subtask section): one numbered item per subtask, in plan order.
      lines.push('### Subtasks');
      for (const [index, subtask] of thread.subtasks.entries()) {
        lines.push(`${index + 1}. **${subtask.label}** (${subtask.status}): ${subtask.description}`);
        if (subtask.dependencies.length > 0) lines.push(`   Depends on: ${subtask.dependencies.join(', ')}`);
        if (subtask.childThreadId !== null) lines.push(`   Thread: ${subtask.childThreadId}`);
      }
      lines.push('');
    }
    lines.push('---');
  }
  const cost =
    thread.turns.reduce((sum, turn) => sum + turn.contributions.reduce((subtotal, contribution) => subtotal + contribution.costUsd, 0), 0) +
    thread.votes.reduce((sum, vote) => sum + vote.costUsd, 0);
  lines.push(`*duh ${EXPORT_VERSION} | ${options.exportedAt.slice(0, 10)} | Cost: $${cost.toFixed(4)}*`);
  return lines.join('\n');
}
