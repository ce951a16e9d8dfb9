// Scenario "abuse": 8 honest writers keep writing while an attacker runs one loop per attack
// (deep and wide documents, huge bodies and frames, subscriptions dropped mid-stream, password
// guessing); the writers' latencies against theirs with no attacker in the same run, what the
// attacker got back, the server's peak memory, and what is left running once the attack stops.
import http from "node:http";
import fs from "node:fs/promises";
import os from "node:os";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import pg from "pg";
import WebSocket from "ws";
import { ADMIN_URL, createBenchDatabase, createStory, fmt, graphql, load, percentile, report, signUp, startServer, type LoadResult, type Row, type ServerProcess } from "./lib.ts";

const WRITERS = 8;
const BASELINE_SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const ATTACK_SECONDS = Number(process.env.BENCH_ATTACK_SECONDS ?? 30);
const DROPPED_SUBSCRIPTIONS = Number(process.env.BENCH_DROPPED_SUBSCRIPTIONS ?? 100);
/** after the attack: wait this long, then measure for as long again */
const SETTLE_SECONDS = 5;
const AFTER_SECONDS = 5;
/** MAX_SUBSCRIPTIONS_PER_USER on the server: the leak probe opens this many + 1 afterwards */
const SUBSCRIPTION_CAP = 100;
/** an attack request with no answer by then counts as "no answer" and the loop goes on */
const ATTACK_TIMEOUT_MS = 15_000;
const RSS_EVERY_MS = 500;
const MB = 1024 * 1024;

const ATTACK_KINDS = ["depth", "width", "body", "frame", "dropped", "signin"] as const;
type AttackKind = (typeof ATTACK_KINDS)[number];
/** BENCH_ATTACKS=frame,signin: only these loops, to see which attack costs what */
const ATTACKS: readonly AttackKind[] = process.env.BENCH_ATTACKS ? process.env.BENCH_ATTACKS.split(",").map(attackKind) : ATTACK_KINDS;
function attackKind(name: string): AttackKind {
  const kind = ATTACK_KINDS.find((k) => k === name.trim());
  if (!kind) throw new Error(`BENCH_ATTACKS: unknown attack "${name}"; one of ${ATTACK_KINDS.join(", ")}`);
  return kind;
}

const OUTPUT = {
  logline: "A grieving lighthouse keeper bargains with the sea for her drowned brother.",
  one_liner: "Grief, tides and a bargain.",
  premise: "Mara keeps the Skerry light alone since Ewan drowned; the sea offers him back, for a price.",
  themes: ["Can grief be bargained with?", "What do we owe the dead?"],
};
const WRITE = `mutation($i: WriteModuleInput!) { writeModule(input: $i) { event { seq } version { number } } }`;
const STORY_EVENTS = `subscription($storyId: ID!) { storyEvents(storyId: $storyId, after: 0) { seq type } }`;
const SIGN_IN = `mutation($i: SignInInput!) { signIn(input: $i) { token } }`;

/** story → modules → story … with `story` 50 times: about 800 characters. */
function depthDocument(stories: number): string {
  let inner = "id";
  for (let i = 1; i < stories; i++) inner = `modules{story{${inner}}}`;
  return `query($id:ID!){story(id:$id){${inner}}}`;
}
const DEPTH = depthDocument(50);
const TYPENAME_ALIASES = `{${Array.from({ length: 1_000 }, (_, i) => `a${i}:__typename`).join(" ")}}`;
const VERSION_ALIASES = `query($id:ID!){story(id:$id){${Array.from({ length: 200 }, (_, i) => `v${i}:version(number:1){snapshot}`).join(" ")}}}`;
const NODES = `query($ids:[ID!]!){nodes(ids:$ids){id}}`;
/** short ids, so that the 100,000 of them stay under the body limit and reach the list limit */
const NODE_IDS = Array.from({ length: 100_000 }, (_, i) => String(i));

/** A JSON document of exactly `bytes` bytes: a tiny query padded by a long variable. */
function paddedBody(bytes: number, prefix: string, suffix: string): Buffer {
  return Buffer.concat([Buffer.from(prefix), Buffer.alloc(bytes - prefix.length - suffix.length, "a"), Buffer.from(suffix)]);
}
const HUGE_BODY = paddedBody(20 * MB, `{"query":"{__typename}","variables":{"pad":"`, `"}}`);
const HUGE_BODY_CHUNKS = Array.from({ length: 20 }, (_, i) => HUGE_BODY.subarray(i * MB, (i + 1) * MB));
/** a well-formed connection_init: a server that takes the whole frame must also parse it */
const HUGE_FRAME = paddedBody(55 * MB, `{"type":"connection_init","payload":{"pad":"`, `"}}`);

// ---- what the attacker got back ----

/** attack → outcome (error code, HTTP status, close code, network error) → how long each took, ms */
const outcomes = new Map<string, Map<string, number[]>>();
function record(attack: string, outcome: string, ms: number): void {
  const byOutcome = outcomes.get(attack) ?? new Map<string, number[]>();
  byOutcome.set(outcome, [...(byOutcome.get(outcome) ?? []), ms]);
  outcomes.set(attack, byOutcome);
}

/** One attack, its outcome recorded whatever happens. */
async function attempt(attack: Attack): Promise<void> {
  const started = performance.now();
  let outcome: string;
  try {
    outcome = await attack.run();
  } catch (error) {
    outcome = networkOutcome(error);
  }
  record(attack.name, outcome, performance.now() - started);
}

type GraphQLBody = { data?: unknown; errors?: { message?: string; extensions?: { code?: unknown } }[] };

/** The first error's code, else the HTTP status when there is no GraphQL error, else "answered". */
function outcomeOf(status: number, text: string): string {
  let body: GraphQLBody | null = null;
  try {
    body = JSON.parse(text) as GraphQLBody;
  } catch {
    // not JSON: the status says it
  }
  return outcomeOfBody(status, body);
}

function outcomeOfBody(status: number | null, body: GraphQLBody | null): string {
  const http = status === null ? "" : ` (HTTP ${status})`;
  const code = body?.errors?.[0]?.extensions?.code;
  if (typeof code === "string") return `${code}${http}`;
  if (body?.errors?.length) return `error without a code${http}`;
  if (status !== null && status !== 200) return `HTTP ${status}`;
  return `answered, no error${http}`;
}

/** ECONNRESET, EPIPE, socket hang up …: a category of its own, never a crash. */
function networkOutcome(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  const code = e?.cause?.code ?? e?.code ?? (e?.name === "TimeoutError" || e?.name === "AbortError" ? "no answer in time" : null) ?? e?.cause?.message ?? e?.message;
  return `network error: ${String(code)}`;
}

async function postJson(url: string, body: unknown, token?: string): Promise<string> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(ATTACK_TIMEOUT_MS),
  });
  return outcomeOf(response.status, await response.text());
}

/** A POST through node:http, to send a body with or without a Content-Length; the answer's outcome. */
function postRaw(url: string, withLength: boolean): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: string) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
      request.destroy(); // stop sending the rest
    };
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", ...(withLength ? { "content-length": HUGE_BODY.length } : { "transfer-encoding": "chunked" }) };
    const request = http.request(url, { method: "POST", headers, timeout: ATTACK_TIMEOUT_MS }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        if (text.length < 64 * 1024) text += chunk;
      });
      response.on("end", () => settle(outcomeOf(response.statusCode ?? 0, text)));
      response.on("error", (error) => settle(networkOutcome(error)));
    });
    request.on("timeout", () => settle("network error: no answer in time"));
    request.on("error", (error) => settle(networkOutcome(error)));
    pipeline(Readable.from(withLength ? [HUGE_BODY] : HUGE_BODY_CHUNKS), request).catch(() => {}); // the server may hang up mid-body
  });
}

/** One 55 MB frame on a socket that sent no token: how the server ends it (close code) or accepts it. */
function hugeFrame(wsUrl: string): Promise<string> {
  return new Promise((resolve) => {
    // a zero mask: ws sends the frame as it is, so the attacker's CPU is not spent masking 55 MB (the server's still is)
    const socket = new WebSocket(wsUrl, "graphql-transport-ws", { generateMask: (mask) => void mask.fill(0) });
    let networkError: string | null = null;
    let settled = false;
    const settle = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      socket.terminate();
    };
    const timer = setTimeout(() => settle("no answer in time"), ATTACK_TIMEOUT_MS);
    socket.on("open", () => socket.send(HUGE_FRAME, { binary: false }));
    socket.on("message", (raw) => settle(`accepted: ${messageType(raw)}`));
    socket.on("unexpected-response", (_request, response) => settle(`HTTP ${response.statusCode} on upgrade`));
    socket.on("error", (error) => (networkError = networkOutcome(error).replace("network error: ", "")));
    socket.on("close", (code) => settle(`WebSocket close ${code}${networkError ? ` (${networkError})` : ""}`));
  });
}

function messageType(raw: WebSocket.RawData): string {
  try {
    return String((JSON.parse(String(raw)) as { type?: unknown }).type);
  } catch {
    return "a message that is not JSON";
  }
}

type WsMessage = { id?: string; type: string; payload?: unknown };

/**
 * A storyEvents subscription over graphql-ws, dropped without a word (ws.terminate()) once its
 * first event arrived: the server learns of it only from the TCP connection.
 */
function droppedOverWebSocket(wsUrl: string, token: string, storyId: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = new WebSocket(wsUrl, "graphql-transport-ws");
    let settled = false;
    const settle = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      socket.terminate();
    };
    const timer = setTimeout(() => settle("no event in time"), ATTACK_TIMEOUT_MS);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } })));
    socket.on("message", (raw) => {
      const message = JSON.parse(String(raw)) as WsMessage;
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: STORY_EVENTS, variables: { storyId } } }));
      } else if (message.type === "next") {
        const body = message.payload as GraphQLBody;
        settle(body.errors?.length ? outcomeOfBody(null, body) : "subscribed, then dropped");
      } else if (message.type === "error") {
        settle(outcomeOfBody(null, { errors: message.payload as GraphQLBody["errors"] }));
      } else if (message.type === "complete") {
        settle("completed before any event");
      }
    });
    socket.on("error", (error) => settle(networkOutcome(error)));
    socket.on("close", (code) => settle(`WebSocket close ${code}`));
  });
}

/** The same over Server-Sent Events: the fetch is aborted once the first event arrived. */
async function droppedOverSse(url: string, token: string, storyId: string): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ATTACK_TIMEOUT_MS);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: STORY_EVENTS, variables: { storyId } }),
      signal: abort.signal,
    });
    if (!response.headers.get("content-type")?.includes("text/event-stream")) return outcomeOf(response.status, await response.text());
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "stream ended before any event";
      text += decoder.decode(value, { stream: true });
      const event = /event: (\w+)\ndata: (.*)\n/.exec(text);
      if (!event) continue;
      if (event[1] !== "next") return `event "${event[1]}" first`;
      const body = JSON.parse(event[2]!) as GraphQLBody;
      return body.errors?.length ? outcomeOfBody(null, body) : "subscribed, then dropped";
    }
  } finally {
    clearTimeout(timer);
    abort.abort(); // undici destroys the connection of a response still streaming
  }
}

// ---- the attacker ----

type Attack = { name: string; run: () => Promise<string> };

/** One loop: its attacks in turn, back to back, until stopped. */
async function attackLoop(attacks: Attack[], isStopped: () => boolean): Promise<void> {
  for (const attack of attacks) outcomes.set(attack.name, new Map()); // rows in the order of the attacks
  for (let i = 0; !isStopped(); i++) await attempt(attacks[i % attacks.length]!);
}

/**
 * `count` attacks, one started every `everyMs` whether or not the previous ones are done (at most
 * 10 at once), so that they are spread over the phase however slow the machine is.
 */
async function pacedAttacks(attacks: Attack[], isStopped: () => boolean, count: number, everyMs: number): Promise<void> {
  for (const attack of attacks) outcomes.set(attack.name, new Map());
  const running = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < count && !isStopped(); i++) {
    const one: Promise<void> = attempt(attacks[i % attacks.length]!).finally(() => running.delete(one));
    running.add(one);
    if (running.size >= 10) await Promise.race(running);
    const wait = started + (i + 1) * everyMs - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(running);
}

type Attacker = { token: string; storyId: string; victimEmail: string };

function startAttack(url: string, attacker: Attacker): { stop(): Promise<void> } {
  const wsUrl = url.replace(/^http/, "ws");
  const { token, storyId, victimEmail } = attacker;
  let stopped = false;
  const isStopped = () => stopped;
  let guess = 0;
  const loops: Record<AttackKind, () => Promise<void>> = {
    depth: () => attackLoop([{ name: "depth: story→modules→story… 50 deep", run: () => postJson(url, { query: DEPTH, variables: { id: storyId } }, token) }], isStopped),
    width: () =>
      attackLoop(
        [
          { name: "width: 1,000 aliases of __typename", run: () => postJson(url, { query: TYPENAME_ALIASES }, token) },
          { name: "width: 200 aliases of version(number:1){snapshot}", run: () => postJson(url, { query: VERSION_ALIASES, variables: { id: storyId } }, token) },
          { name: "width: nodes(ids:) with 100,000 ids", run: () => postJson(url, { query: NODES, variables: { ids: NODE_IDS } }, token) },
        ],
        isStopped,
      ),
    body: () =>
      attackLoop(
        [
          { name: "body: 20 MB with Content-Length", run: () => postRaw(url, true) },
          { name: "body: 20 MB chunked, no Content-Length", run: () => postRaw(url, false) },
        ],
        isStopped,
      ),
    frame: () => attackLoop([{ name: "frame: 55 MB on an anonymous WebSocket", run: () => hugeFrame(wsUrl) }], isStopped),
    dropped: () =>
      pacedAttacks(
        [
          { name: "dropped storyEvents subscription: graphql-ws", run: () => droppedOverWebSocket(wsUrl, token, storyId) },
          { name: "dropped storyEvents subscription: SSE", run: () => droppedOverSse(url, token, storyId) },
        ],
        isStopped,
        DROPPED_SUBSCRIPTIONS,
        (ATTACK_SECONDS * 1000) / DROPPED_SUBSCRIPTIONS,
      ),
    signin: () =>
      attackLoop(
        [{ name: "signIn: wrong passwords for one email", run: () => postJson(url, { query: SIGN_IN, variables: { i: { email: victimEmail, password: `guess ${guess++} ${randomBytes(3).toString("hex")}` } } }) }],
        isStopped,
      ),
  };
  const running = ATTACKS.map((kind) => loops[kind]());
  return {
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

// ---- what the server holds ----

/** The server's memory every 500 ms, the peak kept per phase. */
function sampleRss(server: ServerProcess) {
  const peaks = new Map<string, number>();
  let phase = "setup";
  const timer = setInterval(() => {
    server
      .rssMb()
      .then((mb) => peaks.set(phase, Math.max(peaks.get(phase) ?? 0, mb)))
      .catch(() => {}); // the process is gone: alive() says so
  }, RSS_EVERY_MS);
  return {
    phase: (name: string) => (phase = name),
    peak: (name: string) => peaks.get(name) ?? NaN,
    stop: () => clearInterval(timer),
  };
}

const TCP_STATES: Record<string, string> = {
  "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
  "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
};

/** The server's side of its TCP connections (local port = the server's), by state; LISTEN and TIME_WAIT hold nothing. */
async function serverSockets(port: number): Promise<Map<string, number>> {
  const byState = new Map<string, number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await fs.readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const localPort = parseInt(fields[1]!.split(":").pop()!, 16);
      const state = TCP_STATES[fields[3]!] ?? fields[3]!;
      if (localPort !== port || state === "LISTEN" || state === "TIME_WAIT") continue;
      byState.set(state, (byState.get(state) ?? 0) + 1);
    }
  }
  return byState;
}

const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);
const describe = (counts: Map<string, number>) => (counts.size === 0 ? "" : ` (${[...counts].map(([k, v]) => `${k} ${v}`).join(", ")})`);

/**
 * Transactions of the bench database (commits + rollbacks) from pg_stat_database. The probe's
 * own connection is to the admin database, so its transactions are not in the bench database's row.
 */
async function transactionsOf(probe: pg.Client, database: string): Promise<number> {
  const { rows } = await probe.query<{ n: string }>("SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1", [database]);
  return Number(rows[0]?.n ?? NaN);
}

/**
 * The bench database's backends that did something since `since`: connected, ran a statement
 * (pg_stat_activity.state_change moves at every statement) or are running one; by pid.
 */
async function backendsWorkingSince(probe: pg.Client, database: string, since: Date): Promise<{ working: number[]; connected: number }> {
  const { rows } = await probe.query<{ pid: number; working: boolean }>(
    `SELECT pid, (state IS DISTINCT FROM 'idle' OR state_change >= $2 OR backend_start >= $2) AS working
       FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
    [database, since],
  );
  return { working: rows.filter((r) => r.working).map((r) => r.pid), connected: rows.length };
}

/**
 * The registry of live subscriptions is not exposed, so its count is read through its cap: with
 * MAX_SUBSCRIPTIONS_PER_USER set to SUBSCRIPTION_CAP, the attacker opens subscriptions until one is
 * refused; the ones it could not open are the ones the server still holds for it.
 */
async function subscriptionsLeftOver(wsUrl: string, token: string, storyId: string): Promise<{ opened: number; refusal: string | null; failed?: string }> {
  const sockets: WebSocket[] = [];
  let opened = 0;
  try {
    for (let i = 0; i <= SUBSCRIPTION_CAP; i++) {
      if (i % 40 === 0) sockets.push(await openSocket(wsUrl, token)); // under the per-socket cap (50)
      const outcome = await subscribeOnce(sockets.at(-1)!, String(i), storyId);
      if (outcome !== "subscribed") return { opened, refusal: outcome };
      opened++;
    }
    return { opened, refusal: null };
  } finally {
    for (const socket of sockets) socket.close(1000);
  }
}

function openSocket(wsUrl: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, "graphql-transport-ws");
    socket.on("error", reject);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${token}` } })));
    socket.once("message", (raw) => (messageType(raw) === "connection_ack" ? resolve(socket) : reject(new Error(`no connection_ack: ${String(raw)}`))));
  });
}

function subscribeOnce(socket: WebSocket, id: string, storyId: string): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done("no event in time"), ATTACK_TIMEOUT_MS);
    const onMessage = (raw: WebSocket.RawData) => {
      const message = JSON.parse(String(raw)) as WsMessage;
      if (message.id !== id) return;
      if (message.type === "next") {
        const body = message.payload as GraphQLBody;
        done(body.errors?.length ? outcomeOfBody(null, body) : "subscribed");
      } else if (message.type === "error") done(outcomeOfBody(null, { errors: message.payload as GraphQLBody["errors"] }));
      else if (message.type === "complete") done("completed before any event");
    };
    const onClose = (code: number) => done(`WebSocket close ${code}`);
    function done(outcome: string) {
      clearTimeout(timer);
      socket.off("message", onMessage);
      socket.off("close", onClose);
      resolve(outcome);
    }
    socket.on("message", onMessage);
    socket.on("close", onClose);
    socket.send(JSON.stringify({ id, type: "subscribe", payload: { query: STORY_EVENTS, variables: { storyId } } }));
  });
}

/** CPU seconds (user + system) of a process so far; Linux counts them in ticks of 1/100 s (USER_HZ). */
async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd on: utime is the 14th
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** How many cores the server and this process (the writers' and the attacker's client) kept busy between two marks. */
async function cpuMark(pid: number) {
  const at = performance.now();
  const server = await cpuSecondsOf(pid);
  const own = process.cpuUsage();
  return async () => {
    const seconds = (performance.now() - at) / 1000;
    const ownNow = process.cpuUsage(own);
    return { server: ((await cpuSecondsOf(pid)) - server) / seconds, client: (ownNow.user + ownNow.system) / 1e6 / seconds };
  };
}

/** SIGTERM, and SIGKILL when the server has not stopped in 10 s (a connection it never lets go). */
async function stopServer(server: ServerProcess): Promise<"SIGTERM" | "SIGKILL" | "had exited"> {
  if (!server.alive()) return "had exited";
  const stopped = await Promise.race([server.stop().then(() => true), sleep(10_000).then(() => false)]);
  if (stopped) return "SIGTERM";
  process.kill(server.pid, "SIGKILL");
  await server.stop();
  return "SIGKILL";
}

async function main() {
  // a rejection nobody awaits (an aborted stream, a socket torn down) is the attack's, not the bench's end
  process.on("unhandledRejection", (error) => console.error("(unhandled rejection, ignored)", error));
  const loadAtStart = os.loadavg()[0]!.toFixed(1);
  const database = await createBenchDatabase("abuse");
  const server = await startServer({ DATABASE_URL: database.url, REDIS_URL: "", MAX_SUBSCRIPTIONS_PER_USER: String(SUBSCRIPTION_CAP) });
  const rss = sampleRss(server);
  const probe = new pg.Client({ connectionString: ADMIN_URL });
  await probe.connect();
  let stoppedBy: string | null = null;
  try {
    const url = server.url;
    const port = Number(new URL(url).port);
    const writers = await Promise.all(
      Array.from({ length: WRITERS }, async (_, i) => {
        const token = await signUp(url, `honest${i}`);
        return { token, storyId: await createStory(url, token, `Honest ${i}`), n: 0 };
      }),
    );
    const victimEmail = `victim-${randomBytes(4).toString("hex")}@bench.example`;
    await graphql(url, "mutation($i: SignUpInput!) { signUp(input: $i) { token } }", { i: { email: victimEmail, username: "victim", password: "victim's long password" } });
    const attackerToken = await signUp(url, "attacker");
    const attacker: Attacker = { token: attackerToken, storyId: await createStory(url, attackerToken, "The attacker's"), victimEmail };
    const write = (client: number) => {
      const writer = writers[client]!;
      return graphql(url, WRITE, { i: { storyId: writer.storyId, module: "IDEA_SPARK", output: { ...OUTPUT, n: writer.n++ } } }, writer.token);
    };

    console.error(`(baseline: ${WRITERS} honest writers for ${BASELINE_SECONDS} s)`);
    rss.phase("baseline");
    const xactBefore = await transactionsOf(probe, database.name);
    const baselineStarted = performance.now();
    const baselineCpu = await cpuMark(server.pid);
    const baseline = await load(WRITERS, BASELINE_SECONDS, write);
    const baselineCores = await baselineCpu();
    const baselineXactPerSecond = ((await transactionsOf(probe, database.name)) - xactBefore) / ((performance.now() - baselineStarted) / 1000);

    console.error(`(attack: the same writers and the attacker's loops for ${ATTACK_SECONDS} s)`);
    rss.phase("attack");
    const attackCpu = await cpuMark(server.pid);
    const attack = startAttack(url, attacker);
    let underAttack: LoadResult;
    try {
      underAttack = await load(WRITERS, ATTACK_SECONDS, write);
    } finally {
      await attack.stop();
    }
    const attackCores = await attackCpu();
    rss.phase("after");
    const attackEnded = performance.now();

    console.error(`(after: ${SETTLE_SECONDS} s of quiet, then ${AFTER_SECONDS} s measured)`);
    await sleep(Math.max(0, SETTLE_SECONDS * 1000 - (performance.now() - attackEnded)));
    const windowStart = new Date();
    const xactStart = await transactionsOf(probe, database.name);
    const measuredFrom = performance.now();
    let mostSockets = new Map<string, number>();
    const workingBackends = new Set<number>();
    let mostBackends = 0;
    for (;;) {
      const sockets = await serverSockets(port);
      if (total(sockets) > total(mostSockets)) mostSockets = sockets;
      const backends = await backendsWorkingSince(probe, database.name, windowStart);
      for (const pid of backends.working) workingBackends.add(pid);
      mostBackends = Math.max(mostBackends, backends.connected);
      if (performance.now() - measuredFrom >= AFTER_SECONDS * 1000) break;
      await sleep(250);
    }
    const xactPerSecond = ((await transactionsOf(probe, database.name)) - xactStart) / ((performance.now() - measuredFrom) / 1000);
    rss.phase("probe");

    // after the window: these open connections of their own
    const leftOver = await subscriptionsLeftOver(url.replace(/^http/, "ws"), attacker.token, attacker.storyId).catch((error: unknown) => ({
      opened: 0,
      refusal: null,
      failed: networkOutcome(error),
    }));
    const alive = server.alive();
    let answering = false;
    try {
      answering = (await graphql<{ __typename: string }>(url, "{ __typename }")).__typename === "Query";
    } catch {
      // not answering: reported
    }
    rss.stop();
    stoppedBy = await stopServer(server);

    const p99Ratio = underAttack.p99 / baseline.p99;
    const peakRss = Math.max(rss.peak("attack"), rss.peak("after"));
    const attackerRequests = [...outcomes.values()].flatMap((byOutcome) => [...byOutcome.values()]).reduce((sum, times) => sum + times.length, 0);
    const lateFlush = xactPerSecond > 0 && workingBackends.size === 0;
    const leaked = leftOver.refusal === null ? null : SUBSCRIPTION_CAP - leftOver.opened;
    const refusalRows: Row[] = [...outcomes].flatMap(([attackName, byOutcome]) =>
      byOutcome.size === 0
        ? [{ metric: `attacker · ${attackName}`, value: "none finished" }]
        : [...byOutcome]
            .sort((a, b) => b[1].length - a[1].length)
            .map(([outcome, times]) => ({ metric: `attacker · ${attackName} → ${outcome}`, value: `${fmt.n(times.length)} (p50 ${fmt.ms(percentile(times, 50))})` })),
    );
    await report(
      "abuse",
      `${WRITERS} honest writers (one user and story each, writeModule over HTTP back to back) on PostgreSQL without Redis, ${BASELINE_SECONDS} s alone, then ${ATTACK_SECONDS} s while an attacker runs one loop per attack (each after a 1 s warm-up): a document 50 levels deep; 1,000 aliases of \`__typename\`, 200 of \`version(number:1){snapshot}\`, \`nodes(ids:)\` with 100,000 ids; 20 MB bodies with and without a Content-Length; a 55 MB WebSocket frame with no token; ${DROPPED_SUBSCRIPTIONS} \`storyEvents(after: 0)\` subscriptions over graphql-ws and SSE dropped without a word once their first event arrived; \`signIn\` with wrong passwords for one email${ATTACKS.length < ATTACK_KINDS.length ? ` (this run: only ${ATTACKS.join(", ")})` : ""}. Then ${SETTLE_SECONDS} s of quiet and ${AFTER_SECONDS} s measured. Baseline: the same writers with no attacker, in the same run.`,
      [
        { metric: "honest writes/s", value: fmt.n(underAttack.perSecond), baseline: fmt.n(baseline.perSecond), ratio: fmt.pct(underAttack.perSecond / baseline.perSecond) },
        { metric: "honest p50", value: fmt.ms(underAttack.p50), baseline: fmt.ms(baseline.p50), ratio: `${underAttack.p50 / baseline.p50 >= 10 ? fmt.n(underAttack.p50 / baseline.p50) : (underAttack.p50 / baseline.p50).toFixed(2)}×` },
        { metric: "honest p99", value: fmt.ms(underAttack.p99), baseline: fmt.ms(baseline.p99), ratio: `${p99Ratio.toFixed(2)}×`, target: "≤ 3×", met: p99Ratio <= 3 },
        { metric: "honest writes failed", value: fmt.n(underAttack.errors), baseline: fmt.n(baseline.errors), target: "0", met: underAttack.errors === 0 },
        { metric: "server RSS, peak (every 500 ms)", value: fmt.mb(peakRss), baseline: `${fmt.mb(rss.peak("baseline"))} without attacker`, target: "≤ 600 MB", met: peakRss <= 600 },
        {
          metric: "cores kept busy: server / this process (writers' and attacker's client)",
          value: `${attackCores.server.toFixed(2)} / ${attackCores.client.toFixed(2)}`,
          baseline: `${baselineCores.server.toFixed(2)} / ${baselineCores.client.toFixed(2)}`,
        },
        { metric: "attacker requests finished (all loops)", value: `${fmt.n(attackerRequests)} (${fmt.n(attackerRequests / (ATTACK_SECONDS + 1), 1)}/s)` },
        ...refusalRows,
        {
          metric: `database transactions/s, ${SETTLE_SECONDS}–${SETTLE_SECONDS + AFTER_SECONDS} s after the attack`,
          value: `${fmt.n(xactPerSecond, 1)}${lateFlush ? " (counted late: no backend ran a statement in the window)" : ""}`,
          baseline: `${fmt.n(baselineXactPerSecond)} with the writers`,
          target: "0",
          met: xactPerSecond === 0 || lateFlush,
        },
        {
          metric: "bench-database backends that connected or ran a statement in that window (sampled every 250 ms)",
          value: `${workingBackends.size} (at most ${mostBackends} connected)`,
          target: "0",
          met: workingBackends.size === 0,
        },
        { metric: "server TCP connections open in that window (most)", value: `${total(mostSockets)}${describe(mostSockets)}`, target: "0", met: total(mostSockets) === 0 },
        {
          metric: "subscriptions left over (probe through MAX_SUBSCRIPTIONS_PER_USER)",
          value: leftOver.failed
            ? `cannot tell: the probe failed (${leftOver.failed})`
            : leaked === null
              ? `cannot tell: ${leftOver.opened} opened, the cap of ${SUBSCRIPTION_CAP} was not enforced`
              : `${leaked} (${leftOver.opened} of ${SUBSCRIPTION_CAP} opened, then ${leftOver.refusal})`,
          target: "0",
          met: leaked === null ? null : leaked === 0,
        },
        { metric: "server process alive and answering at the end", value: alive && answering ? "yes" : alive ? "alive, not answering" : "no: it exited", target: "yes", met: alive && answering },
        { metric: "server stopped by", value: stoppedBy, target: "SIGTERM", met: stoppedBy === "SIGTERM" },
      ],
      [
        "Outcomes: the first error's `extensions.code` with the HTTP status; the status alone when the answer has no GraphQL error; the close code for WebSockets; `network error: <code>` when the connection failed (ECONNRESET, EPIPE …).",
        "The server exposes no count of its open subscriptions: left-overs are read through the per-user cap (the server runs with MAX_SUBSCRIPTIONS_PER_USER=" +
          `${SUBSCRIPTION_CAP}; after the window, the attacker opens subscriptions until one is refused), through the server's TCP connections (/proc/net/tcp, its port, LISTEN and TIME_WAIT left out) and through the database's work.`,
        "Transactions/s: the delta of `xact_commit + xact_rollback` in pg_stat_database for the bench database, read from a connection to the admin database (so the probe's own transactions are not in it). PostgreSQL 15 reports a backend's counts up to 10 s late (and when it disconnects, as the server's pool closes idle connections), so the window can hold the attack's last transactions: the figure counts as met when no backend of the bench database connected, ran a statement or was busy in the window (pg_stat_activity every 250 ms: `state_change`, `backend_start`, `state`), which has no such delay.",
        `The attacker, the writers' client and the server share the machine (${os.cpus().length} cores; load average ${loadAtStart} when the run began, other processes included): the cores row says how much the server and this process each got.`,
      ],
    );
  } finally {
    rss.stop();
    await probe.end().catch(() => {});
    if (stoppedBy === null) await stopServer(server).catch(() => {});
    await database.drop();
  }
}

await main();
