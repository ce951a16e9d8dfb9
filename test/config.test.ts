// The configuration is checked at boot: a bad variable stops the server with exit code 1 and one
// line naming it, what is wrong and an example, before anything is opened or written; and the
// README's table lists exactly the variables the schema reads.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, VARIABLES, readConfig } from "../src/config.ts";

const problemsOf = (env: Record<string, string>): readonly string[] => {
  try {
    readConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("the configuration", () => {
  it("has a default for everything: an empty environment is a development server on the embedded database", () => {
    const config = readConfig({});
    expect(config).toMatchObject({
      production: false,
      port: 4000,
      host: "localhost",
      databaseUrl: undefined,
      directUrl: undefined,
      migrateOnStart: true,
      tokenTtl: "30d",
      authMode: "local",
      databasePoolSize: 20,
      databaseQueryTimeoutMs: 15_000,
      logFormat: "text",
      logLevel: "info",
      otelEndpoint: undefined,
    });
    expect(config.dataDir).toBe(path.resolve(".data"));
    expect(config.policy).toMatchObject({ production: false, graphiql: true, corsOrigins: null, apq: true });
    expect(config.ai).toMatchObject({ apiKey: undefined, defaultModel: "gpt-4o-mini", models: null, responseFormat: "json_schema" });
  });

  it("reads what is set, and an empty variable is an unset one", () => {
    const config = readConfig({
      NODE_ENV: "production",
      PORT: "0",
      DATABASE_URL: "postgresql://app:secret@db.internal:5432/story",
      MIGRATE_ON_START: "false",
      TOKEN_TTL: "12h",
      SUPABASE_URL: "https://abcdefgh.supabase.co",
      CORS_ORIGINS: "https://app.example.com, https://admin.example.com",
      AI_PRICES: '{"mine": {"input": 1, "output": 2}}',
      AI_MODEL_WORLD_SEED: "big-model",
      MAX_QUERY_DEPTH: "",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
    });
    expect(config).toMatchObject({
      production: true,
      port: 0,
      directUrl: "postgresql://app:secret@db.internal:5432/story",
      migrateOnStart: false,
      tokenTtl: "12h",
      authMode: "both",
      logFormat: "json",
      otelEndpoint: "http://127.0.0.1:4318",
    });
    expect(config.policy).toMatchObject({ graphiql: false, corsOrigins: ["https://app.example.com", "https://admin.example.com"] });
    expect(config.policy.documentLimits.maxDepth).toBe(12);
    expect(config.ai.prices.mine).toEqual({ input: 1, output: 2 });
    expect(config.ai.prices["gpt-4o-mini"]).toBeDefined();
    expect(config.ai.modelFor).toEqual({ WORLD_SEED: "big-model" });
  });

  it("names each bad variable in one line: what is wrong, the value, and an example", () => {
    expect(problemsOf({ TOKEN_TTL: "forever" })).toEqual(['TOKEN_TTL: must be a duration such as 30d, 12h or 90m, got "forever" (for example TOKEN_TTL=30d)']);
    expect(problemsOf({ TOKEN_TTL: "5 seconds" })).toEqual(['TOKEN_TTL: must be at least a minute, got "5 seconds" (for example TOKEN_TTL=30d)']);
    expect(problemsOf({ TOKEN_TTL: "2 weeks ago" })[0]).toMatch(/^TOKEN_TTL: must be a duration/);
    expect(problemsOf({ DATABASE_POOL_SIZE: "0" })).toEqual(['DATABASE_POOL_SIZE: must be at least 1, got "0" (for example DATABASE_POOL_SIZE=20)']);
    expect(problemsOf({ DATABASE_POOL_SIZE: "twenty" })).toEqual(['DATABASE_POOL_SIZE: must be a whole number, got "twenty" (for example DATABASE_POOL_SIZE=20)']);
    expect(problemsOf({ AI_PRICES: "notjson" })[0]).toMatch(/^AI_PRICES: is not JSON \(.*\), got "notjson" \(for example AI_PRICES=\{"my-model": \{"input": 0\.5, "output": 1\.5\}\}\)$/);
    expect(problemsOf({ AI_PRICES: '{"mine": {"input": "cheap"}}' })[0]).toMatch(/^AI_PRICES: "mine" needs \{"input": USD per 1M tokens, "output": USD per 1M tokens\}/);
    expect(problemsOf({ DATABASE_URL: "notaurl" })).toEqual([
      'DATABASE_URL: is not a URL, got "notaurl" (for example DATABASE_URL=postgresql://postgres@127.0.0.1:5432/story_spark)',
    ]);
    expect(problemsOf({ DATABASE_URL: "mysql://root@localhost/db" })[0]).toMatch(/^DATABASE_URL: must start with postgresql:\/\/ or postgres:\/\//);
    expect(problemsOf({ REDIS_URL: "localhost:6379" })[0]).toMatch(/^REDIS_URL: must start with redis:\/\/ or rediss:\/\//);
    expect(problemsOf({ PORT: "70000" })).toEqual(['PORT: must be at most 65535, got "70000" (for example PORT=4000)']);
    expect(problemsOf({ NODE_ENV: "prod" })).toEqual(['NODE_ENV: must be development, production or test, got "prod" (for example NODE_ENV=production)']);
    expect(problemsOf({ LOG_FORMAT: "xml" })[0]).toMatch(/^LOG_FORMAT: must be json or text/);
    expect(problemsOf({ GRAPHIQL: "yes" })[0]).toMatch(/^GRAPHIQL: must be true or false/);
    expect(problemsOf({ CORS_ORIGINS: "app.example.com" })[0]).toMatch(/^CORS_ORIGINS: must list origins/);
    expect(problemsOf({ DATABASE_SSL_CA: "/no/such/ca.pem" })[0]).toMatch(/^DATABASE_SSL_CA: is neither PEM text nor a readable file \(ENOENT\)/);
    expect(problemsOf({ AUTH_MODE: "supabase" })).toEqual([
      'AUTH_MODE: supabase needs SUPABASE_URL, the Supabase project\'s URL, got "supabase" (for example SUPABASE_URL=https://abcdefghijklmnop.supabase.co)',
    ]);
    expect(problemsOf({ AI_MODELS: " , " })[0]).toMatch(/^AI_MODELS: must list model names/);
    expect(problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })[0]).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT: /);
  });

  it("never repeats a secret, nor a URL's password", () => {
    const [line] = problemsOf({ JWT_SECRET: "hunter2" });
    expect(line).toMatch(/^JWT_SECRET: must be at least 32 characters/);
    expect(line).not.toContain("hunter2");
    const [url] = problemsOf({ DATABASE_URL: "mysql://root:s3cret@localhost/db" });
    expect(url).not.toContain("s3cret");
    expect(url).toContain("mysql://root:***@localhost/db");
  });

  it("says every bad variable at once, one line each", () => {
    expect(problemsOf({ PORT: "-1", TOKEN_TTL: "forever", DATABASE_POOL_SIZE: "0" }).map((line) => line.split(":")[0])).toEqual(["PORT", "DATABASE_POOL_SIZE", "TOKEN_TTL"]);
  });

  it("is documented: the README's Operating table lists exactly the variables the schema reads", () => {
    const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Operating"), readme.indexOf("\n## ", readme.indexOf("## Operating") + 1));
    const table = section.slice(section.indexOf("### Every variable"));
    const listed = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*(?:<MODULE>)?)` \|/gm)].map((m) => m[1]!);
    const expected = VARIABLES.filter((name) => !name.startsWith("AI_MODEL_")).concat("AI_MODEL_<MODULE>");
    expect([...listed].sort()).toEqual([...new Set(expected)].sort());
  });
});

describe("the server process with a bad variable", () => {
  it("exits 1 with one line per bad variable on stderr, before it opens or writes anything", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "story-spark-config-"));
    const dataDir = path.join(root, "data"); // must not come into being
    try {
      const runs = await Promise.all([
        run({ DATA_DIR: dataDir, TOKEN_TTL: "forever" }),
        run({ DATA_DIR: dataDir, AI_PRICES: "notjson", DATABASE_POOL_SIZE: "0" }),
        run({ DATA_DIR: dataDir, DATABASE_URL: "notaurl" }),
      ]);
      expect(runs.map((r) => r.code)).toEqual([1, 1, 1]);
      expect(runs.map((r) => r.stdout)).toEqual(["", "", ""]);
      expect(runs[0]!.stderr).toBe('TOKEN_TTL: must be a duration such as 30d, 12h or 90m, got "forever" (for example TOKEN_TTL=30d)\n');
      expect(runs[1]!.stderr.split("\n").filter(Boolean).map((line) => line.split(":")[0])).toEqual(["DATABASE_POOL_SIZE", "AI_PRICES"]);
      expect(runs[2]!.stderr).toBe('DATABASE_URL: is not a URL, got "notaurl" (for example DATABASE_URL=postgresql://postgres@127.0.0.1:5432/story_spark)\n');
      expect(fs.existsSync(dataDir)).toBe(false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

async function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // only what the test sets (and PATH): the machine's own variables must not decide the outcome
  const child = spawn(process.execPath, ["--experimental-strip-types", "src/server/main.ts"], {
    env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}
