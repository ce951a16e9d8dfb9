// importStory goes through the story's rules: every imported event is re-run as its command through
// decide. A log that breaks a rule is refused with BAD_USER_INPUT naming the event's seq and the field,
// and nothing is stored; what is stored carries no forged provenance and no unknown fields.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { ExportStory, ImportStory, LabelVersion, Redo, RestoreVersion, Undo, UpdateStory, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

const ImportedHistory = graphql(`
  query ImportedHistory($id: ID!) {
    story(id: $id) {
      revision canRedo
      events(first: 100) { seq type payload }
      versions(first: 100) { edges { node { number label generation { id } } } }
    }
  }
`);

type ExportedEvent = { seq: number; type: string; schemaVersion: number; payload: Record<string, unknown>; createdAt: string };
type Exported = { events: ExportedEvent[] } & Record<string, unknown>;

let server: TestServer;
let token: string;
let exported: Exported;

beforeAll(async () => {
  server = await startTestServer();
  ({ token } = await signUpWriter(server));
  const storyId = await createStory(server, token, "Imported"); // 1 → v1
  const write = (module: "IDEA_SPARK" | "WORLD_SEED", output: object) => server.query(WriteModule, { input: { storyId, module, output, inputText: "notes" } }, token);
  await write("IDEA_SPARK", { logline: "A keeper hears the sea.", themes: ["grief"] }); // 2 → v2
  await write("WORLD_SEED", { setting: "A rock in the sea." }); // 3 → v3
  await server.query(UpdateStory, { input: { id: storyId, logline: "The sea bargains." } }, token); // 4
  await server.query(Undo, { input: { storyId } }, token); // 5 → v2 active
  await server.query(Redo, { input: { storyId } }, token); // 6 → v3 active
  await server.query(RestoreVersion, { input: { storyId, number: 2 } }, token); // 7 → v4
  await server.query(LabelVersion, { input: { storyId, number: 3, label: "First world" } }, token); // 8
  exported = (await server.query(ExportStory, { id: storyId, format: "JSON" }, token)).exportStory.data as Exported;
  expect(exported.events.map((e) => e.type)).toEqual([
    "StoryCreated",
    "ModuleWritten",
    "ModuleWritten",
    "StoryDetailsChanged",
    "Undone",
    "Redone",
    "VersionRestored",
    "VersionLabeled",
  ]);
});
afterAll(() => server?.close());

async function rowCounts() {
  const p = server.db.prisma;
  const [stories, events, versions, modules, metadata, generations] = await Promise.all([
    p.story.count(),
    p.storyEvent.count(),
    p.storyVersion.count(),
    p.storyModule.count(),
    p.metadata.count(),
    p.aiGeneration.count(),
  ]);
  return { stories, events, versions, modules, metadata, generations };
}

/** The export changed by `tamper`, as the JSON text a file would hold. */
function tampered(tamper: (data: Exported) => void, text: (json: string) => string = (json) => json): string {
  const data = structuredClone(exported);
  tamper(data);
  return text(JSON.stringify(data));
}

const bySeq = (data: Exported, seq: number) => data.events.find((e) => e.seq === seq)!;

async function expectRefused(content: string, field: string, reason: RegExp) {
  const before = await rowCounts();
  const response = await server.request(ImportStory, { input: { content } }, token);
  expect(errorCodes(response), JSON.stringify(response.errors)).toEqual(["BAD_USER_INPUT"]);
  const message = response.errors![0]!.message;
  expect(message.startsWith(`${field}: `), message).toBe(true);
  expect(message).toMatch(reason);
  expect(await rowCounts()).toEqual(before);
  // the server still answers, and the untouched export still imports
  expect(errorCodes(await server.request(ImportStory, { input: { content: JSON.stringify(exported) } }, token))).toEqual([]);
}

describe("importStory refuses a log that breaks the story's rules", () => {
  it("a 900 KB title (the limit is 200 characters)", () =>
    expectRefused(tampered((d) => void (bySeq(d, 1).payload.title = "t".repeat(900_000))), "data.events[seq 1].payload.title", /at most 200/));

  it("NUL in a title, written as a JSON escape inside the content", () =>
    expectRefused(tampered((d) => void (bySeq(d, 1).payload.title = "a\0b")), "data.events[seq 1].payload.title", /NUL/));

  it("a lone surrogate deep in a module's output", () =>
    expectRefused(
      tampered((d) => void (bySeq(d, 2).payload.output = { logline: "x", themes: ["ok", "bad\udc00"] })),
      "data.events[seq 2].payload.output.themes.1",
      /lone surrogate/,
    ));

  it("output that is not an object", () =>
    expectRefused(tampered((d) => void (bySeq(d, 2).payload.output = "not an object")), "data.events[seq 2].payload.output", /JSON object/));

  it("output that does not fit the module's schema", () =>
    expectRefused(tampered((d) => void (bySeq(d, 2).payload.output = { logline: 42 })), "data.events[seq 2].payload.output.logline", /expected string/));

  it("output over the size limit", () =>
    expectRefused(tampered((d) => void (bySeq(d, 3).payload.output = { setting: "s".repeat(8_000), notes: "n".repeat(210 * 1024) })), "data.events[seq 3].payload.output", /at most/));

  it("output nested 10,000 levels deep", () =>
    expectRefused(
      tampered(
        (d) => void (bySeq(d, 2).payload.output = "@DEEP@"),
        (json) => json.replace('"@DEEP@"', '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000)),
      ),
      "data.events[seq 2].payload.output",
      /deeper than 64/,
    ));

  it("a label on a version that does not exist", () =>
    expectRefused(tampered((d) => void (bySeq(d, 8).payload.number = 99)), "data.events[seq 8].payload.number", /version 99/));

  it("a label over 100 characters", () =>
    expectRefused(tampered((d) => void (bySeq(d, 8).payload.label = "l".repeat(900_000))), "data.events[seq 8].payload.label", /at most 100/));

  it("a restore of a version that does not exist", () =>
    expectRefused(tampered((d) => void (bySeq(d, 7).payload.restoredNumber = 42)), "data.events[seq 7].payload.restoredNumber", /version 42/));

  it("an Undone that is not what undo does: from 999 to 1", () =>
    expectRefused(tampered((d) => void (bySeq(d, 5).payload = { from: 999, to: 1 })), "data.events[seq 5].payload.from", /999.*rules give 3/));

  it("an Undone {from: 999, to: 1} appended to the log", () =>
    expectRefused(
      tampered((d) => void d.events.push({ ...bySeq(d, 5), seq: 9, payload: { from: 999, to: 1 } })),
      "data.events[seq 9].payload.from",
      /999/,
    ));

  it("a Redone with nothing to redo", () =>
    expectRefused(tampered((d) => void d.events.push({ ...bySeq(d, 6), seq: 9 })), "data.events[seq 9].type", /nothing to redo/));

  it("a version number that is not the next one", () =>
    expectRefused(tampered((d) => void (bySeq(d, 3).payload.version = { id: randomUUID(), number: 7 })), "data.events[seq 3].payload.version.number", /7.*rules give 3/));

  it("an unknown event type", () =>
    expectRefused(tampered((d) => void (bySeq(d, 4).type = "StoryHacked")), "data.events[seq 4].type", /unknown event type/));

  it("a payload field of the wrong type", () =>
    expectRefused(tampered((d) => void (bySeq(d, 2).payload.inputText = 5)), "data.events[seq 2].payload.inputText", /expected string/));

  it("a gap in seq", () => expectRefused(tampered((d) => void (bySeq(d, 4).seq = 5)), "data.events[seq 5].seq", /must be 4/));

  it("a log that does not start with StoryCreated", () =>
    expectRefused(
      tampered((d) => void (d.events = d.events.slice(1).map((e, i) => ({ ...e, seq: i + 1 })))),
      "data.events[seq 1].type",
      /start with StoryCreated/,
    ));

  it("a second StoryCreated", () =>
    expectRefused(tampered((d) => void d.events.push({ ...bySeq(d, 1), seq: 9 })), "data.events[seq 9].type", /start with StoryCreated/));
});

describe("importStory keeps what it may", () => {
  it("drops forged generation provenance and unknown payload fields; the copy is whole and its redo works", async () => {
    const before = await rowCounts();
    const content = tampered((d) => {
      const written = bySeq(d, 2).payload;
      written.generation = { id: randomUUID(), model: "o1-pro", promptVersion: "forged", costUsd: 1_000_000 };
      written.junk = "x".repeat(1_000);
      bySeq(d, 4).payload.isAdmin = true;
    });
    const { importStory } = await server.query(ImportStory, { input: { content } }, token);
    expect(importStory.event.seq).toBe(8);
    const story = (await server.query(ImportedHistory, { id: importStory.story.id }, token)).story!;
    expect(story.events.find((e) => e.seq === 2)!.payload).toEqual({
      module: "IDEA_SPARK",
      inputText: "notes",
      output: { logline: "A keeper hears the sea.", themes: ["grief"] },
      version: { id: expect.any(String), number: 2 },
    });
    expect(story.events.find((e) => e.seq === 4)!.payload).toEqual({ logline: "The sea bargains." });
    expect(story.versions.edges.every((e) => e.node.generation === null)).toBe(true);
    expect(story.versions.edges.find((e) => e.node.number === 3)!.node.label).toBe("First world");
    expect(await rowCounts()).toEqual({ ...before, stories: before.stories + 1, events: before.events + 8, versions: before.versions + 4, modules: before.modules + 5 });

    // undo then redo on the copy: the redo stack is the one the rules made
    await server.query(Undo, { input: { storyId: importStory.story.id } }, token);
    const redone = await server.request(Redo, { input: { storyId: importStory.story.id } }, token);
    expect(errorCodes(redone)).toEqual([]);
    expect(redone.data!.redo.version.number).toBe(4);
  });
});
