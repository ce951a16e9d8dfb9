// The CLI's output is complete when piped into a slow reader: a pipe holds 64 KiB, and a
// command that ended its process right after writing lost the rest (`export | gzip` kept
// 65,536 of 1,044,245 bytes, exit 0).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildStoryExport } from "../src/history/exportStory.ts";
import { databaseEnv } from "./support/processes.ts";
import { startTestServer, type TestServer } from "./support/server.ts";
import { importLongStory } from "./support/fixtures.ts";

const EVENTS = 10_000;

let server: TestServer;
let storyId: string;
let expectedExport: string;
let eventsInTable: number;

// Given a story of 10,000 events (created, then retitled), imported as a generated export.
beforeAll(async () => {
  server = await startTestServer();
  ({ storyId } = await importLongStory(server, "piper", EVENTS));
  // what `export` prints, but for the time it was made at
  expectedExport = `${JSON.stringify(await buildStoryExport(server.db.prisma, storyId, null), null, 2)}\n`;
  eventsInTable = await server.db.prisma.storyEvent.count({ where: { storyId } });
  await server.stop(); // the embedded database is one process's: the CLI opens it alone
}, 120_000);
afterAll(() => server?.database.drop());

const withoutTime = (text: string) => text.replace(/"exportedAt": "[^"]+"/, '"exportedAt": ""');

describe("the CLI piped into a slow reader", () => {
  it("export --story X passes every byte of a story of more than 1 MB", async () => {
    const piped = await runCli(["export", "--story", storyId]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(1_000_000);
    expect(piped.stdout.length).toBe(Buffer.byteLength(expectedExport));
    expect(withoutTime(piped.stdout.toString())).toBe(withoutTime(expectedExport));
    const data = JSON.parse(piped.stdout.toString()) as { events: unknown[]; story: { revision: number; title: string } };
    expect(data.events.length).toBe(EVENTS);
    expect(data.story).toMatchObject({ revision: EVENTS, title: `Title ${EVENTS}` });
  });

  it("events --story X passes one line per event of a 10,000-event log, in order", async () => {
    const piped = await runCli(["events", "--story", storyId]);
    expect(piped.code, piped.stderr).toBe(0);
    const text = piped.stdout.toString();
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.trimEnd().split("\n").map((line) => JSON.parse(line) as { seq: number; type: string });
    expect(eventsInTable).toBe(EVENTS);
    expect(lines.length).toBe(eventsInTable);
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
  });

  it("a reader that leaves early (`| head`) ends the command quietly", async () => {
    const cut = await runCli(["events", "--story", storyId], { takes: 1 });
    expect(cut.code).toBe(0);
    expect(cut.stderr).toBe("");
    expect(cut.stdout.length).toBeGreaterThan(0);
  });
});

type CliRun = { code: number | null; stdout: Buffer; stderr: string };

/**
 * Runs the CLI on the test database with its stdout a pipe into another process, which reads
 * a chunk, waits a little and passes it on; or, with takes, exits after so many chunks,
 * closing the pipe under the CLI as `| head` does.
 */
async function runCli(args: string[], reader: { takes?: number } = {}): Promise<CliRun> {
  const script =
    reader.takes === undefined
      ? `process.stdin.on("data", (chunk) => { process.stdin.pause(); process.stdout.write(chunk); setTimeout(() => process.stdin.resume(), 5); });`
      : `let left = ${reader.takes}; process.stdin.on("data", (chunk) => { process.stdout.write(chunk, () => { if (--left === 0) process.exit(0); }); });`;
  const consumer = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  const cli = spawn(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", ...args], {
    env: databaseEnv(server.database),
    stdio: ["ignore", consumer.stdin, "pipe"],
  });
  consumer.stdin.destroy(); // the CLI holds the pipe's writing end alone, so the reader sees its end
  const [stdout, stderr, [code]] = await Promise.all([collect(consumer.stdout), collect(cli.stderr), once(cli, "close"), once(consumer, "close")]);
  return { code: code as number | null, stdout, stderr: stderr.toString() };
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
