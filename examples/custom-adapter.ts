// A model adapter for any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, LM Studio, ...),
// written against the ModelAdapter contract in about 80 lines. duh's built-in adapters follow the same contract.
import { type GenerateRequest, type ModelAdapter, ProviderError, ProviderRateLimitError, type StreamPart } from 'duh';

export interface CompatibleOptions {
  baseURL: string; // e.g. 'https://api.openai.com/v1' or 'http://localhost:11434/v1'
  apiKey?: string;
  provider?: string;
  fetch?: typeof globalThis.fetch;
  prices?: { input: number; output: number }; // $ per million tokens
}

const isAbort = (error: unknown) => error instanceof Error && error.name === 'AbortError';

export function openAICompatible(modelId: string, options: CompatibleOptions): ModelAdapter {
  const provider = options.provider ?? 'openai-compatible';
  const fields = { provider, model: modelId };
  const fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  // Network failures (refused, reset, cut mid-stream) are worth retrying; duh retries `retryable` errors.
  const network = (error: unknown): never => {
    if (isAbort(error)) throw error;
    throw new ProviderError({ ...fields, retryable: true }, `Network error: ${(error as Error).message}`, { cause: error });
  };

  async function* stream(request: GenerateRequest, { signal }: { signal?: AbortSignal } = {}): AsyncGenerator<StreamPart> {
    const response = await fetcher(`${options.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
      body: JSON.stringify({
        model: modelId, messages: request.messages, max_completion_tokens: request.maxOutputTokens,
        temperature: request.temperature, stream: true, stream_options: { include_usage: true },
        ...(request.responseFormat === 'json' ? { response_format: { type: 'json_object' } } : {}),
      }),
      ...(signal ? { signal } : {}),
    }).catch(network);
    if (response.status === 429) {
      const header = response.headers.get('retry-after');
      const seconds = header === null ? NaN : Number(header);
      throw new ProviderRateLimitError({ ...fields, ...(Number.isFinite(seconds) ? { retryAfterMs: seconds * 1000 } : {}) });
    }
    if (!response.ok || !response.body) throw new ProviderError({ ...fields, status: response.status }, `HTTP ${response.status}: ${await response.text()}`);
    let usage = { inputTokens: 0, outputTokens: 0 };
    let finish: StreamPart | undefined;
    let buffer = '';
    const text = response.body.pipeThrough(new TextDecoderStream());
    for await (const bytes of (async function* () { try { yield* text; } catch (error) { network(error); } })()) {
      buffer += bytes;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const data = line.startsWith('data:') ? line.slice(5).trim() : '';
        if (!data || data === '[DONE]') continue;
        const chunk = JSON.parse(data) as {
          choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
          usage?: { prompt_tokens: number; completion_tokens: number };
        };
        const choice = chunk.choices?.[0];
        if (choice?.delta?.content) yield { type: 'text-delta', text: choice.delta.content };
        if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        if (choice?.finish_reason) {
          const reasons = { length: 'length', content_filter: 'content-filter', tool_calls: 'tool-calls' } as const;
          const reason = reasons[choice.finish_reason as keyof typeof reasons] ?? 'stop';
          finish = { type: 'finish', usage, finishReason: reason };
        }
      }
    }
    // No finish_reason means the stream was cut: yield nothing more and duh treats it as a truncation.
    if (finish?.type === 'finish') yield { ...finish, usage };
  }

  return {
    specificationVersion: 'v1', provider, modelId,
    info: {
      provider, modelId, displayName: modelId, contextWindow: 128_000, maxOutputTokens: 16_384,
      inputPricePerMTok: options.prices?.input ?? 0, outputPricePerMTok: options.prices?.output ?? 0,
      proposerEligible: true, capabilities: ['text', 'streaming', 'json', 'system-prompt'],
    },
    stream,
    async generate(request, callOptions) {
      let text = '';
      for await (const part of stream(request, callOptions)) {
        if (part.type === 'text-delta') text += part.text;
        else if (part.type === 'finish') return { text, usage: part.usage, finishReason: part.finishReason };
      }
      throw new ProviderError(fields, 'The stream ended without a finish reason.');
    },
  };
}
