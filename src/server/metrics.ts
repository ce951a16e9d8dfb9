// /metrics in Prometheus' text format. Requests, errors (by operation and code) and durations come
// from yoga's own plugin (@graphql-yoga/plugin-prometheus); events appended, open subscriptions,
// the database pool and AI generations are ours, on the same prom-client registry.
import { timingSafeEqual } from "node:crypto";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { createCounter, createHistogram, usePrometheus, type FillLabelsFnParams } from "@graphql-yoga/plugin-prometheus";
import { getOperationAST, type DocumentNode, type ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import type { LiveSubscriptions } from "../live/liveSubscriptions.ts";
import { eventsAppendedChannel, generationEndedChannel, type EventsAppended, type GenerationEnded } from "../analytics/signals.ts";
import { errorCodeOf } from "../graphql/errors.ts";

export const METRICS_ENDPOINT = "/metrics";

/**
 * Operation names are the clients' to choose: past this many distinct ones, the rest are counted
 * as "other", so that a client inventing names can't grow the metrics (and the memory) without end.
 */
const MAX_OPERATION_NAMES = 200;

/** Seconds; from a cached story page (a millisecond) to a long AI generation. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

export type MetricsOptions = {
  db: Database;
  live: LiveSubscriptions;
  /** /metrics wants `Authorization: Bearer <token>` */
  token?: string | undefined;
  /** production without a token: /metrics is not served (404) */
  production: boolean;
  /** the process's CPU, memory, event loop and GC too (once per process: the server's, not each test's) */
  processMetrics?: boolean;
};

export type Metrics = {
  readonly registry: Registry;
  /** the access check, then yoga's prometheus plugin (which also serves /metrics), then the errors' count */
  readonly plugins: Plugin[];
  /** counts the errors of an answer (WebSocket answers are not yoga's HTTP results: they come here from src/server/webSocket.ts) */
  countErrors(operationName: string | null | undefined, errors: readonly unknown[]): void;
  close(): void;
};

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const operationLabel = cappedLabel(MAX_OPERATION_NAMES);
  const operationLabels = (params: FillLabelsFnParams) => ({
    operationName: operationLabel(params.operationName),
    operationType: params.operationType ?? "unknown",
  });
  const operationLabelNames = ["operationName", "operationType"] as const;

  const prometheus = usePrometheus({
    registry,
    endpoint: METRICS_ENDPOINT,
    metrics: {
      graphql_envelop_request: createCounter({
        registry,
        counter: { name: "graphql_envelop_request", help: "GraphQL operations run, by operation", labelNames: operationLabelNames },
        fillLabelsFn: operationLabels,
      }),
      graphql_envelop_request_duration: createHistogram({
        registry,
        histogram: { name: "graphql_envelop_request_duration", help: "Time to run an operation (execute or subscribe), in seconds", labelNames: operationLabelNames, buckets: DURATION_BUCKETS },
        fillLabelsFn: operationLabels,
      }),
      // counted below from the answers themselves, with the code each error is answered with:
      // the plugin's counter sees no error of a validation, nor of an operation a plugin stopped
      graphql_envelop_error_result: false,
      graphql_yoga_http_duration: createHistogram({
        registry,
        histogram: {
          name: "graphql_yoga_http_duration",
          help: "Time to answer a GraphQL HTTP request, in seconds, by operation and status",
          labelNames: [...operationLabelNames, "method", "statusCode"],
          buckets: DURATION_BUCKETS,
        },
        // no URL label: GET queries carry the whole document in it
        fillLabelsFn: (params, context: { request: Request; response: Response }) => ({
          ...operationLabels(params),
          method: context.request.method,
          statusCode: context.response.status,
        }),
      }),
      // per phase, per resolver and as summaries they repeat the above many times over
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
    },
  });

  const errors = new Counter({
    name: "graphql_errors_total",
    help: "Errors in answers (HTTP, SSE and WebSocket), by operation and the code the client is answered (extensions.code)",
    labelNames: ["operationName", "code"],
    registers: [registry],
  });
  const countErrors = (operationName: string | null | undefined, found: readonly unknown[]) => {
    for (const error of found) errors.inc({ operationName: operationLabel(operationName ?? undefined), code: errorCodeOf(error) });
  };
  const eventsAppended = new Counter({ name: "story_spark_events_appended_total", help: "Events appended to story logs by this process, by type", labelNames: ["type"], registers: [registry] });
  const generations = new Counter({ name: "story_spark_ai_generations_total", help: "AI generations that ended, by model and outcome", labelNames: ["model", "outcome"], registers: [registry] });
  const aiCalls = new Counter({ name: "story_spark_ai_calls_total", help: "Calls to the AI provider (a repair is a second call), by model", labelNames: ["model"], registers: [registry] });
  const aiTokens = new Counter({ name: "story_spark_ai_tokens_total", help: "Tokens of AI calls, by model and kind (prompt, completion)", labelNames: ["model", "kind"], registers: [registry] });
  const aiCost = new Counter({ name: "story_spark_ai_cost_usd_total", help: "Cost of AI calls in US dollars, by model (models without a price add nothing)", labelNames: ["model"], registers: [registry] });

  const { live, db } = options;
  new Gauge({
    name: "story_spark_subscriptions_open",
    help: "Subscriptions open now, by transport (websocket, sse) and subscription field",
    labelNames: ["transport", "field"],
    registers: [registry],
    collect() {
      this.reset();
      for (const { transport, field, open } of live.openByKind()) this.set({ transport, field }, open);
    },
  });
  if (db.driver.kind === "postgres") {
    const pool = db.driver.pool;
    new Gauge({
      name: "story_spark_database_pool_connections",
      help: "PostgreSQL connections of this process's pool, by state (in_use, idle)",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        this.set({ state: "idle" }, pool.idleCount);
        this.set({ state: "in_use" }, pool.totalCount - pool.idleCount);
      },
    });
    new Gauge({
      name: "story_spark_database_pool_waiting",
      help: "Requests waiting for a pool connection",
      registers: [registry],
      collect() {
        this.set(pool.waitingCount);
      },
    });
    new Gauge({
      name: "story_spark_database_pool_max",
      help: "The pool's size (DATABASE_POOL_SIZE)",
      registers: [registry],
      collect() {
        this.set(pool.options.max ?? 10);
      },
    });
  }

  const onEvents = (message: unknown) => {
    for (const type of (message as EventsAppended).types) eventsAppended.inc({ type });
  };
  const onGeneration = (message: unknown) => {
    const generation = message as GenerationEnded;
    const model = generation.model;
    generations.inc({ model, outcome: generation.outcome });
    aiCalls.inc({ model }, generation.calls);
    aiTokens.inc({ model, kind: "prompt" }, generation.promptTokens);
    aiTokens.inc({ model, kind: "completion" }, generation.completionTokens);
    aiCost.inc({ model }, generation.costUsd ?? 0);
  };
  eventsAppendedChannel.subscribe(onEvents);
  generationEndedChannel.subscribe(onGeneration);

  return {
    registry,
    plugins: [useMetricsAccess(options.token, options.production), prometheus, useErrorCounting(countErrors)],
    countErrors,
    close() {
      eventsAppendedChannel.unsubscribe(onEvents);
      generationEndedChannel.unsubscribe(onGeneration);
    },
  };
}

/**
 * Who may read /metrics: with a token, whoever sends it as a bearer token; without one, anyone
 * in development and no one in production (operation names and traffic are not for the internet).
 */
function useMetricsAccess(token: string | undefined, production: boolean): Plugin {
  const expected = token ? Buffer.from(`Bearer ${token}`) : null;
  return {
    onRequest({ url, request, fetchAPI, endResponse }) {
      if (url.pathname !== METRICS_ENDPOINT) return;
      if (expected) {
        const given = Buffer.from(request.headers.get("authorization") ?? "");
        if (given.length === expected.length && timingSafeEqual(given, expected)) return;
        endResponse(new fetchAPI.Response("send the metrics token: Authorization: Bearer <METRICS_TOKEN>\n", { status: 401, headers: { "www-authenticate": "Bearer" } }));
        return;
      }
      if (production) endResponse(new fetchAPI.Response("not found\n", { status: 404 }));
    },
  };
}

/** Every HTTP answer's errors, as the client gets them (a stream's come one message at a time and are not counted here). */
function useErrorCounting(countErrors: Metrics["countErrors"]): Plugin {
  const operationOf = new WeakMap<Request, string>();
  return {
    onParse: ({ context }) => {
      const { request, params } = context as { request?: Request; params?: { operationName?: string | null } };
      return ({ result }) => {
        if (!request || !(result && typeof result === "object" && "kind" in result)) return;
        const name = getOperationAST(result as DocumentNode, params?.operationName)?.name?.value;
        if (name) operationOf.set(request, name);
      };
    },
    onResultProcess: ({ request, result }) => {
      if (Symbol.asyncIterator in Object(result)) return;
      const results = (Array.isArray(result) ? result : [result]) as ExecutionResult[];
      for (const one of results) if (one.errors?.length) countErrors(operationOf.get(request), one.errors);
    },
  };
}

function cappedLabel(max: number): (name: string | undefined) => string {
  const known = new Set<string>();
  return (name) => {
    if (!name) return "anonymous";
    if (known.has(name)) return name;
    if (known.size >= max) return "other";
    known.add(name);
    return name;
  };
}
