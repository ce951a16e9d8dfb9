// The one write path: a command's events and the read-table changes they make go to the database
// in one statement, which applies only if the story is still at the revision decided on; an append
// with a sequence number already taken answers REVISION_CONFLICT with the story's revision; an import goes through the same service, in batches, and is announced.
import { randomUUID } from "node:crypto";
import { createPubSub } from "graphql-yoga";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { importStory } from "../src/commands/importStory.ts";
import { newStoryIds } from "../src/commands/storyCommands.ts";
import { MODULES } from "../src/domain/catalogue.ts";
import { StorySparkError } from "../src/domain/errors.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { decide, evolve, foldEvents, initialState, type StoryCommand, type StoryState } from "../src/domain/story.ts";
import { appendAndProject, inAppendTransaction } from "../src/eventstore/append.ts";
import { readStream, recordEvents } from "../src/eventstore/eventStore.ts";
import { EXPORT_FORMAT } from "../src/history/exportFormat.ts";
import type { LiveTopics } from "../src/live/pubsub.ts";
import { loadCommandState } from "../src/projection/loadStoryState.ts";
import { planProjection } from "../src/projection/projectionPlan.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { Redo, StoryState as StoryStateQuery, UpdateStory, WriteModule, WriteModuleBriefly } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let token: string;
let userId: string;

beforeAll(async () => {
  server = await startTestServer();
  const writer = await signUpWriter(server);
  token = writer.token;
  userId = decodeGlobalId(writer.userId)!.id;
});
afterAll(() => server?.close());

/** The statements of one write, less its usage row (analytics, written off the request's path) and the reads that waited for it. */
async function statementsOf(storyId: string, document: typeof WriteModule | typeof WriteModuleBriefly, input: Record<string, unknown>) {
  const usageRows = () => server.db.prisma.moduleUsageLog.count({ where: { storyId: decodeGlobalId(storyId)!.id } });
  const rowsBefore = await usageRows();
  const before = server.db.statements.count;
  const written = await server.request(document, { input: { storyId, module: "IDEA_SPARK", output: { logline: JSON.stringify(input) }, ...input } }, token);
  expect(errorCodes(written)).toEqual([]);
  let waits = 0;
  await vi.waitFor(
    async () => {
      waits++;
      expect(await usageRows()).toBe(rowsBefore + 1);
    },
    { timeout: 10_000 },
  );
  return server.db.statements.count - before - waits - 1;
}

describe("writeModule", () => {
  it("takes at most 4 SQL statements: the token's check, the state's read, append and project, and the answer's snapshot", async () => {
    const storyId = await createStory(server, token);
    expect(await statementsOf(storyId, WriteModule, {})).toBeLessThanOrEqual(4);
    expect(await statementsOf(storyId, WriteModule, { expectedRevision: 2 })).toBeLessThanOrEqual(4);
    // an idempotency key is looked up by the state's read: no statement more
    expect(await statementsOf(storyId, WriteModule, { idempotencyKey: randomUUID() })).toBeLessThanOrEqual(4);
  });

  it("to a story this server wrote last is the token's check and one statement: decided on the state it left, held to its revision", async () => {
    const storyId = await createStory(server, token);
    expect(await statementsOf(storyId, WriteModuleBriefly, {})).toBe(2);
    expect(await statementsOf(storyId, WriteModuleBriefly, { expectedRevision: 2 })).toBe(2);
    // an idempotency key must be looked up: the state is read
    expect(await statementsOf(storyId, WriteModuleBriefly, { idempotencyKey: randomUUID() })).toBe(3);
  });

  it("after another writer moved the story on, is decided again on the story as it is, and loses nothing", async () => {
    const id = await createStory(server, token, "Two writers");
    const storyId = decodeGlobalId(id)!.id;
    await server.query(WriteModule, { input: { storyId: id, module: "IDEA_SPARK", output: { logline: "ours, first" } } }, token);
    // another instance's write: it goes past this server, which still remembers revision 2
    const other = await loadCommandState(server.db.prisma, storyId);
    const events = recordEvents(storyId, decide({ type: "Undo", actorId: userId, versionId: randomUUID() }, other!.state), { currentRevision: other!.state.revision, actorId: userId });
    const after = events.reduce(evolve, other!.state);
    const rows = events.map((event) => ({ ...event, activeVersionNumber: after.activeVersionNumber, idempotencyKey: null, requestHash: null }));
    expect(await appendAndProject(server.db.prisma, rows, planProjection(other!.state, after), other!.state.revision)).toEqual({ applied: true });

    // remembered: version 2 active; in fact version 1 is, and redo is possible
    const redone = await server.query(Redo, { input: { storyId: id } }, token);
    expect(redone.redo.event).toMatchObject({ seq: 4, activeVersionNumber: 2 });
    const written = await server.query(WriteModule, { input: { storyId: id, module: "WORLD_SEED", output: { setting: "ours, second" } } }, token);
    expect(written.writeModule.version).toMatchObject({ number: 3, parent: { number: 2 } });
    expect((await readStream(server.db.prisma, storyId)).map((e) => e.type)).toEqual(["StoryCreated", "ModuleWritten", "Undone", "Redone", "ModuleWritten"]);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});

describe("an append decided on a revision the story has moved past", () => {
  /** A writer that read the story after its first event, and decided on that. */
  async function staleWrite() {
    const id = await createStory(server, token, "Raced");
    await server.query(UpdateStory, { input: { id, title: "Second" } }, token);
    await server.query(UpdateStory, { input: { id, title: "Third" } }, token);
    const storyId = decodeGlobalId(id)!.id;
    const stale = foldEvents(storyId, (await readStream(server.db.prisma, storyId)).slice(0, 1));
    const events = recordEvents(storyId, decide({ type: "ChangeStoryDetails", details: { title: "Lost" } }, stale), {
      currentRevision: stale.revision,
      actorId: userId,
    });
    const after = events.reduce(evolve, stale);
    const rows = events.map((event) => ({ ...event, activeVersionNumber: after.activeVersionNumber, idempotencyKey: null, requestHash: null }));
    return { id, storyId, stale, rows, plan: planProjection(stale, after) };
  }

  async function expectUnchanged(id: string, storyId: string) {
    const { story } = await server.query(StoryStateQuery, { id }, token);
    expect(story).toMatchObject({ title: "Third", revision: 3 });
    expect((await readStream(server.db.prisma, storyId)).map((e) => e.seq)).toEqual([1, 2, 3]);
  }

  it("applies nothing, and says where the story is", async () => {
    const { id, storyId, stale, rows, plan } = await staleWrite();
    expect(await appendAndProject(server.db.prisma, rows, plan, stale.revision)).toEqual({ applied: false, revision: 3 });
    await expectUnchanged(id, storyId);
  });

  it("with a sequence number already taken, answers REVISION_CONFLICT with the story's revision, and stores nothing", async () => {
    const { id, storyId, rows, plan } = await staleWrite();
    // past the revision check (as a writer that misread the revision would be): the log's unique index refuses it
    const append = inAppendTransaction(server.db, storyId, (tx) => appendAndProject(tx, rows, plan, 3), { maxWait: 10_000, timeout: 30_000 });
    await expect(append).rejects.toThrow(StorySparkError);
    await expect(append).rejects.toMatchObject({ code: "REVISION_CONFLICT", extensions: { actualRevision: 3 } });
    await expectUnchanged(id, storyId);
  });
});

/**
 * A story's log made by the story's own rules: every kind of event, in an order that crosses
 * the import's batches with labels of old versions, undo, redo and restores.
 */
function generatedLog(length: number) {
  const storyId = randomUUID();
  let state: StoryState = initialState(storyId);
  const log: { seq: number; type: string; schemaVersion: number; payload: object; createdAt: string }[] = [];
  const commandFor = (i: number): StoryCommand => {
    const module = MODULES[i % MODULES.length]!.name;
    const latest = state.versions.latestNumber;
    switch (i % 9) {
      case 0:
      case 1:
        return { type: "WriteModule", module, inputText: `notes ${i}`, output: { note: `write ${i}`, list: [i] }, versionId: randomUUID() };
      case 2:
        return { type: "Undo", actorId: userId, versionId: randomUUID() };
      case 3:
        return { type: "Redo", actorId: userId, versionId: randomUUID() };
      case 4:
        return { type: "LabelVersion", number: Math.max(1, latest - 7), label: `label ${i}` };
      case 5:
        return { type: "ClearModule", module, versionId: randomUUID() };
      case 6:
        return { type: "RestoreVersion", number: Math.max(1, latest - 3), versionId: randomUUID() };
      case 7:
        return { type: "ChangeStoryDetails", details: { title: `Title ${i}`, isComplete: i % 2 === 0 } };
      default:
        return { type: "LabelVersion", number: latest, label: null };
    }
  };
  for (let i = 0; log.length < length; i++) {
    const command: StoryCommand = i === 0 ? { type: "CreateStory", ownerId: userId, title: "Generated", logline: null, genre: null, ...newStoryIds() } : commandFor(i);
    let decided;
    try {
      decided = decide(command, state);
    } catch (error) {
      // nothing to undo or redo here: the rules say no, so the log has no such event
      if (error instanceof StorySparkError) continue;
      throw error;
    }
    for (const event of recordEvents(storyId, decided, { currentRevision: state.revision, actorId: userId })) {
      state = evolve(state, event);
      log.push({ seq: event.seq, type: event.type, schemaVersion: event.schemaVersion, payload: event.payload, createdAt: event.createdAt.toISOString() });
    }
  }
  return log;
}

describe("an import", () => {
  it("of a log longer than a statement's batch is projected as the fold of its log, and every event is announced", async () => {
    const events = generatedLog(1_234);
    expect(new Set(events.map((e) => e.type)).size).toBe(8);
    const announced: { type: string; seq: number }[] = [];
    class Recording extends EventTarget {
      override dispatchEvent(message: Event): boolean {
        announced.push({ type: message.type, seq: (message as CustomEvent<{ seq: number }>).detail.seq });
        return super.dispatchEvent(message);
      }
    }
    const pubsub = createPubSub<LiveTopics>({ eventTarget: new Recording() });

    const before = server.db.statements.count;
    const { storyId, event } = await importStory({ db: server.db, pubsub }, userId, { format: EXPORT_FORMAT, formatVersion: 1, events });
    // BEGIN, three batches, COMMIT
    expect(server.db.statements.count - before).toBe(5);

    expect(event.seq).toBe(1_234);
    expect(announced).toEqual(events.map((e) => ({ type: `storyChanged:${storyId}`, seq: e.seq })));
    expect(await verifyReadTables(server.db)).toEqual([]);
    const imported = await server.db.prisma.story.findUniqueOrThrow({ where: { id: storyId } });
    expect(imported).toMatchObject({ userId, revision: 1_234 });
  });
});
