// The read tables are exactly the fold of the log: after a long random history,
// `rebuild` reproduces them row for row and `verify` reports nothing, and the state a command
// loads from them (story_command_state) is the fold, as much of it as the command needs, with its
// outputs as references.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/database/connect.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { SNAPSHOT_KEYS } from "../src/domain/catalogue.ts";
import { StoredOutput, outputRefs } from "../src/domain/content.ts";
import { activeVersion, foldEvents, type StoryState } from "../src/domain/story.ts";
import { VersionHistory } from "../src/domain/versionHistory.ts";
import { readStream } from "../src/eventstore/eventStore.ts";
import { loadCommandState } from "../src/projection/loadStoryState.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { ClearModule, LabelVersion, Redo, RestoreVersion, StoryState as StoryStateQuery, Undo, UpdateStory, WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

const run = promisify(execFile);
const MODULES = ["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"] as const;

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function readTables() {
  const prisma = server.db.prisma;
  return {
    stories: await prisma.story.findMany({ orderBy: { id: "asc" } }),
    modules: await prisma.storyModule.findMany({ orderBy: { id: "asc" } }),
    versions: await prisma.storyVersion.findMany({ orderBy: { id: "asc" } }),
    collaborators: await prisma.collaborator.findMany({ orderBy: [{ storyId: "asc" }, { userId: "asc" }] }),
    invitations: await prisma.storyInvitation.findMany({ orderBy: { id: "asc" } }),
  };
}

/** The fold as a command sees it: the active version, its parent, redo's next and `extra`, with their labels. */
function asLoadedForCommand(state: StoryState, extra: readonly number[]): StoryState {
  const active = activeVersion(state);
  const numbers = new Set([active.number, active.parentNumber, state.redo.at(-1), ...extra].filter((n) => typeof n === "number"));
  const versions = [...state.versions]
    .filter((v) => numbers.has(v.number))
    .map((v) => ({
      ...v,
      outputs: Object.fromEntries(SNAPSHOT_KEYS.map((key) => [key, v.outputs[key] && new StoredOutput(outputRefs(v.outputs[key]))])) as typeof v.outputs,
    }));
  return {
    ...state,
    versions: VersionHistory.partial(versions, state.versions.latestNumber),
    labels: new Map([...state.labels].filter(([number]) => numbers.has(number))),
  };
}

describe("after 500 random operations on a few stories", () => {
  let stories: string[] = [];

  it("verify finds nothing, rebuild reproduces the tables exactly, and a tampered row is reported", async () => {
    const next = random(20261125);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    stories = [await createStory(server, token, "One"), await createStory(server, token, "Two"), await createStory(server, token, "Three")];
    const counts: Record<string, number> = {};
    let accepted = 0;

    for (let i = 0; i < 500; i++) {
      const storyId = pick(stories);
      const roll = next();
      const op =
        roll < 0.4 ? "write" : roll < 0.5 ? "clear" : roll < 0.7 ? "undo" : roll < 0.85 ? "redo" : roll < 0.93 ? "restore" : "details";
      counts[op] = (counts[op] ?? 0) + 1;
      let response;
      switch (op) {
        case "write":
          response = await server.request(
            WriteModule,
            { input: { storyId, module: pick(MODULES), output: { note: `op ${i}`, n: i, nested: { list: [i, "x"] } }, inputText: `input ${i}` } },
            token,
          );
          break;
        case "clear":
          response = await server.request(ClearModule, { input: { storyId, module: pick(MODULES) } }, token);
          break;
        case "undo":
          response = await server.request(Undo, { input: { storyId } }, token);
          break;
        case "redo":
          response = await server.request(Redo, { input: { storyId } }, token);
          break;
        case "restore": {
          const { story } = await server.query(StoryStateQuery, { id: storyId }, token);
          const top = story!.versions.edges[0]!.node.number;
          response = await server.request(RestoreVersion, { input: { storyId, number: 1 + Math.floor(next() * top) } }, token);
          break;
        }
        default:
          response = await server.request(UpdateStory, { input: { id: storyId, title: `Title ${i}`, isComplete: next() < 0.5 } }, token);
      }
      const codes = (response.errors ?? []).map((e) => e.extensions?.code);
      expect(codes.every((c) => c === "NOTHING_TO_UNDO" || c === "NOTHING_TO_REDO")).toBe(true);
      if (codes.length === 0) accepted++;
    }
    expect(accepted).toBeGreaterThan(400);
    expect(Object.keys(counts).sort()).toEqual(["clear", "details", "redo", "restore", "undo", "write"]);

    expect(await verifyReadTables(server.db)).toEqual([]);

    // every version, put together from its references by story_version_snapshots, is the fold's
    for (const id of stories) {
      const storyId = decodeGlobalId(id)!.id;
      const fold = foldEvents(storyId, await readStream(server.db.prisma, storyId));
      const versions = await server.db.prisma.$queryRaw<{ version_number: number; full_snapshot: unknown; inputs: unknown }[]>`
        SELECT version_number, full_snapshot, inputs FROM story_version_snapshots WHERE story_id = ${storyId}::uuid ORDER BY version_number`;
      expect(versions).toEqual([...fold.versions].map((v) => ({ version_number: v.number, full_snapshot: v.outputs, inputs: v.inputs })));
    }

    const before = await readTables();
    const progress: number[] = [];
    const rebuilt = await rebuildReadTables(server.db, (done) => progress.push(done.events));
    expect(rebuilt.streams).toBe(3);
    expect(progress.at(-1)).toBe(rebuilt.events);
    expect(await readTables()).toEqual(before);
    expect(await verifyReadTables(server.db)).toEqual([]);

    // a read row that no longer matches the log is reported
    const victim = before.modules.find((m) => m.outputText !== null)!;
    await server.db.prisma.storyModule.update({ where: { id: victim.id }, data: { outputText: { tampered: true } } });
    const differences = await verifyReadTables(server.db);
    expect(differences).toEqual([
      expect.objectContaining({ table: "story_modules", rowId: victim.id, field: "outputText", actual: { tampered: true } }),
    ]);
  });

  it("the state story_command_state loads is the fold of the log, restricted to the versions it loads", async () => {
    expect(stories).toHaveLength(3);
    for (const [i, id] of stories.entries()) {
      // labels travel with their versions: loaded only when the version is
      await server.query(LabelVersion, { input: { storyId: id, number: 1, label: `first of ${i}` } }, token);
      await server.query(LabelVersion, { input: { storyId: id, number: 2, label: `second of ${i}` } }, token);
    }
    for (const id of stories) {
      const storyId = decodeGlobalId(id)!.id;
      const fold = foldEvents(storyId, await readStream(server.db.prisma, storyId));
      expect(fold.versions.latestNumber).toBeGreaterThan(10);
      for (const extra of [[], [1], [2, fold.versions.latestNumber]]) {
        const loaded = await loadCommandState(server.db.prisma, storyId, { extraVersions: extra });
        expect(loaded).toEqual({ state: asLoadedForCommand(fold, extra), earlier: null });
      }
    }
  });
});

describe("the verify and rebuild commands", () => {
  const cli = (command: string) =>
    run(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", command], {
      env: { ...process.env, DATA_DIR: server.database.dataDir, DATABASE_URL: server.database.databaseUrl ?? "", DIRECT_URL: server.database.directUrl ?? "" },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it("exit 1 on a difference, rebuild repairs it, then verify exits 0", async () => {
    const storyId = await createStory(server, token, "CLI");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "cli" } } }, token);
    await server.db.prisma.story.updateMany({ data: { title: "tampered" } });
    await server.stop(); // the embedded database is one process's: the CLI opens it next

    const failing = await cli("verify");
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/"field":"title"/);
    expect(failing.stderr).toMatch(/difference/);

    const rebuild = await cli("rebuild");
    expect(rebuild.code).toBe(0);
    expect(rebuild.stderr).toMatch(/rebuild: \d+ stories from \d+ events/);

    const passing = await cli("verify");
    expect(passing.code).toBe(0);
    expect(passing.stderr).toMatch(/equal the fold of the log/);

    server = await startTestServer(server.database);
  });

  it("refuses to open an embedded database a server is using, with a clear message", async () => {
    const storyId = await createStory(server, token, "Busy");
    const result = await cli("verify");
    if (server.db.kind === "pglite") {
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/in use by process \d+ \(test server, since/);
      await expect(openDatabase({ dataDir: server.database.dataDir, purpose: "second opener" })).rejects.toThrow(/already open in this process/);
    } else {
      // PostgreSQL takes many clients: the CLI works beside the server
      expect(result.code).toBe(0);
    }
    expect((await server.query(StoryStateQuery, { id: storyId }, token)).story!.title).toBe("Busy");
  });
});
