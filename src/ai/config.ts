// AI provider settings (read from the environment by src/config.ts; README lists them), with a price table the operator can override.
import type { ModuleName } from "../domain/catalogue.ts";

/** US dollars per million tokens. */
export type Price = { input: number; output: number };

/**
 * Defaults, from the providers' public list prices when this was written; set AI_PRICES
 * to what you actually pay. A model missing here is recorded with tokens but no cost.
 */
export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  "gpt-4o-mini": { input: 0.15, output: 0.6 },
  "gpt-4o": { input: 2.5, output: 10 },
  "gpt-4.1": { input: 2, output: 8 },
  "gpt-4.1-mini": { input: 0.4, output: 1.6 },
  "gpt-4.1-nano": { input: 0.1, output: 0.4 },
  "gpt-5": { input: 1.25, output: 10 },
  "gpt-5-mini": { input: 0.25, output: 2 },
  "gpt-5-nano": { input: 0.05, output: 0.4 },
};

export type AiConfig = {
  apiKey: string | undefined;
  baseURL: string | undefined;
  defaultModel: string;
  modelFor: Partial<Record<ModuleName, string>>;
  /** a whole generation, retries included */
  timeoutMs: number;
  maxRetries: number;
  maxConcurrentPerUser: number;
  dailyTokenBudgetPerUser: number;
  prices: Readonly<Record<string, Price>>;
  /** AI_MODELS: the only models a client may ask for; null: the configured and priced ones (see allowedModels) */
  models: readonly string[] | null;
  /** json_schema (strict structured output) or json_object, for servers without the former */
  responseFormat: "json_schema" | "json_object";
};

/**
 * The models a client may choose in generateModule: the operator's AI_MODELS list when set;
 * otherwise the default model, the per-module ones and every model with a price, so that
 * whatever runs is one the operator chose, and its spend shows.
 */
export function allowedModels(config: Pick<AiConfig, "models" | "defaultModel" | "modelFor" | "prices">): ReadonlySet<string> {
  if (config.models !== null && config.models !== undefined) return new Set(config.models);
  return new Set([config.defaultModel, ...Object.values(config.modelFor).filter((m): m is string => !!m), ...Object.keys(config.prices)]);
}

export function costOf(prices: Readonly<Record<string, Price>>, model: string, promptTokens: number, completionTokens: number): number | null {
  const price = prices[model];
  if (!price) return null;
  return (promptTokens * price.input + completionTokens * price.output) / 1_000_000;
}
