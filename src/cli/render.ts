/**
 * Turns a run's events into terminal output: live progress on a TTY (a status line with the round, phase,
 * who is thinking, challenge tags and running cost), plain lines when piped.
 *
 * @module
 */
import type { ConsensusEvent } from '../events.js';
import type { ConsensusResult } from '../record.js';

/** Where the renderer writes. */
export interface Output {
  write(text: string): void;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const PREVIEW_CHARS = 500;

const style = (enabled: boolean) => {
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    blue: wrap(34, 39),
    magenta: wrap(35, 39),
    cyan: wrap(36, 39),
    red: wrap(31, 39),
  };
};

const usd = (value: number) => `$${value.toFixed(4)}`;
const percent = (value: number) => `${Math.round(value * 100)}%`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const preview = (text: string) => {
  const flat = text.trim();
  return flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS)}…` : flat;
};
const indent = (text: string) => text.split('\n').map((line) => `  ${line}`).join('\n');

/** Renders events as they arrive. Call {@link handle} per event and {@link stop} when the run ends. */
export class ProgressRenderer {
  readonly #out: Output;
  readonly #live: boolean;
  readonly #s: ReturnType<typeof style>;
  #status = '';
  #frame = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #round = 0;
  #maxRounds = 0;
  #phase = '';
  #thinking = new Set<string>();
  #spent = 0;
  #roundStarted = 0;
  #roundModels = new Set<string>();

  /** `live` (a TTY): a redrawn status line instead of per-phase lines; `color`: ANSI colours. */
  constructor(out: Output, { live, color }: { live: boolean; color: boolean }) {
    this.#out = out;
    this.#live = live;
    this.#s = style(color);
    if (live) {
      this.#timer = setInterval(() => this.#draw(), 80);
      this.#timer.unref?.();
    }
  }

  /** Print a line above the status line. */
  line(text: string): void {
    this.#clear();
    this.#out.write(`${text}\n`);
    this.#draw();
  }

  handle(event: ConsensusEvent): void {
    const s = this.#s;
    switch (event.type) {
      case 'run-start':
        this.#maxRounds = event.maxRounds;
        this.line(`${s.bold('Question:')} ${event.question}`);
        this.line(s.dim(`Models: ${event.models.join(', ')}`));
        break;
      case 'round-start':
        this.#round = event.round;
        this.#roundStarted = event.time;
        this.#roundModels.clear();
        this.line('');
        this.line(s.bold(`── Round ${event.round}/${event.maxRounds} ──`));
        break;
      case 'phase-start':
        this.#phase = event.phase;
        if (!this.#live) this.line(`[round ${event.round}/${this.#maxRounds}] ${event.phase}: ${event.models.join(', ') || '-'}`);
        break;
      case 'member-start':
        this.#thinking.add(event.model);
        this.#roundModels.add(event.model);
        this.#draw();
        break;
      case 'member-end': {
        this.#thinking.delete(event.model);
        const facts = s.dim(`(${seconds(event.latencyMs)}, ${usd(event.costUsd)}${event.truncated ? ', cut at the token limit' : ''})`);
        if (event.phase === 'propose') this.line(`${s.green('PROPOSE')} ${event.model} ${facts}\n${indent(preview(event.text))}`);
        else if (event.phase === 'revise') this.line(`${s.blue('REVISE')} ${event.model} ${facts}\n${indent(preview(event.text))}`);
        else if (event.phase === 'commit') this.line(s.dim(`classified by ${event.model} ${facts}`));
        break;
      }
      case 'challenge': {
        const tag = event.sycophantic ? ` ${s.yellow('[sycophantic]')}` : '';
        this.line(`${s.yellow('CHALLENGE')} ${s.magenta(`[${event.framing}]`)} ${event.model}${tag}\n${indent(preview(event.text))}`);
        break;
      }
      case 'member-error': {
        this.#thinking.delete(event.model);
        const next = event.willRetry ? `retrying in ${seconds(event.retryInMs ?? 0)}` : event.fallbackTo ? `falling back to ${event.fallbackTo}` : 'giving up on this member';
        this.line(s.red(`! ${event.model} failed (${event.error.message}); ${next}`));
        break;
      }
      case 'cost':
        this.#spent = event.totalUsd;
        this.#draw();
        break;
      case 'cost-warning':
        this.line(s.yellow(`! ${event.message}`));
        break;
      case 'commit': {
        const taxonomy = event.taxonomy ? s.dim(` · ${event.taxonomy.intent}/${event.taxonomy.category}`) : '';
        this.line(`${s.cyan('COMMIT')} confidence ${percent(event.confidence)} · rigor ${percent(event.rigor)}${taxonomy}`);
        break;
      }
      case 'round-end':
        this.line(s.dim(`Round ${event.round}/${this.#maxRounds} | ${this.#roundModels.size} models | ${usd(this.#spent)} | ${seconds(event.time - this.#roundStarted)}${event.converged ? ' | converged' : ''}`));
        break;
      default:
        break;
    }
  }

  /** Clear the status line and stop redrawing. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  #clear(): void {
    if (this.#live && this.#status) {
      this.#out.write('\r\x1b[2K');
      this.#status = '';
    }
  }

  #draw(): void {
    if (!this.#live || !this.#timer || this.#round === 0) return;
    const who = [...this.#thinking].join(', ');
    const spinner = SPINNER[this.#frame++ % SPINNER.length];
    const status = `${spinner} Round ${this.#round}/${this.#maxRounds} · ${this.#phase.toUpperCase()}${who ? ` · ${who} thinking…` : ''} · ${usd(this.#spent)}`;
    this.#out.write(`\r\x1b[2K${this.#s.dim(status)}`);
    this.#status = status;
  }
}

/** The final report: decision, confidence, rigor, dissent, cost. */
export function formatResult(result: ConsensusResult, options: { color: boolean; demo: boolean }): string {
  const s = style(options.color);
  const lines = [
    '',
    s.bold('Decision'),
    result.decision.trim(),
    '',
    `${s.bold('Confidence')} ${percent(result.confidence)} · ${s.bold('Rigor')} ${percent(result.rigor)} · ` +
      `${result.rounds.length} round(s) · ${result.converged ? 'converged' : `stopped: ${result.stopReason}`}`,
  ];
  if (result.taxonomy) lines.push(`${s.bold('Taxonomy')} ${result.taxonomy.intent} / ${result.taxonomy.category}${result.taxonomy.genus ? ` / ${result.taxonomy.genus}` : ''}`);
  if (result.dissent) lines.push('', s.bold('Dissent'), result.dissent);
  lines.push(
    '',
    `${s.bold('Cost')} ${usd(result.cost.totalUsd)} (${result.usage.calls} calls, ${result.usage.inputTokens} in / ${result.usage.outputTokens} out tokens)` +
      (options.demo ? s.dim(' at catalog prices; scripted, nothing billed') : ''),
    s.dim(`Thread ${result.threadId}`),
  );
  return `${lines.join('\n')}\n`;
}
