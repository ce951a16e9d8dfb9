// Concurrent writers and idempotency keys (API.md §5).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoryEvents, StoryState, Undo, WriteModule } from "./support/documents.ts";
import { createStory, startServerWithWriter } from "./support/fixtures.ts";
import { errorCodes, type TestServer } from "./support/server.ts";
import { requestTerms } from "../src/commands/storyCommands.ts";

let server: TestServer;
let token: string;

beforeAll(async () => ({ server, token } = await startServerWithWriter()));
afterAll(() => server?.close());

const eventsOf = async (storyId: string) => (await server.query(StoryEvents, { id: storyId, first: 100 }, token)).story!.events;

describe("50 concurrent writeModule calls on one story", () => {
  it("without expectedRevision: all succeed, 50 events with contiguous seq, 50 new versions", async () => {
    const storyId = await createStory(server, token);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        server.request(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: `world ${i}` } } }, token),
      ),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const seqs = results.map((r) => r.data!.writeModule.event.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));

    const events = await eventsOf(storyId);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    const { story } = await server.query(StoryState, { id: storyId }, token);
    expect(story!.revision).toBe(51);
    expect(story!.versions.edges.map((e) => e.node.number)).toEqual(Array.from({ length: 51 }, (_, i) => 51 - i));
    // every version is the child of the one before it: no write was lost
    for (const { node } of story!.versions.edges) {
      expect(node.parent?.number ?? null).toBe(node.number === 1 ? null : node.number - 1);
    }
  });

  it("with the same expectedRevision: exactly one succeeds, the rest get REVISION_CONFLICT with the actual revision", async () => {
    const storyId = await createStory(server, token);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        server.request(
          WriteModule,
          { input: { storyId, module: "IDEA_SPARK", output: { logline: `take ${i}` }, expectedRevision: 1 } },
          token,
        ),
      ),
    );
    const succeeded = results.filter((r) => !r.errors);
    const conflicts = results.filter((r) => errorCodes(r)[0] === "REVISION_CONFLICT");
    expect(succeeded).toHaveLength(1);
    expect(conflicts).toHaveLength(49);
    for (const conflict of conflicts) expect(conflict.errors![0]!.extensions!.actualRevision).toBe(2);
    expect((await eventsOf(storyId)).map((e) => e.seq)).toEqual([1, 2]);
  });
});

describe("idempotency keys", () => {
  it("the same key twice appends one event and answers identically", async () => {
    const storyId = await createStory(server, token);
    const input = { storyId, module: "IDEA_SPARK" as const, output: { logline: "once" }, idempotencyKey: "write-once-1" };
    const first = await server.request(WriteModule, { input }, token);
    const second = await server.request(WriteModule, { input }, token);
    expect(first.errors).toBeUndefined();
    expect({ ...second.data!.writeModule, replayed: false }).toEqual(first.data!.writeModule);
    expect(second.data!.writeModule.replayed).toBe(true);
    expect((await eventsOf(storyId)).map((e) => e.type)).toEqual(["StoryCreated", "ModuleWritten"]);
  });

  it("the same key sent concurrently still appends once", async () => {
    const storyId = await createStory(server, token);
    const input = { storyId, idempotencyKey: "undo-retry" };
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "x" } } }, token);
    const results = await Promise.all(Array.from({ length: 10 }, () => server.request(Undo, { input }, token)));
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    expect(new Set(results.map((r) => r.data!.undo.event.seq))).toEqual(new Set([3]));
    expect((await eventsOf(storyId)).map((e) => e.type)).toEqual(["StoryCreated", "ModuleWritten", "Undone"]);
  });

  it("a retry listing the output's keys in another order, nested too, is a replay and appends once", async () => {
    const storyId = await createStory(server, token);
    const key = { storyId, module: "CHARACTER_FORGE" as const, idempotencyKey: "reordered" };
    const output = { characters: [{ name: "Mara", role: "protagonist", want: "the lighthouse" }], tone: "salt" };
    const reordered = { tone: "salt", characters: [{ want: "the lighthouse", role: "protagonist", name: "Mara" }] };
    const first = await server.request(WriteModule, { input: { ...key, output } }, token);
    const retry = await server.request(WriteModule, { input: { output: reordered, ...key } }, token);
    expect(first.errors).toBeUndefined();
    expect(retry.errors).toBeUndefined();
    expect(retry.data!.writeModule.replayed).toBe(true);
    expect(retry.data!.writeModule.event.seq).toBe(first.data!.writeModule.event.seq);
    expect((await eventsOf(storyId)).map((e) => e.type)).toEqual(["StoryCreated", "ModuleWritten"]);
  });

  it("a retry of a request an earlier server fingerprinted without canonical JSON is still a replay", async () => {
    const storyId = await createStory(server, token);
    const input = { storyId, module: "IDEA_SPARK" as const, output: { logline: "a keeper", tone: "salt" }, idempotencyKey: "across-upgrade" };
    const first = await server.query(WriteModule, { input }, token);
    // what a server before canonical JSON stored: the plain JSON.stringify fingerprint of the same command
    // (the first expectation below checks that this is the command the server fingerprints)
    const stored = await server.db.prisma.storyEvent.findFirstOrThrow({ where: { idempotencyKey: "across-upgrade" } });
    const { requestHash, earlierRequestHash } = requestTerms({ idempotencyKey: "across-upgrade", requestIdentity: { type: "WriteModule", module: input.module, output: input.output } });
    expect(stored.requestHash).toBe(requestHash);
    await server.db.prisma.storyEvent.update({ where: { id: stored.id }, data: { requestHash: earlierRequestHash } });

    const retry = await server.request(WriteModule, { input }, token);
    expect(retry.errors).toBeUndefined();
    expect(retry.data!.writeModule.replayed).toBe(true);
    expect(retry.data!.writeModule.event.seq).toBe(first.writeModule.event.seq);
  });

  it("a key reused for a different request is refused", async () => {
    const storyId = await createStory(server, token);
    const base = { storyId, module: "IDEA_SPARK" as const, idempotencyKey: "k" };
    await server.query(WriteModule, { input: { ...base, output: { logline: "a" } } }, token);
    const reused = await server.request(WriteModule, { input: { ...base, output: { logline: "b" } } }, token);
    expect(errorCodes(reused)).toEqual(["BAD_USER_INPUT"]);
    expect(reused.errors![0]!.message).toMatch(/idempotencyKey/);
    expect(await eventsOf(storyId)).toHaveLength(2);
  });
});
