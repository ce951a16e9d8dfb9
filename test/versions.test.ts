// API.md §3: versions, undo, redo and restore, through real GraphQL requests.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearModule, CreateStory, Redo, RestoreVersion, StoryState, Undo, UpdateStory, WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

const EMPTY = { idea_spark: null, world_seed: null, character_forge: null, plot_skeleton: null, wordsmith_lab: null };
const logline = (text: string) => ({ logline: text, one_liner: `${text} (short)` });

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

async function state(storyId: string) {
  const { story } = await server.query(StoryState, { id: storyId }, token);
  return story!;
}

const write = (storyId: string, output: object, module: "IDEA_SPARK" | "WORLD_SEED" = "IDEA_SPARK", inputText?: string) =>
  server.query(WriteModule, { input: { storyId, module, output, ...(inputText === undefined ? {} : { inputText }) } }, token);

describe("a new story", () => {
  it("starts at version 1, whose snapshot has the five keys, all null", async () => {
    const { createStory: created } = await server.query(CreateStory, { input: { title: "  Ash and Ember  ", genre: "fantasy" } }, token);
    expect(created.story.title).toBe("Ash and Ember");
    expect(created.version).toEqual({ number: 1, snapshot: EMPTY, parent: null });
    // keys in story order, whatever order the database keeps them in
    expect(Object.keys(created.version.snapshot as object)).toEqual(Object.keys(EMPTY));
    expect(created.event).toEqual({ seq: 1, type: "StoryCreated" });
    expect(created.story).toMatchObject({ revision: 1, canUndo: false, canRedo: false });

    const story = await state(created.story.id);
    expect(story.modules.map((m) => [m.name, m.order, m.output, m.inputText])).toEqual([
      ["IDEA_SPARK", 1, null, null],
      ["WORLD_SEED", 2, null, null],
      ["CHARACTER_FORGE", 3, null, null],
      ["PLOT_SKELETON", 4, null, null],
      ["WORDSMITH_LAB", 5, null, null],
    ]);
  });

  it("has nothing to undo or redo", async () => {
    const storyId = await createStory(server, token);
    expect(errorCodes(await server.request(Undo, { input: { storyId } }, token))).toEqual(["NOTHING_TO_UNDO"]);
    expect(errorCodes(await server.request(Redo, { input: { storyId } }, token))).toEqual(["NOTHING_TO_REDO"]);
    expect((await state(storyId)).revision).toBe(1);
  });
});

describe("content changes", () => {
  it("each make one new version, child of the active one, with the change applied", async () => {
    const storyId = await createStory(server, token);
    const first = await write(storyId, logline("A keeper hears the sea speak"), "IDEA_SPARK", "lighthouse, grief");
    expect(first.writeModule.version).toMatchObject({
      number: 2,
      parent: { number: 1 },
      isActive: true,
      snapshot: { ...EMPTY, idea_spark: logline("A keeper hears the sea speak") },
      inputs: { ...EMPTY, idea_spark: "lighthouse, grief" },
    });
    expect(first.writeModule.event).toMatchObject({ seq: 2, type: "ModuleWritten", activeVersionNumber: 2 });

    const second = await write(storyId, { setting: "A rock off the Hebrides" }, "WORLD_SEED");
    expect(second.writeModule.version.number).toBe(3);
    expect(second.writeModule.version.parent).toEqual({ number: 2 });
    expect(second.writeModule.version.snapshot).toEqual({
      ...EMPTY,
      idea_spark: logline("A keeper hears the sea speak"),
      world_seed: { setting: "A rock off the Hebrides" },
    });

    const cleared = await server.query(ClearModule, { input: { storyId, module: "IDEA_SPARK" } }, token);
    expect(cleared.clearModule.version).toEqual({
      number: 4,
      parent: { number: 3 },
      snapshot: { ...EMPTY, world_seed: { setting: "A rock off the Hebrides" } },
    });

    const story = await state(storyId);
    expect(story.activeVersion.number).toBe(4);
    expect(story.modules[0]).toMatchObject({ name: "IDEA_SPARK", output: null, inputText: null });
    expect(story.modules[1]).toMatchObject({ name: "WORLD_SEED", output: { setting: "A rock off the Hebrides" } });
    expect(story.versions.edges.map((e) => e.node.number)).toEqual([4, 3, 2, 1]);
  });

  it("keep the module's input text when a write leaves it out", async () => {
    const storyId = await createStory(server, token);
    await write(storyId, logline("one"), "IDEA_SPARK", "my notes");
    const again = await write(storyId, logline("two"));
    expect(again.writeModule.version.inputs).toMatchObject({ idea_spark: "my notes" });
  });

  it("story details change the revision but make no version", async () => {
    const storyId = await createStory(server, token);
    const { updateStory } = await server.query(UpdateStory, { input: { id: storyId, title: "New title", isComplete: true } }, token);
    expect(updateStory.story).toMatchObject({ title: "New title", isComplete: true, revision: 2 });
    expect(updateStory.version.number).toBe(1);
    expect(updateStory.event).toMatchObject({ seq: 2, type: "StoryDetailsChanged", payload: { title: "New title", isComplete: true } });
  });
});

describe("undo and redo", () => {
  it("move between versions without making new ones", async () => {
    const storyId = await createStory(server, token);
    await write(storyId, logline("v2"));
    await write(storyId, logline("v3"));

    const undone = await server.query(Undo, { input: { storyId } }, token);
    expect(undone.undo.version).toEqual({ number: 2, snapshot: { ...EMPTY, idea_spark: logline("v2") } });
    expect(undone.undo.story).toEqual({ revision: 4, canUndo: true, canRedo: true });
    expect(undone.undo.event).toEqual({ seq: 4, type: "Undone", activeVersionNumber: 2 });

    const story = await state(storyId);
    expect(story.modules[0]!.output).toEqual(logline("v2"));
    expect(story.versions.edges).toHaveLength(3);

    const redone = await server.query(Redo, { input: { storyId } }, token);
    expect(redone.redo.version.number).toBe(3);
    expect(redone.redo.story).toEqual({ revision: 5, canUndo: true, canRedo: false });
    expect((await state(storyId)).modules[0]!.output).toEqual(logline("v3"));
  });

  it("undo n times then redo n times returns exactly to the start", async () => {
    const storyId = await createStory(server, token);
    for (let i = 1; i <= 6; i++) await write(storyId, logline(`draft ${i}`), i % 2 ? "IDEA_SPARK" : "WORLD_SEED", `notes ${i}`);
    const start = await state(storyId);

    for (let i = 0; i < 6; i++) await server.query(Undo, { input: { storyId } }, token);
    const bottom = await state(storyId);
    expect(bottom.activeVersion).toEqual({ number: 1, snapshot: EMPTY, inputs: EMPTY });
    expect(bottom.canUndo).toBe(false);
    expect(errorCodes(await server.request(Undo, { input: { storyId } }, token))).toEqual(["NOTHING_TO_UNDO"]);

    for (let i = 0; i < 6; i++) await server.query(Redo, { input: { storyId } }, token);
    const end = await state(storyId);
    expect(end.activeVersion).toEqual(start.activeVersion);
    expect(end.modules).toEqual(start.modules);
    expect(end.versions).toEqual(start.versions);
    expect(end.canRedo).toBe(false);
    expect(end.revision).toBe(start.revision + 12);
  });

  it("a write after undo clears what can be redone", async () => {
    const storyId = await createStory(server, token);
    await write(storyId, logline("a"));
    await write(storyId, logline("b"));
    await server.query(Undo, { input: { storyId } }, token);
    const branched = await write(storyId, logline("c"));
    expect(branched.writeModule.version).toMatchObject({ number: 4, parent: { number: 2 } });
    expect(branched.writeModule.story.canRedo).toBe(false);
    expect(errorCodes(await server.request(Redo, { input: { storyId } }, token))).toEqual(["NOTHING_TO_REDO"]);
    // the abandoned version 3 is still there
    expect((await state(storyId)).versions.edges.map((e) => e.node.number)).toEqual([4, 3, 2, 1]);
  });
});

describe("restoreVersion", () => {
  it("makes a new version equal to the old one, and loses nothing", async () => {
    const storyId = await createStory(server, token);
    await write(storyId, logline("first idea"), "IDEA_SPARK", "notes 1");
    await write(storyId, logline("second idea"), "IDEA_SPARK", "notes 2");
    await write(storyId, { setting: "Mars" }, "WORLD_SEED");

    const restored = await server.query(RestoreVersion, { input: { storyId, number: 2 } }, token);
    expect(restored.restoreVersion.version).toEqual({
      number: 5,
      parent: { number: 4 },
      snapshot: { ...EMPTY, idea_spark: logline("first idea") },
    });
    const story = await state(storyId);
    expect(story.activeVersion.inputs).toEqual({ ...EMPTY, idea_spark: "notes 1" });
    expect(story.modules[1]!.output).toBeNull();
    expect(story.versions.edges.map((e) => e.node.number)).toEqual([5, 4, 3, 2, 1]);

    // undo takes the restore back
    const undone = await server.query(Undo, { input: { storyId } }, token);
    expect(undone.undo.version.number).toBe(4);
  });

  it("answers NOT_FOUND for a version that does not exist, and changes nothing", async () => {
    const storyId = await createStory(server, token);
    const response = await server.request(RestoreVersion, { input: { storyId, number: 7 } }, token);
    expect(errorCodes(response)).toEqual(["NOT_FOUND"]);
    expect((await state(storyId)).revision).toBe(1);
  });
});

describe("a server restart", () => {
  it("keeps the state, and undo and redo keep working", async () => {
    const storyId = await createStory(server, token);
    await write(storyId, logline("before restart 1"));
    await write(storyId, logline("before restart 2"));
    await server.query(Undo, { input: { storyId } }, token);
    const before = await state(storyId);

    await server.stop();
    server = await startTestServer(server.database);

    expect(await state(storyId)).toEqual(before);
    const redone = await server.query(Redo, { input: { storyId } }, token);
    expect(redone.redo.version.snapshot).toEqual({ ...EMPTY, idea_spark: logline("before restart 2") });
    await server.query(Undo, { input: { storyId } }, token);
    const undone = await server.query(Undo, { input: { storyId } }, token);
    expect(undone.undo.version.number).toBe(1);
  });
});
