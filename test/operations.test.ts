// What an operator sees: /health (alive), /readiness (database, migrations, Redis: 503 when one
// is away, 200 again when it is back), /metrics in Prometheus' format, an access log line per
// request, a server that starts while its database or Redis is away, and OpenTelemetry traces.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateStory, GenerateModule, StoryEventsFeed, Undo, WriteModule } from "./support/documents.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient } from "./support/live.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { backend, createTestDatabase } from "./support/databases.ts";
import { databaseEnv, freePort, startServerProcess } from "./support/processes.ts";
import { throwawayRedis } from "./support/redis.ts";
import { tcpProxy } from "./support/tcpProxy.ts";

type ReadinessBody = { status: string; checks: Record<string, { ok: boolean; detail?: string }> };

const base = (graphqlUrl: string) => graphqlUrl.replace(/\/graphql$/, "");
const readiness = async (graphqlUrl: string) => {
  const response = await fetch(`${base(graphqlUrl)}/readiness`);
  return { status: response.status, body: (await response.json()) as ReadinessBody };
};
const metricsText = async (graphqlUrl: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${base(graphqlUrl)}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
};
/** The value of one series, e.g. `story_spark_subscriptions_open{transport="sse",field="storyEvents"}`; null when absent. */
const sample = (text: string, series: string): number | null => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` passes (readiness answers are cached for a second, and back-off takes its time). */
async function eventually<T>(probe: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(300);
  }
}

describe("health, readiness, metrics and the access log", () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  const logLines: string[] = [];

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    server = await startTestServer(undefined, {
      logLines,
      ai: { apiKey: "test-key", baseURL: fake.baseURL, defaultModel: "gpt-4o-mini", timeoutMs: 5_000, maxRetries: 0 },
    });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.close();
  });

  it("/health answers 200 and /readiness lists its checks, all passing", async () => {
    expect((await fetch(`${base(server.url)}/health`)).status).toBe(200);
    const { status, body } = await readiness(server.url);
    expect(status).toBe(200);
    expect(body.status).toBe("ready");
    expect(body.checks).toMatchObject({ startup: { ok: true }, database: { ok: true }, migrations: { ok: true } });
    expect(body.checks.redis === undefined).toBe(!process.env.TEST_REDIS_URL);
  });

  it("/metrics counts requests and errors by operation and code, durations, events appended, open subscriptions and AI spend", async () => {
    const { token } = await signUpWriter(server);
    const storyId = await createStory(server, token);
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "a keeper and the sea" } } }, token);
    const fresh = await server.query(CreateStory, { input: { title: "Nothing yet" } }, token);
    expect(errorCodes(await server.request(Undo, { input: { storyId: fresh.createStory.story.id } }, token))).toEqual(["NOTHING_TO_UNDO"]);
    const idea = { logline: "A keeper bargains with the sea.", one_liner: "Grief and tides.", premise: "The sea offers her brother back.", themes: ["grief"] };
    fake.script({ kind: "stream", chunks: [JSON.stringify(idea)], usage: { prompt_tokens: 1_000, completion_tokens: 500 } });
    const generated = await server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "lighthouse" } }, token);
    expect(generated.errors).toBeUndefined();

    const ws = wsClient(server.url, token);
    const viaWs = subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 });
    const viaSse = subscribeSse(server.url, StoryEventsFeed, { storyId, after: 0 }, token);
    try {
      await viaWs.received.until((r) => r.data.length >= 3);
      await viaSse.received.until((r) => r.data.length >= 3);
      const text = await metricsText(server.url);

      expect(sample(text, 'graphql_envelop_request{operationName="WriteModule",operationType="mutation"}')).toBe(1);
      expect(sample(text, 'graphql_envelop_request{operationName="CreateStory",operationType="mutation"}')).toBe(2);
      expect(sample(text, 'graphql_errors_total{operationName="Undo",code="NOTHING_TO_UNDO"}')).toBe(1);
      expect(sample(text, 'graphql_envelop_request_duration_count{operationName="WriteModule",operationType="mutation"}')).toBe(1);
      expect(sample(text, 'graphql_yoga_http_duration_count{operationName="WriteModule",operationType="mutation",method="POST",statusCode="200"}')).toBe(1);
      expect(text).toMatch(/^graphql_yoga_http_duration_bucket\{le="0\.005",operationName="WriteModule"/m);
      // counted across the process: at least this file's
      expect(sample(text, 'story_spark_events_appended_total{type="StoryCreated"}')).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'story_spark_events_appended_total{type="ModuleWritten"}')).toBeGreaterThanOrEqual(2);
      expect(sample(text, 'story_spark_subscriptions_open{transport="websocket",field="storyEvents"}')).toBe(1);
      expect(sample(text, 'story_spark_subscriptions_open{transport="sse",field="storyEvents"}')).toBe(1);
      expect(sample(text, 'story_spark_ai_generations_total{model="gpt-4o-mini",outcome="succeeded"}')).toBe(1);
      expect(sample(text, 'story_spark_ai_calls_total{model="gpt-4o-mini"}')).toBe(1);
      expect(sample(text, 'story_spark_ai_tokens_total{model="gpt-4o-mini",kind="prompt"}')).toBe(1_000);
      expect(sample(text, 'story_spark_ai_tokens_total{model="gpt-4o-mini",kind="completion"}')).toBe(500);
      // gpt-4o-mini's built-in price: 0.15 and 0.60 USD per million tokens
      expect(sample(text, 'story_spark_ai_cost_usd_total{model="gpt-4o-mini"}')).toBeCloseTo(0.00045, 8);
      if (backend === "postgres") {
        expect(sample(text, "story_spark_database_pool_max")).toBe(20);
        expect(sample(text, 'story_spark_database_pool_connections{state="idle"}')).toBeGreaterThanOrEqual(1);
        expect(sample(text, "story_spark_database_pool_waiting")).toBe(0);
      } else {
        expect(text).not.toContain("story_spark_database_pool");
      }
    } finally {
      viaWs.stop();
      viaSse.stop();
      await ws.dispose();
    }
    const after = await eventually(() => metricsText(server.url), (text) => !text.includes("story_spark_subscriptions_open{"), 10_000);
    expect(after).toContain("# TYPE story_spark_subscriptions_open gauge");
  });

  it("keeps at most 200 operation names: the ones clients invent past that are counted as other", async () => {
    const send = (name: string) =>
      fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: `query ${name} { __typename }` }) });
    for (let i = 0; i < 230; i += 23) await Promise.all(Array.from({ length: 23 }, (_, j) => send(`Invented${i + j}`)));
    const text = await metricsText(server.url);
    const names = new Set([...text.matchAll(/^graphql_envelop_request\{operationName="([^"]+)"/gm)].map((m) => m[1]));
    expect(names.size).toBeLessThanOrEqual(200 + 1);
    expect(sample(text, 'graphql_envelop_request{operationName="other",operationType="query"}')).toBeGreaterThanOrEqual(30);
  });

  it("logs one line per request with its id, operation, status and duration; probes only at debug level", async () => {
    logLines.length = 0;
    await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "ops-test-1" },
      body: JSON.stringify({ query: "query AccessLogged { __typename }" }),
    });
    await fetch(`${base(server.url)}/health`);
    const entries = await eventually(
      async () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e.msg === "request"),
      (found) => found.length >= 2,
      5_000,
    );
    expect(entries.find((e) => e.requestId === "ops-test-1")).toMatchObject({
      level: "info",
      method: "POST",
      path: "/graphql",
      status: 200,
      operation: "AccessLogged",
    });
    expect(typeof entries.find((e) => e.requestId === "ops-test-1")!.durationMs).toBe("number");
    expect(entries.find((e) => e.path === "/health")).toMatchObject({ level: "debug", status: 200 });
  });
});

describe("who may read /metrics", () => {
  it("with METRICS_TOKEN, only a bearer of it; in production without one, nobody", async () => {
    const guarded = await startTestServer(undefined, { metricsToken: "scrape-token-scrape-token" });
    const production = await startTestServer(undefined, { policy: { production: true } });
    try {
      const url = `${base(guarded.url)}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      await metricsText(guarded.url, { authorization: "Bearer scrape-token-scrape-token" });
      expect((await fetch(`${base(production.url)}/metrics`)).status).toBe(404);
      // the probes stay open: an orchestrator sends no token
      expect((await fetch(`${base(production.url)}/readiness`)).status).toBe(200);
    } finally {
      await guarded.close();
      await production.close();
    }
  });
});

describe.skipIf(!process.env.TEST_REDIS_URL)("readiness while Redis is away (a throwaway redis-server)", () => {
  it("answers 503 naming Redis while it is down, and 200 once it is back", async () => {
    const redis = await throwawayRedis();
    await redis.start();
    const server = await startTestServer(undefined, { redisUrl: redis.url });
    try {
      expect(await readiness(server.url)).toMatchObject({ status: 200, body: { checks: { redis: { ok: true } } } });
      await redis.kill();
      const down = await eventually(() => readiness(server.url), (r) => r.status === 503);
      expect(down.body.status).toBe("not ready");
      expect(down.body.checks.redis).toMatchObject({ ok: false });
      expect(down.body.checks.database).toEqual({ ok: true });
      await redis.start();
      await eventually(() => readiness(server.url), (r) => r.status === 200);
    } finally {
      await server.close();
      await redis.kill();
    }
  });
});

describe.skipIf(backend === "pglite")("readiness while PostgreSQL is away (a throwaway TCP proxy in front of it)", () => {
  it("answers 503 naming the database while the proxy is closed, and 200 once it is open again", async () => {
    const database = await createTestDatabase();
    const proxy = await tcpProxy(new URL(database.databaseUrl!));
    await proxy.open();
    const server = await startTestServer({ ...database, databaseUrl: proxy.url });
    try {
      expect((await readiness(server.url)).status).toBe(200);
      await proxy.close();
      const down = await eventually(() => readiness(server.url), (r) => r.status === 503);
      expect(down.body.checks.database).toEqual({ ok: false, detail: "ECONNREFUSED" });
      expect(down.body.checks.migrations).toMatchObject({ ok: false });
      await proxy.open();
      await eventually(() => readiness(server.url), (r) => r.status === 200);
      const { token } = await signUpWriter(server);
      expect(await createStory(server, token)).toBeTruthy();
    } finally {
      await server.close().catch(() => {});
      await proxy.close();
      await database.drop();
    }
  });
});

describe.skipIf(backend === "pglite")("a server started while PostgreSQL is away", () => {
  it("listens at once (health 200, readiness 503, GraphQL 503), says so in one line per try, and serves once the database answers", async () => {
    const database = await createTestDatabase();
    const proxy = await tcpProxy(new URL(database.databaseUrl!));
    const server = await startServerProcess({ ...databaseEnv({ ...database, databaseUrl: proxy.url }), LOG_FORMAT: "text" }, { until: "listening" });
    try {
      expect((await fetch(`${base(server.url)}/health`)).status).toBe(200);
      const waiting = await eventually(() => readiness(server.url), (r) => r.body.checks.startup?.detail?.startsWith("database unreachable") ?? false);
      expect(waiting.status).toBe(503);
      expect(waiting.body.checks.startup!.detail).toMatch(/^database unreachable \(ECONNREFUSED\); next try in \d+ s$/);
      const refused = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe("SERVICE_UNAVAILABLE");
      expect(server.output()).toMatch(new RegExp(`WARN PostgreSQL at 127\\.0\\.0\\.1:${proxy.port} unreachable \\(ECONNREFUSED\\); retrying in 1 s\\n`));

      await proxy.open();
      await eventually(() => readiness(server.url), (r) => r.status === 200, 60_000);
      const signUp = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: 'mutation { signUp(input: {email: "late@example.com", username: "late", password: "a long passphrase"}) { token } }' }),
      });
      expect(((await signUp.json()) as { data: { signUp: { token: string } } }).data.signUp.token).toMatch(/^ey/);
      expect(server.output()).toMatch(/ready at http:/);
      expect(server.output()).not.toMatch(/^\s+at /m); // no stack trace anywhere
      expect(await server.stop()).toBe(0);
    } finally {
      await server.stop();
      await proxy.close();
      await database.drop();
    }
  });
});

describe.skipIf(!process.env.TEST_REDIS_URL)("a server started while Redis is away", () => {
  it("says so in one line, never an unhandled-error stream, reports it in readiness, and picks Redis up when it comes", async () => {
    const database = await createTestDatabase();
    const port = await freePort();
    const redis = await throwawayRedis(port);
    const server = await startServerProcess({ ...databaseEnv(database), REDIS_URL: redis.url, LOG_FORMAT: "text" });
    try {
      const down = await eventually(() => readiness(server.url), (r) => r.status === 503);
      expect(down.body.checks.redis).toEqual({ ok: false, detail: "unreachable (ECONNREFUSED)" });
      await sleep(3_000); // several reconnection attempts
      const unreachable = server.output().split("\n").filter((line) => line.includes("unreachable"));
      expect(unreachable).toHaveLength(1);
      expect(unreachable[0]).toMatch(new RegExp(`WARN Redis at 127\\.0\\.0\\.1:${port} unreachable \\(ECONNREFUSED\\); retrying`));
      expect(server.output()).not.toContain("Unhandled error event");

      await redis.start();
      await eventually(() => readiness(server.url), (r) => r.status === 200);
      expect(server.output()).toContain(`Redis at 127.0.0.1:${port} answers again`);
      expect(await server.stop()).toBe(0);
    } finally {
      await server.stop();
      await redis.kill();
      await database.drop();
    }
  });
});

describe("OpenTelemetry traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it("sends a span per operation over OTLP/HTTP, in the caller's trace", async () => {
    const received: { path: string; body: string }[] = [];
    const collector = createServer((request: IncomingMessage, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        received.push({ path: request.url ?? "", body });
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    const server = await startServerProcess({ ...databaseEnv(database), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: "200" });
    try {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
        body: JSON.stringify({ query: "query TracedProbe { __typename }" }),
      });
      // sent within the batch delay, or at the latest when the server stops (it flushes)
      await eventually(async () => received, (r) => r.some((x) => x.body.includes("query.TracedProbe")), 10_000).catch(() => server.stop());
      const span = received.find((x) => x.body.includes("query.TracedProbe"));
      expect(span?.path).toBe("/v1/traces");
      expect(span?.body).toContain(traceId);
      expect(span?.body).toContain('"story-spark"');
    } finally {
      await server.stop();
      await new Promise((resolve) => collector.close(resolve));
    }
  });
});
