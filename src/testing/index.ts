/**
 * `duh/testing`: test doubles for code that uses duh, and for the engine's own tests.
 *
 * - {@link MockAdapter}: a scripted model (canned or computed replies, usage, latency, streamed chunks,
 *   injected failures) that records every request.
 * - {@link ManualClock}: a clock that waits only when told, for retry and timeout tests.
 * - {@link demoPanel}: four scripted models with real catalog names and prices that stage a believable debate;
 *   the CLI's offline demo runs on it.
 *
 * @module
 */
export { MockAdapter } from './mock-adapter.js';
export type { MockAdapterOptions, MockCall, MockCallContext, MockReply, MockResponder } from './mock-adapter.js';
export { ManualClock } from './manual-clock.js';
export type { ManualClockOptions } from './manual-clock.js';
export { demoPanel } from './demo-panel.js';
export type { DemoPanelOptions } from './demo-panel.js';
export { CONFORMANCE_TOOL, modelAdapterConformance, storageDriverConformance } from './conformance.js';
export type { AdapterScenarios, ConformanceCase, ModelAdapterConformanceOptions, StorageDriverConformanceOptions } from './conformance.js';
export { rateLimitStoreConformance, type RateLimitStoreConformanceOptions } from './limiter-conformance.js';
