// The server process killed with SIGKILL mid-load, three times, and started again on the same
// database: writers send every write that got no answer again, with its idempotency key, until
// it is answered. Every acknowledged write is in the log exactly once, where its answer said,
// and the read tables still equal the fold of the log. On the embedded database the lock the
// killed process left in the data folder must not stop the restart.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { print } from "graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataDirInUseError, lockDataDir } from "../src/database/dataDirLock.ts";
import { CreateStory, SignUp, WriteModule } from "./support/documents.ts";
import { createTestDatabase, type TestDatabase } from "./support/databases.ts";
import { databaseEnv, freePort, startCli, startServerProcess, type ServerProcess } from "./support/processes.ts";
import type { GraphQLResponse } from "./support/server.ts";

const WRITERS = 16;
const STORIES = 4;
const KILLS = 3;
/** acknowledged writes between two kills, so that each kill lands in the middle of the load */
const WRITES_BETWEEN_KILLS = 60;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function send<T, V>(url: string, document: TypedDocumentNode<T, V>, variables: V, token?: string): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
    signal: AbortSignal.timeout(20_000),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

async function until(ready: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const exitedByItself = (server: ServerProcess) => server.child.exitCode !== null || server.child.signalCode !== null;

type Acknowledged = { storyId: string; key: string; seq: number };
type LoggedEvent = { seq: number; type: string; payload: { output?: { key?: string } } };

describe("a server process killed mid-load and started again on the same database", () => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await server?.stop("SIGKILL");
    await database?.drop();
  });

  it("answers every write resent with its idempotency key; each acknowledged write is in the log once, seqs contiguous, verify clean", async () => {
    // the same port and secret after each restart: clients find the server, and their token still holds
    const env = { ...databaseEnv(database), PORT: String(await freePort()), JWT_SECRET: "crash-test-secret-crash-test-secret" };
    server = await startServerProcess(env);
    const url = server.url;
    const { signUp } = (await send(url, SignUp, { input: { email: "crash@example.com", username: "crash", password: "correct horse battery" } })).data!;
    const token = signUp.token;
    const stories: string[] = [];
    for (let n = 0; n < STORIES; n++) {
      stories.push((await send(url, CreateStory, { input: { title: `Crash ${n}` } }, token)).data!.createStory.story.id);
    }

    const acknowledged: Acknowledged[] = [];
    const unexpected: unknown[] = [];
    let unanswered = 0;
    let writing = true;
    /** Sends one write until it is answered: no answer (the server died or is down) or SERVICE_UNAVAILABLE means send it again. */
    const writeUntilAnswered = async (storyId: string, key: string) => {
      const input = { storyId, module: "WORLD_SEED" as const, output: { setting: `world of ${key}`, key }, idempotencyKey: key };
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        let answer: GraphQLResponse<{ writeModule: { event: { seq: number } } }>;
        try {
          answer = await send(url, WriteModule, { input }, token);
        } catch {
          unanswered++;
          await sleep(50);
          continue;
        }
        if (answer.data?.writeModule) {
          acknowledged.push({ storyId, key, seq: answer.data.writeModule.event.seq });
          return;
        }
        if (answer.errors?.[0]?.extensions?.code !== "SERVICE_UNAVAILABLE") {
          unexpected.push(answer);
          return;
        }
      }
      throw new Error(`${key} was never answered`);
    };
    const writers = Array.from({ length: WRITERS }, async (_, writer) => {
      for (let n = 0; writing; n++) await writeUntilAnswered(stories[writer % STORIES]!, `writer-${writer}-${n}`);
    });

    const exits: (number | null)[] = [];
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const before = acknowledged.length;
        await until(() => acknowledged.length >= before + WRITES_BETWEEN_KILLS || unexpected.length > 0, "writes between kills");
        exits.push(exitedByItself(server) ? server.child.exitCode : null);
        await server.stop("SIGKILL");
        server = await startServerProcess(env); // fails if the folder lock or the database refuses it
      }
      const before = acknowledged.length;
      await until(() => acknowledged.length >= before + WRITES_BETWEEN_KILLS || unexpected.length > 0, "writes after the last restart");
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    // no server exited by itself, and every write was answered as a success
    expect(exits).toEqual(Array(KILLS).fill(null));
    expect(exitedByItself(server)).toBe(false);
    expect(unexpected).toEqual([]);
    expect(unanswered).toBeGreaterThan(0); // the kills did cut requests off
    expect(new Set(acknowledged.map((a) => a.key)).size).toBe(acknowledged.length);
    expect(await server.stop("SIGTERM")).toBe(0); // the embedded database is one process's: the CLI opens it next

    for (const storyId of stories) {
      const events = startCli(["events", "--story", storyId], env);
      expect(await events.exited(), events.stderr()).toBe(0);
      const log = events.lines.map((line) => JSON.parse(line) as LoggedEvent);
      expect(log.map((event) => event.seq)).toEqual(log.map((_, i) => i + 1));
      // each acknowledged write at the seq its answer gave, and no write twice or unacknowledged
      const written = log.filter((event) => event.type === "ModuleWritten").map((event) => `${event.payload.output?.key} ${event.seq}`);
      const answered = acknowledged.filter((a) => a.storyId === storyId).map((a) => `${a.key} ${a.seq}`);
      expect(written.sort()).toEqual(answered.sort());
      expect(log.length).toBe(answered.length + 1); // and StoryCreated
    }
    const verify = startCli(["verify"], env);
    expect(await verify.exited(), verify.stderr()).toBe(0);
    expect(verify.lines).toEqual([]);
  }, 110_000);
});

describe("the embedded database's folder lock, when its holder was killed (Linux: read from /proc)", () => {
  let dir: string;
  const holders: ChildProcess[] = [];

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "story-spark-lock-"));
  });
  afterAll(async () => {
    for (const holder of holders) if (holder.exitCode === null && holder.signalCode === null) holder.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Another process that takes the folder's lock and keeps it (a stand-in for a server). */
  async function startHolder(): Promise<ChildProcess> {
    const holder = spawn(
      process.execPath,
      [
        "--experimental-strip-types",
        "--input-type=module",
        "-e",
        "import { lockDataDir } from './src/database/dataDirLock.ts'; lockDataDir(process.argv[1], 'holder'); console.log('locked'); setInterval(() => {}, 1000);",
        dir,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    holders.push(holder);
    const [line] = (await once(holder.stdout!, "data")) as [Buffer];
    expect(line.toString()).toBe("locked\n");
    return holder;
  }

  const stateOf = (pid: number) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  };

  it("is refused while its holder runs", async () => {
    const holder = await startHolder();
    expect(() => lockDataDir(dir, "second")).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dir, "second")).toThrow(new RegExp(`in use by process ${holder.pid} \\(holder`));
    holder.kill("SIGKILL");
    await once(holder, "exit");
  });

  it("is taken over from a holder killed a moment ago that its parent has not reaped yet", async () => {
    const holder = await startHolder();
    holder.kill("SIGKILL");
    // this process is the parent, and reaps the child only when its event loop runs again:
    // until then the holder is a zombie, which a signal still reaches
    const waitOnce = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 500 && stateOf(holder.pid!) !== "Z"; i++) Atomics.wait(waitOnce, 0, 0, 10);
    expect(stateOf(holder.pid!)).toBe("Z");
    const unlock = lockDataDir(dir, "restarted");
    unlock();
    await once(holder, "exit");
  });

  it("is taken over when the dead holder's pid belongs to another process now", async () => {
    const holder = await startHolder();
    holder.kill("SIGKILL");
    await once(holder, "exit");
    // after a restart (a container's pids start over) another process may have the dead holder's pid
    const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    holders.push(other);
    const lockFile = path.join(dir, "pglite.lock");
    const claim = JSON.parse(fs.readFileSync(lockFile, "utf8")) as { pid: number };
    fs.writeFileSync(lockFile, JSON.stringify({ ...claim, pid: other.pid }));
    const unlock = lockDataDir(dir, "restarted");
    unlock();
    other.kill("SIGKILL");
    await once(other, "exit");
  });
});
