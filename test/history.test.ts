// Reading history: labels, a story as of any revision, version diffs, export and import,
// through GraphQL and the operators' CLI.
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyReadTables } from "../src/projection/verify.ts";
import {
  ExportStory,
  ImportStory,
  LabeledVersions,
  LabelVersion,
  RestoreVersion,
  StoryAt,
  StoryEvents,
  StoryState,
  Undo,
  UpdateStory,
  VersionDiff,
  WriteModule,
} from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

const run = promisify(execFile);
let server: TestServer;
let token: string;
let email: string;

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server));
  email = (await server.db.prisma.user.findFirstOrThrow()).email ?? expect.unreachable("a signed-up writer has an email");
});
afterAll(() => server?.close());

/** A story with some history: writes, a detail change, an undo, a restore and a label. */
async function storyWithHistory(title = "History") {
  const storyId = await createStory(server, token, title);
  const write = (module: "IDEA_SPARK" | "WORLD_SEED" | "WORDSMITH_LAB", output: object, inputText?: string) =>
    server.query(WriteModule, { input: { storyId, module, output, ...(inputText ? { inputText } : {}) } }, token);
  await write("IDEA_SPARK", { logline: "A keeper hears the sea.", themes: ["grief"] }, "lighthouse"); // 2 → v2
  await write("WORLD_SEED", { setting: "A rock in the sea." }); // 3 → v3
  await server.query(UpdateStory, { input: { id: storyId, logline: "The sea bargains." } }, token); // 4
  await write("WORDSMITH_LAB", { prose: "Line one.\nLine two.\nLine three." }); // 5 → v4
  await write("WORDSMITH_LAB", { prose: "Line one.\nLine 2, rewritten.\nLine three.\nLine four." }); // 6 → v5
  await server.query(Undo, { input: { storyId } }, token); // 7 → v4 active
  await server.query(RestoreVersion, { input: { storyId, number: 2 } }, token); // 8 → v6
  await server.query(LabelVersion, { input: { storyId, number: 3, label: "First world" } }, token); // 9
  return storyId;
}

describe("labels", () => {
  it("name a version as an event; labeled versions can be listed; the label survives rebuild checks", async () => {
    const storyId = await storyWithHistory();
    const labeled = await server.query(LabelVersion, { input: { storyId, number: 5, label: "  Draft two  " } }, token);
    expect(labeled.labelVersion.event).toMatchObject({ seq: 10, type: "VersionLabeled", payload: { number: 5, label: "Draft two" } });
    expect(labeled.labelVersion.version.number).toBe(6); // the active version is unchanged

    const { story } = await server.query(LabeledVersions, { id: storyId, labeled: true }, token);
    expect(story!.versions.edges.map((e) => e.node)).toEqual([
      { number: 5, label: "Draft two" },
      { number: 3, label: "First world" },
    ]);
    await server.query(LabelVersion, { input: { storyId, number: 3, label: null } }, token);
    const after = await server.query(LabeledVersions, { id: storyId, labeled: true }, token);
    expect(after.story!.versions.edges.map((e) => e.node.number)).toEqual([5]);
    expect(errorCodes(await server.request(LabelVersion, { input: { storyId, number: 99, label: "x" } }, token))).toEqual(["NOT_FOUND"]);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});

describe("story.at(revision)", () => {
  it("shows the story as of each event, and equals `story-spark replay --to`", async () => {
    const storyId = await storyWithHistory("Replayed");
    const at = async (revision: number) => (await server.query(StoryAt, { id: storyId, revision }, token)).story!.at;

    expect((await at(1)).modules.every((m) => m.output === null)).toBe(true);
    expect(await at(4)).toMatchObject({ revision: 4, logline: "The sea bargains.", activeVersionNumber: 3, canUndo: true, canRedo: false });
    expect((await at(6)).modules[4]!.output).toEqual({ prose: "Line one.\nLine 2, rewritten.\nLine three.\nLine four." });
    expect(await at(7)).toMatchObject({ activeVersionNumber: 4, canRedo: true, activeVersion: { number: 4 } });
    expect(errorCodes(await server.request(StoryAt, { id: storyId, revision: 99 }, token))).toEqual(["NOT_FOUND"]);

    await server.stop(); // the CLI opens the database next
    try {
      for (const revision of [1, 4, 7, 9]) {
        const cli = await run(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", "replay", "--story", storyId, "--to", String(revision)], {
          env: cliEnv(),
        });
        const replayed = JSON.parse(cli.stdout) as Record<string, unknown>;
        server = await startTestServer(server.database);
        const { activeVersion: _active, ...viaGraphQL } = await at(revision);
        await server.stop();
        expect(replayed).toEqual({ storyId: uuidOf(storyId), ...viaGraphQL });
      }
    } finally {
      server = await startTestServer(server.database);
    }
  });
});

describe("version.diff", () => {
  it("tells per module what was added, removed or changed, with a line diff for prose", async () => {
    const storyId = await storyWithHistory("Diffed");
    const diff = async (number: number, against?: number) =>
      (await server.query(VersionDiff, { id: storyId, number, ...(against === undefined ? {} : { against }) }, token)).story!.version!.diff;

    const first = await diff(2);
    expect(first.against).toBe(1);
    expect(first.modules.map((m) => [m.module, m.status])).toEqual([
      ["IDEA_SPARK", "added"],
      ["WORLD_SEED", "unchanged"],
      ["CHARACTER_FORGE", "unchanged"],
      ["PLOT_SKELETON", "unchanged"],
      ["WORDSMITH_LAB", "unchanged"],
    ]);
    expect(first.modules[0]!.inputText).toMatchObject({ kind: "added", before: null, after: "lighthouse" });

    const prose = await diff(5);
    const change = prose.modules[4]!.changes[0]!;
    expect(prose.modules[4]!.status).toBe("changed");
    expect(change).toMatchObject({ path: "prose", kind: "changed" });
    expect(change.lines).toEqual([
      { op: "equal", text: "Line one." },
      { op: "removed", text: "Line two." },
      { op: "added", text: "Line 2, rewritten." },
      { op: "equal", text: "Line three." },
      { op: "added", text: "Line four." },
    ]);

    const restored = await diff(6, 5);
    expect(restored.against).toBe(5);
    expect(restored.modules.map((m) => m.status)).toEqual(["unchanged", "removed", "unchanged", "unchanged", "removed"]);
  });
});

describe("export and import", () => {
  it("JSON export → import gives an equal story under new ids, owned by the importer", async () => {
    const storyId = await storyWithHistory("Exported");
    const exported = (await server.query(ExportStory, { id: storyId, format: "JSON" }, token)).exportStory;
    expect(exported).toMatchObject({ format: "JSON", filename: "exported.json", mimeType: "application/json" });
    const data = exported.data as { events: unknown[]; versions: unknown[]; modules: unknown[] };
    expect(data.events).toHaveLength(9);
    expect(data.versions).toHaveLength(6);
    expect(JSON.parse(exported.content)).toEqual(data);

    const importer = await signUpWriter(server, "importer");
    const imported = await server.query(ImportStory, { input: { content: exported.content } }, importer.token);
    const copyId = imported.importStory.story.id;
    expect(copyId).not.toBe(storyId);
    expect(imported.importStory).toMatchObject({ story: { title: "Exported", revision: 9 }, version: { number: 6 }, event: { seq: 9 } });

    const original = (await server.query(StoryState, { id: storyId }, token)).story!;
    const copy = (await server.query(StoryState, { id: copyId }, importer.token)).story!;
    const withoutIds = (story: typeof original) => ({
      title: story.title,
      revision: story.revision,
      canUndo: story.canUndo,
      canRedo: story.canRedo,
      activeVersion: story.activeVersion,
      modules: story.modules.map(({ id: _id, ...m }) => m),
      versions: story.versions.edges.map(({ node: { id: _id, ...v } }) => v),
    });
    expect(withoutIds(copy)).toEqual(withoutIds(original));
    const events = async (id: string, t: string) =>
      (await server.query(StoryEvents, { id, first: 100 }, t)).story!.events.map((e) => [e.seq, e.type, e.activeVersionNumber]);
    expect(await events(copyId, importer.token)).toEqual(await events(storyId, token));

    // the copy is the importer's own: undo works on it, and its JSON export equals the original's but for ids and times
    await server.query(Undo, { input: { storyId: copyId } }, importer.token);
    expect((await server.request(StoryState, { id: copyId }, token)).data).toEqual({ story: null });
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it("Markdown export is a readable story bible", async () => {
    const storyId = await storyWithHistory("Bible");
    const { exportStory } = await server.query(ExportStory, { id: storyId, format: "MARKDOWN" }, token);
    expect(exportStory).toMatchObject({ format: "MARKDOWN", filename: "bible.md", mimeType: "text/markdown", data: null });
    const sections = [...exportStory.content.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual(["1. Idea Spark", "2. World Seed", "3. Character Forge", "4. Plot Skeleton", "5. Wordsmith Lab", "Version history"]);
    expect(exportStory.content).toContain("A keeper hears the sea.");
    expect(exportStory.content).toMatch(/\| 3 \|.*First world/);
  });

  it("import refuses what is not an export, and changes nothing", async () => {
    const before = await server.db.prisma.storyEvent.count();
    const bad = [
      { content: "not json" },
      { data: { format: "something else" } },
      { data: { format: "story-spark.story", formatVersion: 1, events: [{ seq: 2, type: "StoryCreated", schemaVersion: 1, payload: {}, createdAt: new Date().toISOString() }] } },
    ];
    for (const input of bad) {
      expect(errorCodes(await server.request(ImportStory, { input }, token))).toEqual(["BAD_USER_INPUT"]);
    }
    expect(await server.db.prisma.storyEvent.count()).toBe(before);
  });

  it("the CLI exports JSON and Markdown and imports the JSON for a user", async () => {
    const storyId = await storyWithHistory("Via CLI");
    await server.stop();
    try {
      const dir = server.database.dataDir;
      const cli = (...args: string[]) => run(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", ...args], { env: cliEnv() });
      await cli("export", "--story", storyId, "--format", "json", "--output", path.join(dir, "story.json"));
      const markdown = await cli("export", "--story", storyId, "--format", "markdown");
      expect(markdown.stdout).toMatch(/^# Via CLI/);
      const imported = JSON.parse((await cli("import", path.join(dir, "story.json"), "--owner", email)).stdout) as { storyId: string; revision: number };
      expect(imported.revision).toBe(9);
      const events = await cli("events", "--story", imported.storyId);
      const lines = events.stdout.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string });
      expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(lines[8]!.type).toBe("VersionLabeled");
      await fs.rm(path.join(dir, "story.json"));
    } finally {
      server = await startTestServer(server.database);
    }
  });
});

function cliEnv() {
  return { ...process.env, DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.databaseUrl ?? "", DIRECT_URL: server.database.directUrl ?? "" };
}

function uuidOf(globalId: string): string {
  return Buffer.from(globalId, "base64").toString("utf8").split(":")[1]!;
}
