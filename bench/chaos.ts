// Scenario "chaos": writers and subscribers on the real server process (PostgreSQL, Redis of
// the benchmark's own) while one fault in turn is injected every 10 s: Redis killed and
// started again 3 s later, the server's PostgreSQL connections terminated, the server killed
// with SIGKILL and started again, `story-spark rebuild` run under load. Writers send every
// write that got no answer again with its idempotency key until it is answered; subscribers
// that lose their connection come back with `after:` the last seq they received.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createClient, type Client } from "graphql-ws";
import pg from "pg";
import { idOf } from "../src/graphql/globalIds.ts";
import { ROOT, createBenchDatabase, createStory, fmt, report, signUp, startServer } from "./lib.ts";
import { freePort } from "../test/support/processes.ts";

const SECONDS = Number(process.env.BENCH_CHAOS_SECONDS ?? 60);
const FAULT_EVERY_SECONDS = Number(process.env.BENCH_CHAOS_FAULT_SECONDS ?? 10);
const REDIS_DOWN_MS = 3_000;
const WRITERS = 16;
const STORIES = 4;
/** a request that hangs longer is abandoned and sent again, as a client with a timeout would */
const REQUEST_TIMEOUT_MS = 15_000;
const RETRY_PAUSE_MS = 100;
const RECONNECT_PAUSE_MS = 200;

const WRITE = `mutation($i: WriteModuleInput!) { writeModule(input: $i) { replayed event { seq } } }`;
const STORY_EVENTS = `subscription($id: ID!, $after: Int) { storyEvents(storyId: $id, after: $after) { seq } }`;
const MODULE_UPDATED = `subscription($id: ID!, $after: Int) { moduleUpdated(storyId: $id, after: $after) { module { name } event { seq } } }`;
const MODULES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"] as const;

type FaultKind = "Redis killed, back 3 s later" | "server's PostgreSQL connections terminated" | "server killed (SIGKILL) and started again" | "rebuild under load";
const FAULTS: FaultKind[] = [
  "Redis killed, back 3 s later",
  "server's PostgreSQL connections terminated",
  "server killed (SIGKILL) and started again",
  "rebuild under load",
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

/** A redis-server of the benchmark's own on a free port, killed by its pid: never the machine's Redis. */
async function ownRedis() {
  const port = await freePort();
  let child: ChildProcess | null = null;
  return {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const started = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] });
      child = started;
      let output = "";
      await new Promise<void>((resolve, reject) => {
        started.stdout!.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("Ready to accept connections")) resolve();
        });
        started.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
      });
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      running.kill("SIGKILL");
      await once(running, "exit");
    },
  };
}

/**
 * The server as a supervisor keeps it: started again at once whenever it is gone. Exits other
 * than the benchmark's own kills are counted, with the end of what the process printed.
 */
async function supervisedServer(env: NodeJS.ProcessEnv) {
  let current = await startServer(env);
  let killing = false;
  let restarting: Promise<void> | null = null;
  const unexpectedExits: string[] = [];
  const outputs: string[] = [];
  const restart = () => {
    restarting ??= (async () => {
      outputs.push(current.output());
      for (;;) {
        try {
          current = await startServer(env);
          break;
        } catch (error) {
          unexpectedExits.push(`failed to start: ${String(error).slice(-2000)}`);
          await sleep(1_000);
        }
      }
    })().finally(() => (restarting = null));
    return restarting;
  };
  const watch = setInterval(() => {
    if (current.alive() || killing || restarting) return;
    unexpectedExits.push(current.output().slice(-3_000));
    void restart();
  }, 100);
  return {
    url: current.url,
    unexpectedExits,
    /** kill -9, then started again; the time until it answers again */
    async killAndRestart(): Promise<number> {
      const killed = now();
      killing = true;
      process.kill(current.pid, "SIGKILL");
      while (current.alive()) await sleep(10);
      killing = false;
      await restart();
      return now() - killed;
    },
    /** every line the server processes printed, in order */
    output: () => [...outputs, current.output()].join(""),
    rssMb: () => current.rssMb(),
    async stop() {
      clearInterval(watch);
      await restarting;
      await current.stop();
    },
  };
}

/** `story-spark <args>` on the benchmark's database, as an operator runs it. */
async function cli(args: string[], databaseUrl: string): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const started = now();
  const child = spawn(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr, seconds: (now() - started) / 1000 };
}

type Answer = { data?: { writeModule?: { replayed: boolean; event: { seq: number } } }; errors?: { extensions?: { code?: string } }[] };

/** A subscriber that comes back after every disconnection with `after:` the last seq it received. */
function follower(kind: "storyEvents" | "moduleUpdated", url: string, token: string, storyId: string) {
  const seqs: number[] = [];
  const errors: { error: string; at: number }[] = [];
  let reconnects = 0;
  let running = true;
  let client: Client | null = null;
  const done = (async () => {
    while (running) {
      const connection = createClient({ url: url.replace(/^http/, "ws"), connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
      client = connection;
      await new Promise<void>((resolve) => {
        connection.subscribe<{ storyEvents?: { seq: number }; moduleUpdated?: { event: { seq: number } } }>(
          { query: kind === "storyEvents" ? STORY_EVENTS : MODULE_UPDATED, variables: { id: storyId, after: seqs.at(-1) ?? 0 } },
          {
            next: (message) => {
              for (const error of message.errors ?? []) errors.push({ error: `${error.extensions?.code ?? error.message} at ${error.path?.join(".") ?? kind}`, at: now() });
              const seq = message.data?.storyEvents?.seq ?? message.data?.moduleUpdated?.event.seq;
              if (seq !== undefined) seqs.push(seq);
            },
            error: () => resolve(),
            complete: () => resolve(),
          },
        );
      });
      await connection.dispose();
      if (!running) break;
      reconnects++;
      await sleep(RECONNECT_PAUSE_MS);
    }
  })();
  return {
    seqs,
    errors,
    reconnects: () => reconnects,
    async stop() {
      running = false;
      await client?.dispose();
      await done;
    },
  };
}

/** What a subscriber missed, got twice or got out of order, against the seqs it should have had. */
function delivery(received: number[], expected: number[]) {
  const got = new Set(received);
  let outOfOrder = 0;
  for (let i = 1; i < received.length; i++) if (received[i]! < received[i - 1]!) outOfOrder++;
  return { missing: expected.filter((seq) => !got.has(seq)).length, duplicates: received.length - got.size, outOfOrder };
}

async function main() {
  const database = await createBenchDatabase("chaos");
  const redis = await ownRedis();
  await redis.start();
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  // the same port after each restart: clients find the server where it was
  const server = await supervisedServer({ DATABASE_URL: database.url, REDIS_URL: redis.url, PORT: String(await freePort()), LOG_FORMAT: "json" });
  const url = server.url;
  const followers: ReturnType<typeof follower>[] = [];
  try {
    const token = await signUp(url, "chaos");
    const stories = await Promise.all(Array.from({ length: STORIES }, (_, i) => createStory(url, token, `Chaos ${i}`)));
    for (const storyId of stories) followers.push(follower("storyEvents", url, token, storyId), follower("moduleUpdated", url, token, storyId));

    // --------------------------------------------------------------- writers
    const acknowledged: { storyId: string; key: string; seq: number; at: number }[] = [];
    const unexpected: string[] = [];
    let resends = 0;
    let writesResent = 0;
    let replayed = 0;
    let noAnswer = 0;
    let unavailable = 0;
    let writing = true;
    const writeUntilAnswered = async (storyId: string, key: string, module: string) => {
      const variables = { i: { storyId, module, output: { key }, idempotencyKey: key } };
      for (let attempt = 0; ; attempt++) {
        if (attempt === 1) writesResent++;
        if (attempt > 0) resends++;
        let answer: Answer;
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
            body: JSON.stringify({ query: WRITE, variables }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          answer = (await response.json()) as Answer;
        } catch {
          noAnswer++; // refused, cut off or timed out: the server is down, died mid-request or hangs
          await sleep(RETRY_PAUSE_MS);
          continue;
        }
        const written = answer.data?.writeModule;
        if (written) {
          acknowledged.push({ storyId, key, seq: written.event.seq, at: now() });
          if (written.replayed) replayed++;
          return;
        }
        if (answer.errors?.[0]?.extensions?.code === "SERVICE_UNAVAILABLE") {
          unavailable++;
          await sleep(RETRY_PAUSE_MS);
          continue;
        }
        unexpected.push(JSON.stringify(answer).slice(0, 500));
        return;
      }
    };
    const loadStarted = now();
    const writers = Array.from({ length: WRITERS }, async (_, writer) => {
      const storyId = stories[writer % STORIES]!;
      for (let n = 0; writing; n++) await writeUntilAnswered(storyId, `writer-${writer}-${n}`, MODULES[n % MODULES.length]!);
    });

    // --------------------------------------------------------------- faults
    const faults: { kind: FaultKind; at: number; note: string }[] = [];
    const background: Promise<unknown>[] = [];
    const rebuilds: Awaited<ReturnType<typeof cli>>[] = [];
    let rebuilding = false;
    const inject = async (kind: FaultKind) => {
      const fault = { kind, at: now(), note: "" };
      faults.push(fault);
      console.error(`${((fault.at - loadStarted) / 1000).toFixed(1)} s: ${kind}`);
      switch (kind) {
        case "Redis killed, back 3 s later":
          await redis.kill();
          background.push(sleep(REDIS_DOWN_MS).then(() => redis.start()));
          break;
        case "server's PostgreSQL connections terminated": {
          const { rows } = await admin.query<{ terminated: boolean }>(
            "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
          );
          fault.note = `${rows.filter((row) => row.terminated).length} connections`;
          break;
        }
        case "server killed (SIGKILL) and started again":
          fault.note = `answering again ${((await server.killAndRestart()) / 1000).toFixed(1)} s after the kill`;
          break;
        case "rebuild under load":
          // a second rebuild is refused while one runs: in a short run with frequent faults the last may not have ended
          if (rebuilding) {
            fault.note = "skipped: the previous rebuild is still running";
            break;
          }
          rebuilding = true;
          background.push(
            cli(["rebuild"], database.url).then((result) => {
              rebuilding = false;
              rebuilds.push(result);
              const said = result.stderr.trim().split("\n").at(-1) ?? "";
              fault.note = `exit ${result.code} after ${result.seconds.toFixed(1)} s: "${said}"`;
            }),
          );
          break;
      }
    };
    for (let next = 1; next * FAULT_EVERY_SECONDS < SECONDS; next++) {
      await sleep(loadStarted + next * FAULT_EVERY_SECONDS * 1000 - now());
      await inject(FAULTS[(next - 1) % FAULTS.length]!);
    }
    await sleep(loadStarted + SECONDS * 1000 - now());
    writing = false;
    await Promise.all(writers);
    const loadSeconds = (now() - loadStarted) / 1000;
    await Promise.all(background);

    // --------------------------------------------------------------- the log against the answers
    const { rows: log } = await admin.query<{ story_id: string; seq: number; type: string; idempotency_key: string | null }>(
      "SELECT story_id, seq, type, idempotency_key FROM story_events ORDER BY story_id, seq",
    );
    const logged = new Map<string, { storyId: string; seq: number }[]>();
    for (const row of log) if (row.idempotency_key) logged.set(row.idempotency_key, [...(logged.get(row.idempotency_key) ?? []), { storyId: row.story_id, seq: row.seq }]);
    const lost = acknowledged.filter((a) => !logged.get(a.key)?.some((l) => l.storyId === idOf("Story", a.storyId) && l.seq === a.seq)).length;
    const duplicated = [...logged.values()].filter((entries) => entries.length > 1).length;
    const acknowledgedKeys = new Set(acknowledged.map((a) => a.key));
    const neverAcknowledged = [...logged.keys()].filter((key) => !acknowledgedKeys.has(key)).length;
    let gaps = 0;
    const seqsOf = new Map<string, number[]>();
    for (const row of log) seqsOf.set(row.story_id, [...(seqsOf.get(row.story_id) ?? []), row.seq]);
    for (const seqs of seqsOf.values()) seqs.forEach((seq, i) => (gaps += seq === i + 1 ? 0 : 1));

    // the longest stretch without a successful write, overall and after each kind of fault
    const times = [loadStarted, ...acknowledged.map((a) => a.at).filter((at) => at >= loadStarted).sort((a, b) => a - b)];
    const stretches = times.slice(1).map((at, i) => ({ from: times[i]!, to: at }));
    // a stretch is put down to the last fault injected before it ended
    const causeOf = (stretch: { to: number }) => faults.filter((f) => f.at < stretch.to).at(-1)?.kind ?? null;
    const longest = stretches.reduce((a, b) => (b.to - b.from > a.to - a.from ? b : a), { from: 0, to: 0 });
    const longestAfter = (kind: FaultKind) => Math.max(0, ...stretches.filter((s) => causeOf(s) === kind).map((s) => s.to - s.from));
    const during = causeOf(longest);

    // --------------------------------------------------------------- subscribers, once they have caught up
    const storyEventsExpected = new Map(stories.map((id) => [id, log.filter((row) => row.story_id === idOf("Story", id)).map((row) => row.seq)]));
    const moduleExpected = new Map(stories.map((id) => [id, log.filter((row) => row.story_id === idOf("Story", id) && row.type === "ModuleWritten").map((row) => row.seq)]));
    const expectedFor = (i: number) => (i % 2 === 0 ? storyEventsExpected : moduleExpected).get(stories[Math.floor(i / 2)]!)!;
    const caughtUpBy = now() + 30_000;
    while (now() < caughtUpBy && !followers.every((f, i) => f.seqs.at(-1) === expectedFor(i).at(-1))) await sleep(100);
    await sleep(500); // nothing more, and nothing twice, comes after
    for (const f of followers) await f.stop();
    const storyEventsDelivery = { missing: 0, duplicates: 0, outOfOrder: 0 };
    const moduleDelivery = { missing: 0, duplicates: 0, outOfOrder: 0 };
    followers.forEach((f, i) => {
      const result = delivery(f.seqs, expectedFor(i));
      const into = i % 2 === 0 ? storyEventsDelivery : moduleDelivery;
      into.missing += result.missing;
      into.duplicates += result.duplicates;
      into.outOfOrder += result.outOfOrder;
    });
    const reconnects = followers.reduce((sum, f) => sum + f.reconnects(), 0);
    const subscriptionErrors = followers.flatMap((f) => f.errors).map(({ error, at }) => `${error} (after: ${causeOf({ to: at }) ?? "no fault"})`);
    const errorCounts = [...new Set(subscriptionErrors)].map((error) => `${subscriptionErrors.filter((e) => e === error).length} × ${error}`);

    const verify = await cli(["verify"], database.url);
    const differences = verify.stdout.split("\n").filter((line) => line.trim().length > 0).length;
    const rss = await server.rssMb();
    await server.stop();
    const logLines = server.output().split("\n").filter((line) => line.startsWith("{"));
    const errorLines = logLines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((entry) => entry.level === "error");
    const errorKinds = [...new Set(errorLines.map((entry) => entry.msg.slice(0, 80)))];
    const ms = (value: number) => `${(value / 1000).toFixed(2)} s`;
    const zero = (value: number) => ({ value: fmt.n(value), target: "0", met: value === 0 });

    await report(
      "chaos",
      `${WRITERS} writers (writeModule over HTTP, back to back, ${STORIES} stories, an idempotency key per write, every write without an answer or answered SERVICE_UNAVAILABLE sent again until answered) and a storyEvents and a moduleUpdated subscriber per story (graphql-ws, back after each disconnection with \`after:\` the last seq) for ${fmt.n(loadSeconds, 0)} s against the server process on PostgreSQL with live messages through a redis-server of the benchmark's own; every ${FAULT_EVERY_SECONDS} s one fault in turn: ${FAULTS.join("; ")}. The server is started again at once whenever it is gone, as a supervisor would.`,
      [
        { metric: "writes acknowledged", value: `${fmt.n(acknowledged.length)} (${fmt.n(acknowledged.length / loadSeconds, 1)}/s)` },
        { metric: "writes sent again (resends in all)", value: `${fmt.n(writesResent)} (${fmt.n(resends)}: ${fmt.n(noAnswer)} without an answer, ${fmt.n(unavailable)} SERVICE_UNAVAILABLE)` },
        { metric: "answers `replayed: true` (committed, first answer lost)", value: fmt.n(replayed) },
        { metric: "acknowledged writes lost (not in the log at their seq)", ...zero(lost) },
        { metric: "writes applied twice", ...zero(duplicated) },
        { metric: "writes in the log never acknowledged", ...zero(neverAcknowledged) },
        { metric: "gaps in the stories' seqs", ...zero(gaps) },
        { metric: "unexpected write answers", ...zero(unexpected.length) },
        { metric: "server exits other than the deliberate kills", ...zero(server.unexpectedExits.length) },
        { metric: "longest time without a successful write", value: `${ms(longest.to - longest.from)}${during ? ` (after: ${during})` : ""}` },
        ...FAULTS.map((kind) => ({ metric: `— longest after: ${kind}`, value: ms(longestAfter(kind)) })),
        { metric: "storyEvents subscribers: missing / duplicate / out-of-order events", value: `${storyEventsDelivery.missing} / ${storyEventsDelivery.duplicates} / ${storyEventsDelivery.outOfOrder}`, target: "0 / 0 / 0", met: storyEventsDelivery.missing + storyEventsDelivery.duplicates + storyEventsDelivery.outOfOrder === 0 },
        { metric: "moduleUpdated subscribers: missing / duplicate / out-of-order changes", value: `${moduleDelivery.missing} / ${moduleDelivery.duplicates} / ${moduleDelivery.outOfOrder}`, target: "0 / 0 / 0", met: moduleDelivery.missing + moduleDelivery.duplicates + moduleDelivery.outOfOrder === 0 },
        { metric: "subscriber reconnections", value: fmt.n(reconnects) },
        { metric: "errors in subscription messages (in place of a change)", ...zero(subscriptionErrors.length), value: `${subscriptionErrors.length}${errorCounts.length ? ` (${errorCounts.join("; ")})` : ""}` },
        {
          metric: "rebuild under load",
          value: rebuilds.length ? rebuilds.map((r) => `exit ${r.code}, ${r.seconds.toFixed(1)} s`).join("; ") : "not run (shorter than 4 faults)",
          target: "exit 0",
          met: rebuilds.length ? rebuilds.every((r) => r.code === 0) : null,
        },
        { metric: "verify at the end", value: verify.code === 0 ? "no differences" : `exit ${verify.code}, ${differences} differences`, target: "no differences", met: verify.code === 0 },
        { metric: "server log: error entries", value: `${errorLines.length}${errorKinds.length ? ` (${errorKinds.join("; ")})` : ""}` },
        { metric: "memory (the last server's RSS at the end)", value: fmt.mb(rss) },
      ],
      faults.map((f) => `${((f.at - loadStarted) / 1000).toFixed(1)} s: ${f.kind}${f.note ? ` (${f.note})` : ""}`),
    );
    for (const exit of server.unexpectedExits) console.error(`an unexpected server exit; the end of its output:\n${exit}`);
    for (const answer of unexpected.slice(0, 5)) console.error(`an unexpected answer: ${answer}`);
    for (const failed of rebuilds.filter((r) => r.code !== 0)) console.error(`a failed rebuild's output:\n${failed.stderr.slice(-3000)}`);
    if (verify.code !== 0) console.error(`verify's output:\n${verify.stdout.slice(0, 3000)}${verify.stderr.slice(-2000)}`);
  } finally {
    for (const f of followers) await f.stop();
    await server.stop().catch(() => {});
    await redis.kill();
    await admin.end();
    await database.drop();
  }
}

await main();
