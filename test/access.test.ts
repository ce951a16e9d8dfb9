// A user sees and changes only the stories they are a member of: anything else is NOT_FOUND (or
// null), like a missing id. What each role may do is test/roles.test.ts's; here, what membership shows.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClearModule,
  DeleteMetadata,
  DeleteStory,
  PurgeStory,
  Node,
  Redo,
  RestoreVersion,
  SetMetadata,
  StoriesList,
  StoryEvents,
  StoryMetadata,
  StoryState,
  Undo,
  UpdateStory,
  Viewer,
  WriteModule,
} from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { AcceptInvitation, InviteCollaborator } from "./support/membershipDocuments.ts";
import { graphql } from "./generated/gql.ts";

const UserNode = graphql(`
  query UserNode($id: ID!) { node(id: $id) { id ... on User { username email } } }
`);
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

let server: TestServer;
let alice: { token: string; userId: string };
let bob: { token: string; userId: string };
let storyId: string;
let moduleId: string;
let versionId: string;
let eventId: string;

beforeAll(async () => {
  server = await startTestServer();
  alice = await signUpWriter(server, "alice");
  bob = await signUpWriter(server, "bob");
  storyId = await createStory(server, alice.token, "Alice's secret novel");
  const written = await server.query(
    WriteModule,
    { input: { storyId, module: "IDEA_SPARK", output: { logline: "private" } } },
    alice.token,
  );
  versionId = written.writeModule.version.id;
  eventId = written.writeModule.event.id;
  const { story } = await server.query(StoryState, { id: storyId }, alice.token);
  moduleId = story!.modules[0]!.id;
  await server.query(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone", value: "noir" } }, alice.token);
});
afterAll(() => server?.close());

const revisionOfAlicesStory = async () => (await server.query(StoryState, { id: storyId }, alice.token)).story!.revision;

describe("another user", () => {
  it("reads null for the story, and for every node of it", async () => {
    expect((await server.request(StoryState, { id: storyId }, bob.token)).data).toEqual({ story: null });
    expect((await server.request(StoryEvents, { id: storyId }, bob.token)).data).toEqual({ story: null });
    expect((await server.request(StoryMetadata, { id: storyId }, bob.token)).data).toEqual({ story: null });
    for (const id of [storyId, moduleId, versionId, eventId, alice.userId]) {
      const response = await server.request(Node, { id }, bob.token);
      expect(response).toEqual({ data: { node: null } });
    }
    const missing = await server.request(StoryState, { id: "U3Rvcnk6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw" }, bob.token);
    expect(missing).toEqual({ data: { story: null } });
  });

  it("does not see it in their list", async () => {
    const { stories } = await server.query(StoriesList, { first: 10 }, bob.token);
    expect(stories.edges).toEqual([]);
  });

  it("gets NOT_FOUND for every mutation on it, and nothing changes", async () => {
    const before = await revisionOfAlicesStory();
    const attempts = [
      server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "mine now" } } }, bob.token),
      server.request(ClearModule, { input: { storyId, module: "IDEA_SPARK" } }, bob.token),
      server.request(Undo, { input: { storyId } }, bob.token),
      server.request(Redo, { input: { storyId } }, bob.token),
      server.request(RestoreVersion, { input: { storyId, number: 1 } }, bob.token),
      server.request(UpdateStory, { input: { id: storyId, title: "Bob's now" } }, bob.token),
      server.request(DeleteStory, { input: { id: storyId } }, bob.token),
      server.request(SetMetadata, { input: { parentType: "STORY", parentId: storyId, key: "k", value: 1 } }, bob.token),
      server.request(SetMetadata, { input: { parentType: "MODULE", parentId: moduleId, key: "k", value: 1 } }, bob.token),
      server.request(SetMetadata, { input: { parentType: "VERSION", parentId: versionId, key: "k", value: 1 } }, bob.token),
      server.request(DeleteMetadata, { input: { parentType: "STORY", parentId: storyId, key: "tone" } }, bob.token),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(errorCodes(response)).toEqual(["NOT_FOUND"]);
      expect(response.data).toBeNull();
    }
    expect(await revisionOfAlicesStory()).toBe(before);
    const { story } = await server.query(StoryMetadata, { id: storyId }, alice.token);
    expect(story!.metadata).toEqual([{ key: "tone", value: "noir" }]);
  });

  it("gets the same answer for someone else's story as for a story that does not exist", async () => {
    const missingStory = Buffer.from("Story:6f1c1b0e-0000-4000-8000-000000000000").toString("base64");
    const theirs = await server.request(Undo, { input: { storyId } }, bob.token);
    const nowhere = await server.request(Undo, { input: { storyId: missingStory } }, bob.token);
    expect(theirs).toEqual(nowhere);
  });
});

describe("without a token", () => {
  it("viewer is null and story operations need sign-in", async () => {
    expect(await server.request(Viewer, {}, null)).toEqual({ data: { viewer: null } });
    expect(errorCodes(await server.request(StoryState, { id: storyId }, null))).toEqual(["UNAUTHENTICATED"]);
    expect(errorCodes(await server.request(Undo, { input: { storyId } }, null))).toEqual(["UNAUTHENTICATED"]);
  });

  it("an invalid token is UNAUTHENTICATED, not anonymous", async () => {
    const response = await server.request(Undo, { input: { storyId } }, "not-a-real-token");
    expect(errorCodes(response)).toEqual(["UNAUTHENTICATED"]);
    expect(response.errors![0]!.message).toMatch(/invalid or expired/);
  });
});

describe("the owner", () => {
  it("sees their email; deleting the story, then purging it from the trash, removes it with its history", async () => {
    expect((await server.query(Viewer, {}, alice.token)).viewer!.email).toMatch(/^alice-/);
    const doomed = await createStory(server, alice.token, "Doomed");
    await server.query(WriteModule, { input: { storyId: doomed, module: "IDEA_SPARK", inputText: "a keeper", output: { logline: "gone soon" } } }, alice.token);
    await server.query(DeleteStory, { input: { id: doomed } }, alice.token);
    expect((await server.request(StoryState, { id: doomed }, alice.token)).data).toEqual({ story: null });
    expect(errorCodes(await server.request(Undo, { input: { storyId: doomed } }, alice.token))).toEqual(["NOT_FOUND"]);
    await server.query(PurgeStory, { input: { id: doomed } }, alice.token);
    const where = { where: { storyId: Buffer.from(doomed, "base64").toString().split(":")[1]! } };
    expect(await server.db.prisma.storyEvent.count(where)).toBe(0);
    expect(await server.db.prisma.storyContent.count(where)).toBe(0);
  });
});

describe("a member", () => {
  it("sees the story's nodes and co-members' usernames, never their emails; a stranger still sees none of them", async () => {
    const carol = await signUpWriter(server, "carol");
    const shared = await createStory(server, alice.token, "Shared with carol");
    const { email } = (await server.query(Viewer, {}, carol.token)).viewer!;
    const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId: shared, email: email!, role: "VIEWER" } }, alice.token);
    await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, carol.token);

    expect((await server.query(UserNode, { id: alice.userId }, carol.token)).node).toEqual({ id: alice.userId, username: "alice", email: null });
    expect((await server.query(UserNode, { id: carol.userId }, alice.token)).node).toEqual({ id: carol.userId, username: "carol", email: null });
    expect((await server.query(UserNode, { id: carol.userId }, carol.token)).node).toEqual({ id: carol.userId, username: "carol", email });
    // Alice's other story is still hers alone
    expect((await server.request(StoryState, { id: storyId }, carol.token)).data).toEqual({ story: null });
    expect((await server.request(Node, { id: moduleId }, carol.token)).data).toEqual({ node: null });
    // and Bob shares nothing with either
    expect((await server.request(UserNode, { id: carol.userId }, bob.token)).data).toEqual({ node: null });
  });
});
