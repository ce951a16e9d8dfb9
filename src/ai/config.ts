// AI provider settings, read from the environment (README lists them), with a price table the operator can override.
import type { ModuleName } from "../domain/catalogue.ts";
import { MODULES } from "../domain/catalogue.ts";

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

export function readAiConfig(env: NodeJS.ProcessEnv = process.env): AiConfig {
  const modelFor: Partial<Record<ModuleName, string>> = {};
  for (const m of MODULES) {
    const value = env[`AI_MODEL_${m.name}`];
    if (value) modelFor[m.name] = value;
  }
  const format = env.AI_RESPONSE_FORMAT || "json_schema";
  if (format !== "json_schema" && format !== "json_object") throw new Error(`AI_RESPONSE_FORMAT must be json_schema or json_object, got "${format}"`);
  return {
    apiKey: env.OPENAI_API_KEY || undefined,
    baseURL: env.OPENAI_BASE_URL || undefined,
    defaultModel: env.AI_MODEL || "gpt-4o-mini",
    modelFor,
    timeoutMs: positive(env, "AI_TIMEOUT_MS", 120_000),
    maxRetries: positive(env, "AI_MAX_RETRIES", 2, true),
    maxConcurrentPerUser: positive(env, "AI_MAX_CONCURRENT_PER_USER", 2),
    dailyTokenBudgetPerUser: positive(env, "AI_DAILY_TOKEN_BUDGET", 500_000),
    prices: { ...DEFAULT_PRICES, ...parsePrices(env.AI_PRICES) },
    models: parseModels(env.AI_MODELS),
    responseFormat: format,
  };
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, zeroAllowed = false): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1)) throw new Error(`${name} must be a whole number${zeroAllowed ? "" : " above 0"}, got "${raw}"`);
  return value;
}

function parsePrices(raw: string | undefined): Record<string, Price> {
  if (!raw) return {};
  const parsed: unknown = JSON.parse(raw);
  const prices: Record<string, Price> = {};
  for (const [model, price] of Object.entries(parsed as Record<string, unknown>)) {
    const p = price as Partial<Price>;
    if (typeof p?.input !== "number" || typeof p?.output !== "number") {
      throw new Error(`AI_PRICES: "${model}" needs {"input": USD per 1M tokens, "output": USD per 1M tokens}`);
    }
    prices[model] = { input: p.input, output: p.output };
  }
  return prices;
}

function parseModels(raw: string | undefined): string[] | null {
  if (raw === undefined || raw.trim() === "") return null;
  const models = raw.split(",").map((m) => m.trim()).filter((m) => m !== "");
  if (models.length === 0) throw new Error(`AI_MODELS must list model names separated by commas, got "${raw}"`);
  return models;
}

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
