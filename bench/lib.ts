// Shared benchmark plumbing: a fresh database, a server process, load loops,
// percentiles, and the results table appended to bench/RESULTS.md with the machine's facts.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** BENCH_RESULTS: another file, for trial runs that should not land in bench/RESULTS.md */
export const RESULTS = process.env.BENCH_RESULTS ?? path.join(ROOT, "bench", "RESULTS.md");
/** The local PostgreSQL the benchmarks create their databases on. */
export const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export type BenchDatabase = { url: string; name: string; drop(): Promise<void> };

/** A fresh database on the local PostgreSQL, dropped by drop(). */
export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  const name = `story_spark_bench_${label}_${randomBytes(4).toString("hex")}`;
  console.error(`(creating database ${name} on ${redact(ADMIN_URL)}; it is dropped at the end)`);
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}) };
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export type ServerProcess = { url: string; pid: number; rssMb(): Promise<number>; stop(): Promise<void>; /** false once the process has exited */ alive(): boolean; /** what it printed so far */ output(): string };

/** V8's heap sizing flags, which `npm start` may set. */
const HEAP_FLAG = /^--(max-semi-space-size|heap-growing-percent|max-old-space-size)=/;

/**
 * `npm start` in its own process, so its CPU and memory are its own; `v8HeapDefaults` leaves out
 * the start script's heap sizing flags, to measure what they change.
 */
export async function startServer(env: NodeJS.ProcessEnv, options: { v8HeapDefaults?: boolean } = {}): Promise<ServerProcess> {
  // BENCH_SERVER_ROOT: another checkout's server, to measure before and after a change in one run
  const root = process.env.BENCH_SERVER_ROOT ?? ROOT;
  const args = await startArguments(root);
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, options.v8HeapDefaults ? args.filter((arg) => !HEAP_FLAG.test(arg)) : args, {
    cwd: root,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", JWT_SECRET: "bench-secret-bench-secret-bench-secret", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  return serverProcess(child, "server", /ready at (http:\/\/\S+\/graphql)/);
}

/**
 * The arguments `npm start` gives node in the checkout at `root`: the benchmarks run the server
 * with the very Node and V8 flags it is started with (its heap sizes among them).
 */
async function startArguments(root: string): Promise<string[]> {
  const manifest = JSON.parse(await fs.readFile(path.join(root, "package.json"), "utf8")) as { scripts: { start: string } };
  // `exec node …`: the shell gives way to node, so that signals to `npm start` reach the server
  const [command, ...args] = manifest.scripts.start.trim().replace(/^exec\s+/, "").split(/\s+/);
  if (command !== "node") throw new Error(`npm start runs "${manifest.scripts.start}"; the benchmarks expect "node <flags> <entry>"`);
  return args;
}

/** A server process started by a benchmark, once it has printed the URL `ready` finds in its output. */
export async function serverProcess(child: ChildProcess, name: string, ready: RegExp): Promise<ServerProcess> {
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    // once found, no more scanning: the output grows by a line per request (the access log)
    const look = () => {
      const match = ready.exec(output);
      if (!match) return;
      child.stdout?.off("data", look);
      resolve(match[1]!);
    };
    child.stdout?.on("data", look);
    child.once("exit", (code) => reject(new Error(`${name} exited ${code}: ${output}`)));
  });
  return {
    url,
    pid: child.pid!,
    async rssMb() {
      const status = await fs.readFile(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    output: () => output,
    async stop() {
      if (process.env.BENCH_SHOW_SERVER_OUTPUT) console.error(`${name} output (${output.length} chars):\n${output.slice(-3000)}`);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

export async function graphql<T>(url: string, query: string, variables: unknown = {}, token?: string): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export type LoadResult = { operations: number; seconds: number; perSecond: number; p50: number; p99: number; errors: number };

/**
 * `clients` loops, each running `operation` back to back for `seconds` after a warm-up;
 * latencies in milliseconds.
 */
export async function load(clients: number, seconds: number, operation: (client: number) => Promise<unknown>, warmupSeconds = 1): Promise<LoadResult> {
  const run = async (duration: number, record: boolean) => {
    const latencies: number[] = [];
    let errors = 0;
    const end = performance.now() + duration * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        while (performance.now() < end) {
          const t = performance.now();
          try {
            await operation(client);
            if (record) latencies.push(performance.now() - t);
          } catch (error) {
            errors++;
            if (errors === 1) console.error(error);
          }
        }
      }),
    );
    return { latencies, errors, elapsed: (performance.now() - started) / 1000 };
  };
  await run(warmupSeconds, false);
  const { latencies, errors, elapsed } = await run(seconds, true);
  return { operations: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

export type HttpLoad = {
  url: string;
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /** the JSON body of a connection's `request`-th POST (0, 1, …) */
  body: (connection: number, request: number) => string;
};

/**
 * autocannon posting to `url` over `connections` keep-alive connections, each sending its next
 * request as soon as the last is answered, for `seconds` (no warm-up: run it twice). An answer
 * other than 200, or with GraphQL `errors`, counts as an error. Each connection is its own
 * autocannon instance, so that what it sends can depend on which one it is (a writer's own story).
 */
export async function httpLoad(options: HttpLoad): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.connections }, (_, connection) => {
      let request = 0;
      return new Promise<void>((resolve, reject) => {
        const instance = autocannon(
          {
            url: options.url,
            connections: 1,
            duration: options.seconds,
            method: "POST",
            headers: { "content-type": "application/json", ...options.headers },
            requests: [
              {
                setupRequest: (next) => ({ ...next, body: options.body(connection, request++) }),
                onResponse: (status, body) => {
                  if (status !== 200 || body.includes('"errors"')) {
                    errors++;
                    if (errors === 1) console.error(`first failed answer (${status}): ${body.slice(0, 500)}`);
                  }
                },
              },
            ],
          },
          (error, result) => {
            if (error) return reject(error);
            errors += result.errors;
            resolve();
          },
        );
        instance.on("response", (_client, _status, _bytes, milliseconds) => latencies.push(milliseconds));
      });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { operations: latencies.length, seconds, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

/** /proc/<pid>/stat counts CPU time in clock ticks of USER_HZ, 100 a second on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user and system) the process has used so far, from /proc/<pid>/stat. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
  // fields after the command name, which is in parentheses and may hold spaces: state is the 3rd field, utime the 14th, stime the 15th
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU seconds used so far by each PostgreSQL backend serving the database `client` is connected
 * to (other than `client`'s own), by pid: read from /proc, so PostgreSQL must run on this machine.
 */
export async function databaseBackendsCpuSeconds(client: pg.Client): Promise<Map<number, number>> {
  const { rows } = await client.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
  );
  const seconds = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      seconds.set(pid, await processCpuSeconds(pid));
    } catch {
      // the backend ended since the query
    }
  }
  return seconds;
}

/** The CPU seconds the backends used between two readings; a backend that started in between counts from zero. */
export function backendsCpuSpent(before: Map<number, number>, after: Map<number, number>): number {
  let spent = 0;
  for (const [pid, seconds] of after) spent += seconds - (before.get(pid) ?? 0);
  return spent;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export type Row = { metric: string; value: string; baseline?: string; ratio?: string; target?: string; met?: boolean | null };

export const fmt = {
  n: (value: number, digits = 0) => value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }),
  ms: (value: number) => `${value.toFixed(1)} ms`,
  pct: (value: number) => `${(value * 100).toFixed(1)} %`,
  mb: (value: number) => `${value.toFixed(0)} MB`,
};

/** Prints the scenario's table and appends it, with the machine's facts, to bench/RESULTS.md. */
export async function report(scenario: string, what: string, rows: Row[], notes: string[] = []): Promise<void> {
  const facts = await machineFacts();
  const lines = [
    `### ${scenario}${process.env.BENCH_LABEL ? ` (${process.env.BENCH_LABEL})` : ""} — ${new Date().toISOString()}`,
    "",
    what,
    "",
    `${facts.cpus} × ${facts.cpuModel}; Node ${process.version}; ${facts.postgres}`,
    "",
    "| metric | value | baseline | ratio | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.metric} | ${r.value} | ${r.baseline ?? ""} | ${r.ratio ?? ""} | ${r.target ?? ""} | ${r.met === undefined || r.met === null ? "" : r.met ? "yes" : "**no**"} |`),
    ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : []),
    "",
  ];
  const text = lines.join("\n");
  console.log(text);
  let existing = "";
  try {
    existing = await fs.readFile(RESULTS, "utf8");
  } catch {
    existing = "# Benchmark results\n\nAppended by `npm run bench` (each scenario: `npm run bench -- <name>`). Ratios are against a baseline measured in the same run on the same machine.\n\n";
  }
  await fs.writeFile(RESULTS, `${existing}${text}\n`);
}

let cachedFacts: { cpus: number; cpuModel: string; postgres: string } | null = null;
async function machineFacts() {
  if (cachedFacts) return cachedFacts;
  let postgres = "PostgreSQL: not reachable";
  try {
    postgres = await admin(async (c) => (await c.query("SHOW server_version")).rows[0].server_version as string).then((v) => `PostgreSQL ${v}`);
  } catch {
    // PGlite-only runs
  }
  cachedFacts = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? "unknown CPU", postgres };
  return cachedFacts;
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

/** Signs up a writer on a server and gives their token. */
export async function signUp(url: string, name: string): Promise<string> {
  const data = await graphql<{ signUp: { token: string } }>(url, "mutation($i: SignUpInput!) { signUp(input: $i) { token } }", {
    i: { email: `${name}-${randomBytes(4).toString("hex")}@bench.example`, username: name, password: "bench password" },
  });
  return data.signUp.token;
}

export async function createStory(url: string, token: string, title: string): Promise<string> {
  const data = await graphql<{ createStory: { story: { id: string } } }>(
    url,
    "mutation($i: CreateStoryInput!) { createStory(input: $i) { story { id } } }",
    { i: { title } },
    token,
  );
  return data.createStory.story.id;
}
