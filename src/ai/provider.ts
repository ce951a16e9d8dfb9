// One streamed Chat Completions call through the official SDK, with structured output;
// provider failures become our error codes. Retries of 429/5xx (honouring retry-after) are the SDK's.
import OpenAI from "openai";
import { StorySparkError } from "../domain/errors.ts";

export type ProviderMessage = { role: "system" | "user" | "assistant"; content: string };

export type CompletionRequest = {
  model: string;
  messages: ProviderMessage[];
  schemaName: string;
  jsonSchema: { [key: string]: unknown };
  responseFormat: "json_schema" | "json_object";
};

export type CompletionResult = {
  text: string;
  /** as the provider reported them; 0 when it reported none */
  promptTokens: number;
  completionTokens: number;
  finishReason: string | null;
};

/** Why a generation was stopped from our side. */
export type StopReason = "timeout" | "cancelled";

export async function streamCompletion(
  client: OpenAI,
  request: CompletionRequest,
  options: { signal: AbortSignal; timeoutMs: number; onDelta: (delta: string, text: string) => void },
): Promise<CompletionResult> {
  let text = "";
  let promptTokens = 0;
  let completionTokens = 0;
  let finishReason: string | null = null;
  try {
    const stream = await client.chat.completions.create(
      {
        model: request.model,
        messages: request.messages,
        stream: true,
        stream_options: { include_usage: true },
        response_format:
          request.responseFormat === "json_schema"
            ? { type: "json_schema", json_schema: { name: request.schemaName, schema: request.jsonSchema, strict: true } }
            : { type: "json_object" },
      },
      { signal: options.signal, timeout: Math.max(1, Math.round(options.timeoutMs)) },
    );
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      const delta = choice?.delta?.content ?? "";
      if (delta) {
        text += delta;
        options.onDelta(delta, text);
      }
      if (choice?.finish_reason) finishReason = choice.finish_reason;
      if (chunk.usage) {
        promptTokens = chunk.usage.prompt_tokens;
        completionTokens = chunk.usage.completion_tokens;
      }
    }
    if (finishReason === null) throw new StorySparkError("AI_PROVIDER_ERROR", "the model's answer ended before it was complete");
  } catch (error) {
    throw providerError(error, options.signal);
  }
  return { text, promptTokens, completionTokens, finishReason };
}

function providerError(error: unknown, signal: AbortSignal): StorySparkError {
  if (signal.aborted) {
    return (signal.reason as StopReason) === "cancelled"
      ? new StorySparkError("GENERATION_CANCELLED", "the generation was cancelled")
      : new StorySparkError("AI_TIMEOUT", "the model took too long to answer");
  }
  if (error instanceof StorySparkError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new StorySparkError("AI_TIMEOUT", "the model took too long to answer");
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    const what = error.status === 429 ? "the provider is rate limiting us" : `the provider answered ${error.status}`;
    return new StorySparkError("AI_PROVIDER_ERROR", `${what}: ${error.message}`, { providerStatus: error.status });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new StorySparkError("AI_PROVIDER_ERROR", `the connection to the provider failed: ${message}`);
}
