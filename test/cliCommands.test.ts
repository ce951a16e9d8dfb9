// The operator CLI as an operator meets it: help on stdout; an unknown story, a missing file or a
// DATA_DIR without a database is one line and exit 1 that changes nothing; read-only commands
// never migrate; `verify --story` checks one story; `events --follow` ends on SIGINT.
import { execFile, spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const run = promisify(execFile);
const TIMEOUT = { timeout: 120_000 };

type Outcome = { code: number; stdout: string; stderr: string };

function cli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return run(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: Outcome) => e,
  );
}

/** One line on stderr, no stack. */
const oneLine = (text: string) => text.trim().split("\n").length === 1 && !/\n\s+at /.test(text);

describe("the CLI without a database to run on", TIMEOUT, () => {
  let empty: string;
  beforeAll(async () => {
    empty = await fs.mkdtemp(path.join(os.tmpdir(), "story-spark-cli-"));
  });
  afterAll(() => fs.rm(empty, { recursive: true, force: true }));

  it("prints its help on stdout", async () => {
    const help = await cli(["--help"], {});
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toMatch(/^usage: story-spark <command>/);
    expect((await cli(["frobnicate"], {})).code).toBe(2);
  });

  it("refuses a DATA_DIR that holds no database, in one line, and creates nothing there", async () => {
    for (const command of [["verify"], ["events", "--story", randomUUID()], ["rebuild"]]) {
      const result = await cli(command, { DATA_DIR: empty, DATABASE_URL: "", DIRECT_URL: "" });
      expect(result.code, command.join(" ")).toBe(1);
      expect(result.stderr).toMatch(/^no database in .*story-spark-cli-/);
      expect(oneLine(result.stderr)).toBe(true);
    }
    expect(await fs.readdir(empty)).toEqual([]);
  });

  it("does not migrate a database for a command that only reads: it says to migrate first", async () => {
    const dataDir = path.join(empty, "unmigrated");
    await fs.mkdir(dataDir);
    const pglite = new PGlite(path.join(dataDir, "pglite"));
    await pglite.query("SELECT 1");
    await pglite.close();
    for (const command of [["verify"], ["export", "--story", randomUUID()]]) {
      const result = await cli(command, { DATA_DIR: dataDir, DATABASE_URL: "", DIRECT_URL: "" });
      expect(result.code, command.join(" ")).toBe(1);
      expect(result.stderr).toMatch(/the database is not migrated .* run npm run db:migrate first/);
      expect(oneLine(result.stderr)).toBe(true);
    }
    const reopened = new PGlite(path.join(dataDir, "pglite"));
    try {
      expect((await reopened.query("SELECT to_regclass('_prisma_migrations') AS t")).rows).toEqual([{ t: null }]);
    } finally {
      await reopened.close();
    }
  });
});

describe("the CLI on a database with stories", TIMEOUT, () => {
  let server: TestServer;
  let token: string;
  let storyId: string;
  let otherId: string;
  const env = () => ({ DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.databaseUrl ?? "", DIRECT_URL: server.database.directUrl ?? "" });

  beforeAll(async () => {
    ({ server, token } = await startServerWithWriter());
    storyId = decodeGlobalId(await createStory(server, token, "Checked"))!.id;
    const other = await createStory(server, token, "Tampered");
    await server.query(WriteModule, { input: { storyId: other, module: "IDEA_SPARK", output: { logline: "as written" } } }, token);
    otherId = decodeGlobalId(other)!.id;
    await server.db.prisma.story.update({ where: { id: otherId }, data: { title: "changed behind the log's back" } });
    await server.stop(); // the embedded database is one process's: the CLI opens it next
  });
  afterAll(async () => {
    server = await startTestServer(server.database);
    await server.close();
  });

  it("an unknown story is one line and exit 1, for every command that names one", async () => {
    const unknown = randomUUID();
    for (const command of [["events", "--story", unknown], ["events", "--story", unknown, "--follow"], ["replay", "--story", unknown], ["export", "--story", unknown], ["verify", "--story", unknown]]) {
      const result = await cli(command, env());
      expect(result.code, command.join(" ")).toBe(1);
      expect(result.stderr.trim()).toBe(`story ${unknown} not found`);
    }
  });

  it("a file that is missing or not JSON is one line and exit 1", async () => {
    const missing = await cli(["import", "/nonexistent/story.json", "--owner", "writer@example.com"], env());
    expect(missing).toMatchObject({ code: 1, stderr: "cannot read /nonexistent/story.json: no such file\n" });
    const notJson = path.join(os.tmpdir(), `not-json-${randomUUID()}.json`);
    await fs.writeFile(notJson, "{ not json");
    try {
      const result = await cli(["import", notJson, "--owner", "writer@example.com"], env());
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/is not JSON/);
      expect(oneLine(result.stderr)).toBe(true);
    } finally {
      await fs.rm(notJson);
    }
  });

  it("verify --story checks that story only", async () => {
    expect(await cli(["verify", "--story", storyId], env())).toMatchObject({ code: 0, stdout: "", stderr: `verify: story ${storyId} equal the fold of the log.\n` });
    const tampered = await cli(["verify", "--story", otherId], env());
    expect(tampered.code).toBe(1);
    expect(tampered.stdout.trim().split("\n").map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ storyId: otherId, table: "stories", field: "title", actual: "changed behind the log's back" }),
    ]);
  });

  it("events --follow ends on SIGINT and lets the database go", async () => {
    const follower = spawn(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", "events", "--story", storyId, "--follow"], {
      env: { ...process.env, ...env() },
    });
    let stdout = "";
    follower.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    await expect.poll(() => stdout, { timeout: 30_000 }).toMatch(/"type":"StoryCreated"/);
    const ended = new Promise<number | null>((resolve) => follower.on("exit", (code) => resolve(code)));
    follower.kill("SIGINT");
    expect(await ended).toBe(0);
    // the embedded database is free again: another command opens it
    expect((await cli(["verify", "--story", storyId], env())).code).toBe(0);
  });
});
