// Live updates follow membership: a member removed while subscribed stops receiving within a
// second, over WebSocket and SSE, on every story subscription, while the other members' go on.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModuleDraftFeed, ModuleUpdated, SignUp, StoryEventsFeed, StoryState, WriteModule } from "./support/documents.ts";
import { AcceptInvitation, InviteCollaborator, LeaveStory, RemoveCollaborator } from "./support/membershipDocuments.ts";
import { createStory } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Received, type Subscription } from "./support/live.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { graphql } from "./generated/gql.ts";

const LiveActivity = graphql(`
  subscription LiveActivity($storyId: ID!) { storyActivity(storyId: $storyId) { kind actor { username } comment { body } event { type } } }
`);
const LivePresence = graphql(`
  subscription LivePresence($storyId: ID!) { storyPresence(storyId: $storyId) { members { user { username } module } } }
`);
const LiveUpdatesAfter = graphql(`
  subscription LiveUpdatesAfter($storyId: ID!, $after: Int) { moduleUpdated(storyId: $storyId, after: $after) { event { seq } module { name output } } }
`);
const LiveComment = graphql(`
  mutation LiveComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }
`);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

type Writer = { token: string; userId: string; email: string };

async function writer(name: string): Promise<Writer> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, userId: signUp.user.id, email };
}

async function join(storyId: string, owner: Writer, member: Writer, role: "EDITOR" | "VIEWER") {
  const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId, email: member.email, role } }, owner.token);
  await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, member.token);
}

/** Writes until every feed has seen a write: then they are all live. */
async function synced(storyId: string, owner: Writer, feeds: Received<{ moduleUpdated: { event: { seq: number } } } | { storyEvents: { seq: number } }>[]) {
  const seqOf = (data: object) => ("storyEvents" in data ? (data as { storyEvents: { seq: number } }).storyEvents.seq : (data as { moduleUpdated: { event: { seq: number } } }).moduleUpdated.event.seq);
  for (let probe = 0; probe < 50; probe++) {
    const { writeModule } = await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { setting: `probe ${probe}` } } as never }, owner.token);
    const seen = (received: Received<object>) => received.data.some((d) => seqOf(d) === writeModule.event.seq);
    await Promise.all(feeds.map((f) => f.until(seen, 1_000).catch(() => null)));
    if (feeds.every(seen)) return;
  }
  throw new Error("the subscriptions never received a write");
}

/** Refused like a stranger: the feed ends with NOT_FOUND. */
const endedNotFound = (received: Received<unknown>) => received.ended && received.results.some((r) => errorCodes(r).includes("NOT_FOUND"));

describe("a member removed while subscribed", () => {
  it("stops receiving within a second on every subscription, over WebSocket and SSE; the others go on", async () => {
    const owner = await writer("owner");
    const bob = await writer("bob");
    const carol = await writer("carol");
    const storyId = await createStory(server, owner.token, "Watched together");
    await join(storyId, owner, bob, "EDITOR");
    await join(storyId, owner, carol, "VIEWER");

    const bobWs = wsClient(server.url, bob.token);
    const carolWs = wsClient(server.url, carol.token);
    const subscriptions: Subscription<unknown>[] = [];
    try {
      const listenersBefore = server.messaging.listenerCount();
      const bobEvents = subscribeWs(bobWs, StoryEventsFeed, { storyId, after: 0 });
      const bobUpdates = subscribeSse(server.url, ModuleUpdated, { storyId }, bob.token);
      const bobDrafts = subscribeWs(bobWs, ModuleDraftFeed, { storyId });
      const bobDraftsSse = subscribeSse(server.url, ModuleDraftFeed, { storyId }, bob.token);
      const carolEvents = subscribeSse(server.url, StoryEventsFeed, { storyId, after: 0 }, carol.token);
      const carolUpdates = subscribeWs(carolWs, ModuleUpdated, { storyId });
      const carolDrafts = subscribeWs(carolWs, ModuleDraftFeed, { storyId });
      subscriptions.push(bobEvents, bobUpdates, bobDrafts, bobDraftsSse, carolEvents, carolUpdates, carolDrafts);
      await synced(storyId, owner, [bobEvents.received, bobUpdates.received, carolEvents.received, carolUpdates.received] as never);
      // the draft feeds hear nothing until a generation runs: they are live once their listeners are attached
      for (let i = 0; i < 100 && server.messaging.listenerCount() - listenersBefore < 12; i++) await new Promise((r) => setTimeout(r, 50));

      const { removeCollaborator } = await server.query(RemoveCollaborator, { input: { storyId, userId: bob.userId } }, owner.token);
      const removedAt = removeCollaborator.event.type === "CollaboratorRemoved" ? Date.now() : 0;
      await Promise.all([bobEvents, bobUpdates, bobDrafts, bobDraftsSse].map((s) => s.received.until(endedNotFound, 1_000)));
      expect(Date.now() - removedAt).toBeLessThan(1_000);
      // the removed member never saw their removal, nor anything after it
      expect(bobEvents.received.data.map((d) => d.storyEvents.type)).not.toContain("CollaboratorRemoved");

      // the others go on: Carol sees the removal and what follows
      await carolEvents.received.until((r) => r.data.some((d) => d.storyEvents.type === "CollaboratorRemoved"), 2_000);
      const { writeModule } = await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "after bob" } } }, owner.token);
      await carolUpdates.received.until((r) => r.data.some((d) => d.moduleUpdated.event.seq === writeModule.event.seq), 2_000);
      await carolEvents.received.until((r) => r.data.some((d) => d.storyEvents.seq === writeModule.event.seq), 2_000);
      expect([carolEvents, carolUpdates, carolDrafts].map((s) => s.received.ended)).toEqual([false, false, false]);

      // leaving is a removal too
      await server.query(LeaveStory, { input: { storyId } }, carol.token);
      await Promise.all([carolEvents, carolUpdates, carolDrafts].map((s) => s.received.until(endedNotFound, 1_000)));
    } finally {
      for (const s of subscriptions) s.stop();
      await bobWs.dispose();
      await carolWs.dispose();
    }
  });

  it("storyActivity and storyPresence end too, and the removed member is shown no comment made after", async () => {
    const owner = await writer("owner");
    const bob = await writer("bob");
    const storyId = await createStory(server, owner.token, "Talked about");
    await join(storyId, owner, bob, "EDITOR");
    const bobWs = wsClient(server.url, bob.token);
    const activity = subscribeWs(bobWs, LiveActivity, { storyId });
    const presence = subscribeSse(server.url, LivePresence, { storyId }, bob.token);
    try {
      await presence.received.until((r) => r.data.length > 0);
      // live once a comment reaches it
      for (let probe = 0; !activity.received.data.some((d) => d.storyActivity.kind === "COMMENT"); probe++) {
        if (probe > 50) throw new Error("storyActivity never received a comment");
        await server.query(LiveComment, { input: { storyId, body: `probe ${probe}` } }, owner.token);
        await activity.received.until((r) => r.data.some((d) => d.storyActivity.kind === "COMMENT"), 500).catch(() => null);
      }
      await server.query(RemoveCollaborator, { input: { storyId, userId: bob.userId } }, owner.token);
      const removedAt = Date.now();
      await server.query(LiveComment, { input: { storyId, body: "not for bob" } }, owner.token);
      await Promise.all([activity, presence].map((s) => s.received.until(endedNotFound, 1_000)));
      expect(Date.now() - removedAt).toBeLessThan(1_000);
      expect(activity.received.data.map((d) => d.storyActivity.comment?.body)).not.toContain("not for bob");
      expect(activity.received.data.map((d) => d.storyActivity.event?.type)).not.toContain("CollaboratorRemoved");
    } finally {
      activity.stop();
      presence.stop();
      await bobWs.dispose();
    }
  });

  it("a feed asked to start past the member's coming removal still ends at it, and sends nothing after", async () => {
    const owner = await writer("owner");
    const mallory = await writer("mallory");
    const storyId = await createStory(server, owner.token, "Skipped ahead");
    await join(storyId, owner, mallory, "VIEWER");
    const { story } = await server.query(StoryState, { id: storyId }, mallory.token);
    const revision = story!.revision;
    // the removal will be revision + 1: ask for everything after it
    const events = subscribeSse(server.url, StoryEventsFeed, { storyId, after: revision + 1 }, mallory.token);
    const updates = subscribeSse(server.url, LiveUpdatesAfter, { storyId, after: revision + 1 }, mallory.token);
    try {
      // both are live once the story is read back to them: give them a moment, then remove
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { removeCollaborator } = await server.query(RemoveCollaborator, { input: { storyId, userId: mallory.userId } }, owner.token);
      expect(removeCollaborator.event.type).toBe("CollaboratorRemoved");
      await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "not for mallory" } } }, owner.token);
      await Promise.all([events, updates].map((s) => s.received.until(endedNotFound, 2_000)));
      expect(events.received.data).toEqual([]);
      expect(updates.received.data).toEqual([]);
    } finally {
      events.stop();
      updates.stop();
    }
  });

  it("catching up from the start, a member removed and invited back reads on past their old removal", async () => {
    const owner = await writer("owner");
    const bob = await writer("bob");
    const storyId = await createStory(server, owner.token, "Back again");
    await join(storyId, owner, bob, "VIEWER");
    await server.query(RemoveCollaborator, { input: { storyId, userId: bob.userId } }, owner.token);
    await join(storyId, owner, bob, "VIEWER");
    const feed = subscribeSse(server.url, StoryEventsFeed, { storyId, after: 0 }, bob.token);
    try {
      await feed.received.until((r) => r.data.length >= 6);
      expect(feed.received.data.map((d) => d.storyEvents.type)).toEqual([
        "StoryCreated",
        "CollaboratorInvited",
        "InvitationAccepted",
        "CollaboratorRemoved",
        "CollaboratorInvited",
        "InvitationAccepted",
      ]);
    } finally {
      feed.stop();
    }
  });
});
