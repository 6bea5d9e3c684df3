/**
 * Circuit breakers, one per model ref, shared by every run of a `Consensus`: after repeated failures that say
 * "the provider is down" a model's circuit opens and calls to it fail at once (so its fallback answers without
 * paying a timeout first); after a cooldown one probe call is let through (half-open) and its outcome closes
 * or re-opens the circuit.
 *
 * @module
 */
import type { ModelRef } from '../adapter.js';
import { ProviderError, type ProviderErrorKind } from '../errors.js';

/** Options of the per-model circuit breakers. */
export interface CircuitBreakerOptions {
  /** Consecutive outage-type failures that open a model's circuit. @default 5 */
  failureThreshold?: number;
  /** How long an open circuit rejects calls before letting one probe through, in milliseconds. @default 30000 */
  cooldownMs?: number;
}

/** A circuit's state. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** A snapshot of one model's circuit. */
export interface CircuitStatus {
  model: ModelRef;
  state: CircuitState;
  /** Consecutive outage-type failures counted so far. */
  failures: number;
  /** When an open circuit lets its next probe through (ms since the epoch). */
  retryAt: number | null;
}

/** A state change, reported as a `circuit-state` event. */
export interface CircuitChange {
  model: ModelRef;
  state: CircuitState;
  previous: CircuitState;
  failures: number;
  retryAt: number | null;
}

/** Failures that mean the provider is unavailable (as opposed to a bad key, a bad request or a rate limit). */
const OUTAGE_KINDS: ReadonlySet<ProviderErrorKind> = new Set(['server', 'overloaded', 'network', 'timeout', 'truncated']);

interface Circuit {
  state: CircuitState;
  failures: number;
  retryAt: number;
  probing: boolean;
}

/** The breakers of one `Consensus`. */
export class CircuitBreakers {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #circuits = new Map<ModelRef, Circuit>();

  constructor(options: Required<CircuitBreakerOptions>) {
    this.#threshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
  }

  /**
   * Ask to call `model` now. Returns `undefined` when the call may go ahead (possibly as the half-open probe),
   * or the error to fail it with at once when the circuit is open. `onChange` hears a move to half-open.
   */
  acquire(model: ModelRef, now: number, onChange: (change: CircuitChange) => void): ProviderError | undefined {
    const circuit = this.#circuits.get(model);
    if (!circuit || circuit.state === 'closed') return undefined;
    if (circuit.state === 'open' && now >= circuit.retryAt) {
      circuit.state = 'half-open';
      onChange({ model, state: 'half-open', previous: 'open', failures: circuit.failures, retryAt: null });
    }
    if (circuit.state === 'half-open' && !circuit.probing) {
      circuit.probing = true;
      return undefined;
    }
    const [provider, ...rest] = model.split(':');
    const wait = Math.max(0, circuit.retryAt - now);
    return new ProviderError(
      { provider: provider ?? model, model: rest.join(':'), kind: 'circuit-open', retryable: false },
      `Circuit open after ${circuit.failures} consecutive failures; calls resume with a probe in ${Math.ceil(wait / 1000)} s. ` +
        'Its fallback (if any) answers meanwhile; tune `circuitBreaker` to change this.',
    );
  }

  /** Give back a half-open probe slot without judging the provider (the call was cancelled). */
  release(model: ModelRef): void {
    const circuit = this.#circuits.get(model);
    if (circuit) circuit.probing = false;
  }

  /** Record a successful call: closes the circuit. */
  success(model: ModelRef, onChange: (change: CircuitChange) => void): void {
    const circuit = this.#circuits.get(model);
    if (!circuit) return;
    const previous = circuit.state;
    this.#circuits.delete(model);
    if (previous !== 'closed') onChange({ model, state: 'closed', previous, failures: 0, retryAt: null });
  }

  /**
   * Record a failed call; outage-type failures count towards opening the circuit. Returns true when the circuit
   * is open afterwards (so retrying the same model now is pointless).
   */
  failure(model: ModelRef, error: unknown, now: number, onChange: (change: CircuitChange) => void): boolean {
    if (!ProviderError.isInstance(error) || !OUTAGE_KINDS.has(error.kind)) {
      // Not an outage: release a probe slot without judging the provider.
      const circuit = this.#circuits.get(model);
      if (circuit) circuit.probing = false;
      return false;
    }
    const circuit = this.#circuits.get(model) ?? { state: 'closed' as CircuitState, failures: 0, retryAt: 0, probing: false };
    this.#circuits.set(model, circuit);
    circuit.failures++;
    const previous = circuit.state;
    if (previous === 'half-open' || (previous === 'closed' && circuit.failures >= this.#threshold)) {
      circuit.state = 'open';
      circuit.retryAt = now + this.#cooldownMs;
      circuit.probing = false;
      onChange({ model, state: 'open', previous, failures: circuit.failures, retryAt: circuit.retryAt });
    }
    return circuit.state === 'open';
  }

  /** Every circuit that is not plainly closed with no failures. */
  snapshot(): CircuitStatus[] {
    return [...this.#circuits].map(([model, circuit]) => ({
      model,
      state: circuit.state,
      failures: circuit.failures,
      retryAt: circuit.state === 'open' ? circuit.retryAt : null,
    }));
  }
}
