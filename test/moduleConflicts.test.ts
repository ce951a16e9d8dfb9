// Module-level conflicts through GraphQL (issue 13, item 5), with the story's one writer until
// membership lets a second in: `baseVersionNumber` refuses a write only when the module it writes
// changed after that version, and says what the module holds now, who changed it and when. Live
// updates of content say who made the change (item 7).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { encodeGlobalId } from "../src/domain/globalIds.ts";
import {
  ClearModule,
  GenerateModule,
  ModuleDraftBy,
  ModuleUpdatedBy,
  Redo,
  RestoreVersion,
  StoryEventsBy,
  StoryState,
  Undo,
  WriteModule,
} from "./support/documents.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";

let fake: FakeOpenAI;
let server: TestServer;
let writer: { token: string; userId: string };

beforeAll(async () => {
  fake = await startFakeOpenAI();
  server = await startTestServer(undefined, { ai: { apiKey: "test-key", baseURL: fake.baseURL, defaultModel: "gpt-4o-mini", timeoutMs: 10_000, maxRetries: 0 } });
  writer = await signUpWriter(server, "ann");
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

const revisionOf = async (storyId: string) => (await server.query(StoryState, { id: storyId }, writer.token)).story!.revision;

describe("baseVersionNumber with one writer", () => {
  it("a stale base on the same module is MODULE_CONFLICT with the module's content, who changed it and when; nothing is stored", async () => {
    const storyId = await createStory(server, writer.token, "Conflicts");
    const first = await server.query(
      WriteModule,
      { input: { storyId, module: "IDEA_SPARK", output: { logline: "first" }, inputText: "my notes", baseVersionNumber: 1 } },
      writer.token,
    );
    expect(first.writeModule.version.number).toBe(2);
    const revision = await revisionOf(storyId);

    const stale = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "second" }, baseVersionNumber: 1 } }, writer.token);
    expect(errorCodes(stale)).toEqual(["MODULE_CONFLICT"]);
    const error = stale.errors![0]!;
    expect(error.message).toMatch(/^IDEA_SPARK \(by ann at .*\) changed after version 1$/);
    const idea = await server.db.prisma.storyModule.findFirstOrThrow({ where: { moduleName: "idea-spark", story: { title: "Conflicts" } } });
    const conflict = {
      module: "IDEA_SPARK",
      output: { logline: "first" },
      inputText: "my notes",
      changedBy: { id: writer.userId, username: "ann" },
      changedAt: idea.updatedAt.toISOString(),
    };
    expect(error.extensions).toEqual({ code: "MODULE_CONFLICT", ...conflict, versionNumber: 2, baseVersionNumber: 1, modules: [conflict] });
    expect(await revisionOf(storyId)).toBe(revision);
  });

  it("a write to another module goes through from the same base though the story moved on, and so does one from the module's own last version", async () => {
    const storyId = await createStory(server, writer.token, "Elsewhere");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "idea" }, baseVersionNumber: 1 } }, writer.token);
    const world = await server.request(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "island" }, baseVersionNumber: 1 } }, writer.token);
    expect(world.errors).toBeUndefined();
    expect(world.data!.writeModule.version.number).toBe(3);
    // the idea last changed in version 2: a base of 2 saw it as it is
    const idea = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "idea 2" }, baseVersionNumber: 2 } }, writer.token);
    expect(idea.errors).toBeUndefined();
    expect(idea.data!.writeModule.version.snapshot).toMatchObject({ idea_spark: { logline: "idea 2" }, world_seed: { setting: "island" } });
  });

  it("clear, restore, undo and redo are held to it on the modules they would change; expectedRevision keeps its meaning", async () => {
    const storyId = await createStory(server, writer.token, "Held");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "v2" } } }, writer.token);
    await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "v3" } } }, writer.token);
    const codes = async (response: Promise<GraphQLResponse<unknown>>) => errorCodes(await response);

    expect(await codes(server.request(ClearModule, { input: { storyId, module: "WORLD_SEED", baseVersionNumber: 2 } }, writer.token))).toEqual(["MODULE_CONFLICT"]);
    expect(await codes(server.request(RestoreVersion, { input: { storyId, number: 1, baseVersionNumber: 2 } }, writer.token))).toEqual(["MODULE_CONFLICT"]);
    // undo would take the world back: it changed after version 2
    expect(await codes(server.request(Undo, { input: { storyId, baseVersionNumber: 2 } }, writer.token))).toEqual(["MODULE_CONFLICT"]);
    // a stale revision is REVISION_CONFLICT whatever the base
    const stale = await server.request(Undo, { input: { storyId, baseVersionNumber: 3, expectedRevision: 2 } }, writer.token);
    expect(stale.errors?.[0]?.extensions).toMatchObject({ code: "REVISION_CONFLICT", actualRevision: 3 });

    const undone = await server.query(Undo, { input: { storyId, baseVersionNumber: 3 } }, writer.token);
    expect(undone.undo.version.number).toBe(2);
    expect(await codes(server.request(Redo, { input: { storyId, baseVersionNumber: 1 } }, writer.token))).toEqual([]);
  });

  it("a base that is no version of the story is NOT_FOUND naming the field, and nothing is stored", async () => {
    const storyId = await createStory(server, writer.token, "Nowhere");
    for (const base of [99, 0, -1]) {
      const response = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "x" }, baseVersionNumber: base } }, writer.token);
      expect(response.errors?.[0]?.extensions).toEqual({ code: "NOT_FOUND", field: "baseVersionNumber" });
    }
    expect(await revisionOf(storyId)).toBe(1);
  });

  it("a stranger's write with a base gets exactly what a missing story gets", async () => {
    const storyId = await createStory(server, writer.token, "Private");
    const stranger = await signUpWriter(server, "stranger");
    const theirs = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "x" }, baseVersionNumber: 1 } }, stranger.token);
    const missing = await server.request(
      WriteModule,
      { input: { storyId: encodeGlobalId("Story", randomUUID()), module: "IDEA_SPARK", output: { logline: "x" }, baseVersionNumber: 1 } },
      stranger.token,
    );
    expect(theirs.errors).toEqual(missing.errors);
    expect(errorCodes(theirs)).toEqual(["NOT_FOUND"]);
    const undo = await server.request(Undo, { input: { storyId, baseVersionNumber: 1 } }, stranger.token);
    expect(errorCodes(undo)).toEqual(["NOT_FOUND"]);
    expect(await revisionOf(storyId)).toBe(1);
  });

  it("generateModule from a stale base is refused before the model is asked", async () => {
    const storyId = await createStory(server, writer.token, "Generated");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "by hand" } } }, writer.token);
    const asked = fake.requests.length;
    const response = await server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "a keeper", baseVersionNumber: 1 } }, writer.token);
    expect(errorCodes(response)).toEqual(["MODULE_CONFLICT"]);
    expect(response.errors![0]!.extensions).toMatchObject({ output: { logline: "by hand" }, changedBy: { id: writer.userId, username: "ann" }, versionNumber: 2 });
    expect(fake.requests.length).toBe(asked);
    expect(await server.db.prisma.aiGeneration.count({ where: { storyId: (await server.db.prisma.story.findFirstOrThrow({ where: { title: "Generated" } })).id } })).toBe(0);
  });

  it("generateModule is held to its base again when its output is written: a hand edit of the module meanwhile wins, one of another module does not", async () => {
    const storyId = await createStory(server, writer.token, "Raced");
    const idea = { logline: "A keeper bargains with the sea.", one_liner: "Grief and tides.", premise: "A keeper alone.", themes: ["grief"] };
    const chunks = (text: string) => Array.from({ length: 8 }, (_, i) => text.slice((i * text.length) / 8, ((i + 1) * text.length) / 8));

    fake.script({ kind: "stream", chunks: chunks(JSON.stringify(idea)), chunkDelayMs: 400 });
    const raced = server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "a keeper", baseVersionNumber: 1 } }, writer.token);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "mine, by hand" } } }, writer.token);
    const refused = await raced;
    expect(errorCodes(refused)).toEqual(["MODULE_CONFLICT"]);
    expect(refused.errors![0]!.extensions).toMatchObject({ output: { logline: "mine, by hand" }, versionNumber: 2 });

    fake.script({ kind: "stream", chunks: chunks(JSON.stringify(idea)), chunkDelayMs: 400 });
    const alongside = server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "a keeper", baseVersionNumber: 2 } }, writer.token);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "an island" } } }, writer.token);
    const written = await alongside;
    expect(written.errors).toBeUndefined();
    expect(written.data!.generateModule.version.snapshot).toMatchObject({ idea_spark: idea, world_seed: { setting: "an island" } });
  });
});

describe("live updates of content", () => {
  it("moduleUpdated and storyEvents say who made each change", async () => {
    const storyId = await createStory(server, writer.token, "Live");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "one" } } }, writer.token);
    await server.query(Undo, { input: { storyId } }, writer.token);
    const ws = wsClient(server.url, writer.token);
    const modules = subscribeWs(ws, ModuleUpdatedBy, { storyId, after: 0 });
    const events = subscribeWs(ws, StoryEventsBy, { storyId, after: 0 });
    try {
      await modules.received.until((r) => r.data.length >= 2);
      await events.received.until((r) => r.data.length >= 3);
      const ann = { id: writer.userId, username: "ann" };
      expect(modules.received.data.map((d) => [d.moduleUpdated.event.type, d.moduleUpdated.actor])).toEqual([
        ["ModuleWritten", ann],
        ["Undone", ann],
      ]);
      expect(events.received.data.map((d) => [d.storyEvents.type, d.storyEvents.actor])).toEqual([
        ["StoryCreated", ann],
        ["ModuleWritten", ann],
        ["Undone", ann],
      ]);
    } finally {
      modules.stop();
      events.stop();
      await ws.dispose();
    }
  });

  it("moduleDraft says who asked for the generation", async () => {
    const storyId = await createStory(server, writer.token, "Drafted");
    const ws = wsClient(server.url, writer.token);
    const drafts = subscribeWs(ws, ModuleDraftBy, { storyId });
    try {
      // a subscription is live some time after it is sent: generations that fail at once until it sees one
      for (let i = 0; i < 40 && drafts.received.data.length === 0; i++) {
        fake.script({ kind: "status", status: 400, message: "warm-up" });
        await server.request(GenerateModule, { input: { storyId, module: "IDEA_SPARK", inputText: "warm-up" } }, writer.token);
        await drafts.received.until((r) => r.data.length > 0, 250).catch(() => null);
      }
      expect(drafts.received.data.length).toBeGreaterThan(0);
      for (const { moduleDraft } of drafts.received.data) expect(moduleDraft.actor).toEqual({ id: writer.userId, username: "ann" });
    } finally {
      drafts.stop();
      await ws.dispose();
    }
  });
});
