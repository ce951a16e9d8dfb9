// The trash, through the API: deleteStory moves a story there, where it is a missing story to
// everyone (its owner too) until restoreStory brings it back as it was; purgeStory, or the sweep
// TRASH_DAYS later, erases it for good. Against a real database (PGlite, or PostgreSQL with
// TEST_DATABASE=postgres), real HTTP and WebSocket clients.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import {
  DeleteStory,
  ExportStory,
  GenerateModule,
  Node,
  PurgeStory,
  RestoreStory,
  SetMetadata,
  StoriesList,
  StoryAt,
  StoryEventsFeed,
  Undo,
  WriteModule,
} from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { AcceptInvitation, InviteCollaborator } from "./support/membershipDocuments.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { backend } from "./support/databases.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { startTrashSweep } from "../src/server/trashSweep.ts";
import { purgeTrashedBefore } from "../src/commands/trashCommands.ts";

const TrashFullRead = graphql(`
  query TrashFullRead($id: ID!) {
    story(id: $id) {
      id title logline genre isComplete createdAt activeVersionNumber canUndo canRedo viewerRole trashedAt purgeAt
      owner { id }
      modules { id name inputText output }
      versions(first: 50) { edges { node { id number label snapshot parent { number } } } }
      collaborators { user { id } role }
      comments { edges { node { body author { id } } } }
      metadata { key value }
      events(first: 100) { seq type }
    }
  }
`);

const TrashList = graphql(`
  query TrashList($first: Int, $after: String) {
    viewer {
      trash(first: $first, after: $after) {
        edges { cursor node { id title trashedAt purgeAt } }
        pageInfo { hasNextPage endCursor }
      }
      stories { edges { node { id } } }
    }
  }
`);

const TrashAddComment = graphql(`
  mutation TrashAddComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }
`);

const TrashLabel = graphql(`
  mutation TrashLabel($input: LabelVersionInput!) { labelVersion(input: $input) { event { type } } }
`);

let server: TestServer;
let alice: { token: string; userId: string };
let bob: { token: string; userId: string };
let stranger: { token: string; userId: string };

beforeAll(async () => {
  server = await startTestServer();
  alice = await signUpWriter(server, "alice");
  bob = await signUpWriter(server, "bob");
  stranger = await signUpWriter(server, "stranger");
});
afterAll(() => server?.close());

const uuidOf = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A story of Alice's with versions, a label, an undo, metadata, a comment, and Bob as its editor. */
async function fullStory(title: string): Promise<string> {
  const storyId = await createStory(server, alice.token, title);
  await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", inputText: "a spark", output: { logline: "one" } } }, alice.token);
  await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "two" } } }, alice.token);
  await server.query(Undo, { input: { storyId } }, alice.token);
  await server.query(TrashLabel, { input: { storyId, number: 2, label: "kept" } }, alice.token);
  await server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone", value: "noir" } }, alice.token);
  const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId, email: await emailOf(bob.userId), role: "EDITOR" } }, alice.token);
  await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, bob.token);
  await server.query(TrashAddComment, { input: { storyId, module: "IDEA_SPARK", body: "Bob's note" } }, bob.token);
  return storyId;
}

async function emailOf(userId: string): Promise<string> {
  return (await server.db.prisma.user.findUniqueOrThrow({ where: { id: uuidOf(userId) } })).email!;
}

/** The story as a member reads it, without what the trash and restore events move (revision, updatedAt, the log's last events). */
async function fullRead(storyId: string, token: string) {
  const { story } = await server.query(TrashFullRead, { id: storyId }, token);
  return story && { ...story, events: story.events.filter((e) => e.type !== "StoryTrashed" && e.type !== "StoryRestoredFromTrash") };
}

describe("deleteStory moves the story to the trash", () => {
  let storyId: string;
  let before: Awaited<ReturnType<typeof fullRead>>;
  let bobsBefore: Awaited<ReturnType<typeof fullRead>>;

  beforeAll(async () => {
    storyId = await fullStory("Into the trash");
    before = await fullRead(storyId, alice.token);
    bobsBefore = await fullRead(storyId, bob.token);
  });

  it("ends an open storyEvents subscription with NOT_FOUND, and the story is gone everywhere, for the owner too", async () => {
    const ws = wsClient(server.url, bob.token);
    try {
      const feed = subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 });
      await feed.received.until((r) => r.data.length > 0);
      const { deleteStory } = await server.query(DeleteStory, { input: { id: storyId } }, alice.token);
      expect(deleteStory.deletedStoryId).toBe(storyId);
      await feed.received.until((r) => r.ended || r.results.some((x) => x.errors));
      expect(feed.received.results.flatMap((r) => errorCodes(r))).toEqual(["NOT_FOUND"]);
      expect(feed.received.data.map((d) => d.storyEvents.type)).not.toContain("StoryTrashed");
    } finally {
      await ws.dispose();
    }

    for (const member of [alice, bob]) {
      expect((await server.request(TrashFullRead, { id: storyId }, member.token)).data).toEqual({ story: null });
      for (const id of [storyId, before!.modules[0]!.id, before!.versions.edges[0]!.node.id]) {
        expect((await server.request(Node, { id }, member.token)).data).toEqual({ node: null });
      }
      expect((await server.request(StoryAt, { id: storyId, revision: 1 }, member.token)).data).toEqual({ story: null });
      expect((await server.query(StoriesList, { first: 50 }, member.token)).stories.edges.map((e) => e.node.id)).not.toContain(storyId);
      expect((await server.query(TrashList, {}, member.token)).viewer!.stories.edges.map((e) => e.node.id)).not.toContain(storyId);
      expect(errorCodes(await server.request(ExportStory, { id: storyId, format: "JSON" }, member.token))).toEqual(["NOT_FOUND"]);
      const exported = await fetch(server.url.replace(/\/graphql$/, `/stories/${storyId}/export.json`), { headers: { authorization: `Bearer ${member.token}` } });
      expect(exported.status).toBe(404);
    }
  });

  it("answers every command on it as on a missing story: NOT_FOUND, deleting it again too, and nothing changes", async () => {
    const revision = (await server.db.prisma.story.findUniqueOrThrow({ where: { id: uuidOf(storyId) } })).revision;
    const attempts = [
      server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "three" } } }, alice.token),
      server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "three" } } }, bob.token),
      server.request(Undo, { input: { storyId } }, alice.token),
      server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "k", value: 1 } }, alice.token),
      server.request(TrashAddComment, { input: { storyId, body: "still here?" } }, bob.token),
      server.request(GenerateModule, { input: { storyId, module: "WORLD_SEED", inputText: "x" } }, alice.token),
      server.request(DeleteStory, { input: { id: storyId } }, alice.token),
      server.request(InviteCollaborator, { input: { storyId, email: "someone@example.com", role: "VIEWER" } }, alice.token),
    ];
    for (const response of await Promise.all(attempts)) expect(errorCodes(response), JSON.stringify(response)).toEqual(["NOT_FOUND"]);
    expect((await server.db.prisma.story.findUniqueOrThrow({ where: { id: uuidOf(storyId) } })).revision).toBe(revision);
  });

  it("a new subscription to it is refused like one to a missing story", async () => {
    const ws = wsClient(server.url, alice.token);
    try {
      const feed = subscribeWs(ws, StoryEventsFeed, { storyId, after: 0 });
      await feed.received.until((r) => r.ended || r.results.some((x) => x.errors));
      expect(feed.received.results.flatMap((r) => errorCodes(r))).toEqual(["NOT_FOUND"]);
    } finally {
      await ws.dispose();
    }
  });

  it("lists it in the owner's trash with trashedAt and purgeAt (TRASH_DAYS later), and in nobody else's", async () => {
    const { viewer } = await server.query(TrashList, {}, alice.token);
    const listed = viewer!.trash.edges.find((e) => e.node.id === storyId)!.node;
    const row = await server.db.prisma.story.findUniqueOrThrow({ where: { id: uuidOf(storyId) } });
    expect(listed).toEqual({ id: storyId, title: "Into the trash", trashedAt: row.trashedAt!.toISOString(), purgeAt: new Date(row.trashedAt!.getTime() + 30 * DAY_MS).toISOString() });
    expect((await server.query(TrashList, {}, bob.token)).viewer!.trash.edges).toEqual([]);
  });

  it("restoreStory and purgeStory: a stranger gets NOT_FOUND, the editor FORBIDDEN", async () => {
    for (const document of [RestoreStory, PurgeStory] as const) {
      expect(errorCodes(await server.request(document as typeof RestoreStory, { input: { id: storyId } }, stranger.token))).toEqual(["NOT_FOUND"]);
      const editors = await server.request(document as typeof RestoreStory, { input: { id: storyId } }, bob.token);
      expect(editors.errors?.[0]?.extensions).toMatchObject({ code: "FORBIDDEN", requiredRole: "OWNER", role: "EDITOR" });
    }
  });

  it("keeps the trash in the log: verify finds the read tables right, and rebuilding them keeps the story in the trash", async () => {
    expect(await verifyReadTables(server.db)).toEqual([]);
    await rebuildReadTables(server.db);
    expect(await verifyReadTables(server.db)).toEqual([]);
    expect((await server.db.prisma.story.findUniqueOrThrow({ where: { id: uuidOf(storyId) } })).trashedAt).not.toBeNull();
    expect((await server.request(TrashFullRead, { id: storyId }, alice.token)).data).toEqual({ story: null });
  });

  it("restoreStory brings it back unchanged, for every member, and out of the trash", async () => {
    const { restoreStory } = await server.query(RestoreStory, { input: { id: storyId } }, alice.token);
    expect(restoreStory).toMatchObject({ story: { id: storyId, title: "Into the trash" }, event: { type: "StoryRestoredFromTrash" } });
    expect(await fullRead(storyId, alice.token)).toEqual(before);
    expect(await fullRead(storyId, bob.token)).toEqual(bobsBefore);
    expect(before!.canUndo).toBe(true);
    expect(before!.canRedo).toBe(true);
    expect((await server.query(TrashList, {}, alice.token)).viewer!.trash.edges.map((e) => e.node.id)).not.toContain(storyId);
    // and works again: the editor writes
    await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: "a lighthouse" } } }, bob.token);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it("a story not in the trash: restoreStory and purgeStory are refused, naming the id", async () => {
    for (const document of [RestoreStory, PurgeStory] as const) {
      const refused = await server.request(document as typeof RestoreStory, { input: { id: storyId } }, alice.token);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });
    }
  });
});

describe("the trash, in order", () => {
  it("lists the most recently deleted first, a page at a time", async () => {
    const writer = await signUpWriter(server, "lister");
    const ids = [];
    for (const title of ["First", "Second", "Third"]) {
      const id = await createStory(server, writer.token, title);
      await server.query(DeleteStory, { input: { id } }, writer.token);
      ids.push(id);
    }
    const first = (await server.query(TrashList, { first: 2 }, writer.token)).viewer!.trash;
    expect(first.edges.map((e) => e.node.title)).toEqual(["Third", "Second"]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = (await server.query(TrashList, { first: 2, after: first.pageInfo.endCursor }, writer.token)).viewer!.trash;
    expect(rest.edges.map((e) => e.node.title)).toEqual(["First"]);
    expect(rest.pageInfo.hasNextPage).toBe(false);
  });
});

/** Rows of the story in every table that holds story rows. */
async function rowsOf(storyId: string): Promise<Record<string, number>> {
  const where = { where: { storyId } };
  const p = server.db.prisma;
  return {
    stories: await p.story.count({ where: { id: storyId } }),
    story_events: await p.storyEvent.count(where),
    story_versions: await p.storyVersion.count(where),
    story_modules: await p.storyModule.count(where),
    story_contents: await p.storyContent.count(where),
    collaborators: await p.collaborator.count(where),
    story_invitations: await p.storyInvitation.count(where),
    story_comments: await p.storyComment.count(where),
    story_comment_events: await p.storyCommentEvent.count(where),
    metadata: await p.metadata.count(where),
  };
}

describe("purgeStory", () => {
  it("erases a story in the trash for good: no row is left in any story table", async () => {
    const storyId = await fullStory("Purged");
    expect(Object.values(await rowsOf(uuidOf(storyId))).every((n) => n > 0)).toBe(true);
    await server.query(DeleteStory, { input: { id: storyId } }, alice.token);
    const { purgeStory } = await server.query(PurgeStory, { input: { id: storyId } }, alice.token);
    expect(purgeStory.purgedStoryIds).toEqual([storyId]);
    expect(Object.values(await rowsOf(uuidOf(storyId))).every((n) => n === 0), JSON.stringify(await rowsOf(uuidOf(storyId)))).toBe(true);
    expect((await server.query(TrashList, {}, alice.token)).viewer!.trash.edges.map((e) => e.node.id)).not.toContain(storyId);
    // gone: as a missing story
    expect(errorCodes(await server.request(PurgeStory, { input: { id: storyId } }, alice.token))).toEqual(["NOT_FOUND"]);
    expect(errorCodes(await server.request(RestoreStory, { input: { id: storyId } }, alice.token))).toEqual(["NOT_FOUND"]);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});

describe("the sweep (TRASH_DAYS)", () => {
  const services = () => ({ db: server.db, pubsub: server.messaging.pubsub });
  const quiet = { info: () => {}, warn: () => {} };

  it("erases the stories in the trash longer than TRASH_DAYS and leaves the fresher ones; with TRASH_DAYS=0, the rest at the next sweep", async () => {
    const writer = await signUpWriter(server, "sweeper");
    const old = await createStory(server, writer.token, "Old");
    const kept = await createStory(server, writer.token, "Kept");
    const fresh = await createStory(server, writer.token, "Fresh");
    await server.query(DeleteStory, { input: { id: old } }, writer.token);
    await server.query(DeleteStory, { input: { id: fresh } }, writer.token);
    const trashedAt = async (id: string) => (await server.db.prisma.story.findUniqueOrThrow({ where: { id: uuidOf(id) } })).trashedAt!;
    const [oldAt, freshAt] = [await trashedAt(old), await trashedAt(fresh)];
    expect(oldAt.getTime()).toBeLessThan(freshAt.getTime());

    // a day later than the fresh one went to the trash, less a millisecond: the old one is older than a day
    const sweep = startTrashSweep({ services: services(), days: 1, intervalMs: 3_600_000, log: quiet, now: () => new Date(freshAt.getTime() + DAY_MS - 1) });
    try {
      const erased = await sweep.sweepNow();
      expect(erased).toEqual([]); // the first sweep, at start, erased it already
      expect(await server.db.prisma.story.count({ where: { id: uuidOf(old) } })).toBe(0);
      expect(await server.db.prisma.storyEvent.count({ where: { storyId: uuidOf(old) } })).toBe(0);
      expect(await server.db.prisma.story.count({ where: { id: uuidOf(fresh) } })).toBe(1);
      expect(await server.db.prisma.story.count({ where: { id: uuidOf(kept) } })).toBe(1);
    } finally {
      await sweep.stop();
    }

    const everyFewMs = startTrashSweep({ services: services(), days: 0, intervalMs: 20, log: quiet });
    try {
      await expect.poll(() => server.db.prisma.story.count({ where: { id: uuidOf(fresh) } }), { timeout: 10_000 }).toBe(0);
      // a story not in the trash stays
      expect(await server.db.prisma.story.count({ where: { id: uuidOf(kept) } })).toBe(1);
    } finally {
      await everyFewMs.stop();
    }
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it("shares the work between instances sweeping at once: each story is erased once, by one of them", async () => {
    const writer = await signUpWriter(server, "crowd");
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = await createStory(server, writer.token, `Crowd ${i}`);
      await server.query(DeleteStory, { input: { id } }, writer.token);
      ids.push(uuidOf(id));
    }
    // a second instance with its own connections on PostgreSQL; the embedded database is one process's
    const other = backend === "postgres" ? await startTestServer(server.database) : server;
    try {
      const cutoff = new Date(Date.now() + 1_000);
      const [one, two] = await Promise.all([
        purgeTrashedBefore({ db: server.db, pubsub: server.messaging.pubsub }, cutoff),
        purgeTrashedBefore({ db: other.db, pubsub: other.messaging.pubsub }, cutoff),
      ]);
      expect(one.filter((id) => two.includes(id))).toEqual([]);
      expect([...one, ...two].filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
      expect(await server.db.prisma.story.count({ where: { id: { in: ids } } })).toBe(0);
    } finally {
      if (other !== server) await other.stop();
    }
  });

  it("survives a database that refuses: it logs, tries again next time, and stops when asked", async () => {
    const gone = await startTestServer();
    await gone.close(); // its database closed and dropped
    const warnings: string[] = [];
    const sweep = startTrashSweep({ services: { db: gone.db, pubsub: gone.messaging.pubsub }, days: 0, intervalMs: 20, log: { info: () => {}, warn: (message) => warnings.push(message) } });
    try {
      await expect.poll(() => warnings.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
      expect(warnings[0]).toMatch(/trash: the sweep failed/);
      expect(await sweep.sweepNow()).toEqual([]);
    } finally {
      await sweep.stop();
    }
    const count = warnings.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(warnings.length).toBe(count); // stopped: no sweep after
    // this process's own server still answers
    expect((await server.query(TrashList, {}, alice.token)).viewer).not.toBeNull();
  });
});

describe("story-spark empty-trash", () => {
  it("erases the stories in the trash longer than --days, prints their uuids, and leaves the rest", { timeout: 120_000 }, async () => {
    const own = await startTestServer();
    const writer = await signUpWriter(own, "operator");
    const trashed = [await createStory(own, writer.token, "One"), await createStory(own, writer.token, "Two")];
    const live = await createStory(own, writer.token, "Live");
    for (const id of trashed) await own.query(DeleteStory, { input: { id } }, writer.token);
    await own.stop(); // the embedded database is one process's: the CLI opens it next
    const env = { DATA_DIR: own.database.dataDir, DATABASE_URL: own.database.databaseUrl ?? "", DIRECT_URL: own.database.directUrl ?? "" };
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ["--experimental-strip-types", "src/cli/story-spark.ts", ...args], { env: { ...process.env, ...env } });

    const keptForNow = await cli(["empty-trash", "--days", "1"]);
    expect(keptForNow.stdout).toBe("");
    const emptied = await cli(["empty-trash", "--days", "0"]);
    expect(emptied.stdout.trim().split("\n").sort()).toEqual(trashed.map(uuidOf).sort());
    expect(emptied.stderr).toBe("empty-trash: erased 2 stories deleted more than 0 days ago.\n");

    const again = await startTestServer(own.database);
    try {
      expect(await again.db.prisma.story.count({ where: { id: { in: trashed.map(uuidOf) } } })).toBe(0);
      expect(await again.db.prisma.story.count({ where: { id: uuidOf(live) } })).toBe(1);
      expect(await verifyReadTables(again.db)).toEqual([]);
    } finally {
      await again.close();
    }
  });
});
