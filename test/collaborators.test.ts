// Writing together: an owner invites by email, the invitee accepts signed in with an account of that
// email (made before or after the invitation), members see the story in their list with their role,
// and the owner manages members — through real GraphQL requests on a real database.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ExportStory, ImportStory, SignIn, SignUp, StoryState, WriteModule, DeleteStory, PurgeStory, StoriesList } from "./support/documents.ts";
import { createStory } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import {
  InviteCollaborator,
  AcceptInvitation,
  DeclineInvitation,
  RevokeInvitation,
  ChangeRole,
  RemoveCollaborator,
  LeaveStory,
  TransferOwnership,
  StoryMembers,
  StoryInvitations,
  MyStories,
  StoryLog,
} from "./support/membershipDocuments.ts";

type Writer = { token: string; userId: string; email: string };

let server: TestServer;
let alice: Writer;

async function writer(name: string, email = `${name}-${randomUUID().slice(0, 8)}@example.com`): Promise<Writer> {
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, userId: signUp.user.id, email };
}

async function invite(storyId: string, email: string, role: "EDITOR" | "COMMENTER" | "VIEWER", token = alice.token) {
  return (await server.query(InviteCollaborator, { input: { storyId, email, role } }, token)).inviteCollaborator;
}

/** A story of Alice's with this member in this role. */
async function shared(member: Writer, role: "EDITOR" | "COMMENTER" | "VIEWER", title = "Shared") {
  const storyId = await createStory(server, alice.token, title);
  const { token } = await invite(storyId, member.email, role);
  await server.query(AcceptInvitation, { input: { token } }, member.token);
  return storyId;
}

function refusal(response: GraphQLResponse<unknown>) {
  expect(response.data ?? null).toBeNull();
  return { code: response.errors?.[0]?.extensions?.code, reason: response.errors?.[0]?.extensions?.reason, field: response.errors?.[0]?.extensions?.field };
}

beforeAll(async () => {
  server = await startTestServer();
  alice = await writer("alice");
});
afterAll(() => server?.close());

describe("an invitation", () => {
  it("accepted by the invitee makes them a member: the story is in their list with their role, and they write", async () => {
    const bob = await writer("bob");
    const storyId = await createStory(server, alice.token, "Two pens");
    const invited = await invite(storyId, bob.email.toUpperCase(), "EDITOR");
    expect(invited.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(invited.invitation).toMatchObject({ email: bob.email, role: "EDITOR", status: "PENDING", invitedBy: { username: "alice" } });
    expect(new Date(invited.invitation.expiresAt).getTime() - Date.now()).toBeGreaterThan(6.9 * 24 * 3600 * 1000);
    // the log says who invited, but neither the email nor the token's hash
    expect(invited.event).toEqual({ type: "CollaboratorInvited", payload: expect.not.objectContaining({ email: expect.anything() }), actor: { username: "alice" } });
    expect(JSON.stringify(invited.event.payload)).not.toMatch(/tokenHash|@example/);

    const { acceptInvitation } = await server.query(AcceptInvitation, { input: { token: invited.token } }, bob.token);
    expect(acceptInvitation).toMatchObject({ role: "EDITOR", story: { id: storyId, title: "Two pens", viewerRole: "EDITOR" }, event: { type: "InvitationAccepted", actor: { id: bob.userId } } });

    const lists = await server.query(MyStories, {}, bob.token);
    expect(lists.stories.edges.map((e) => e.node)).toEqual([{ id: storyId, title: "Two pens", viewerRole: "EDITOR" }]);
    expect(lists.viewer!.stories.edges.map((e) => e.node)).toEqual([{ id: storyId, viewerRole: "EDITOR" }]);

    // co-members see each other's usernames; each sees only their own email
    const { story } = await server.query(StoryMembers, { id: storyId }, bob.token);
    expect(story!.viewerRole).toBe("EDITOR");
    expect(story!.owner).toEqual({ id: alice.userId, username: "alice" });
    expect(story!.collaborators.map((c) => [c.user.username, c.user.email, c.role, c.invitedBy?.username ?? null])).toEqual([
      ["alice", null, "OWNER", null],
      ["bob", bob.email, "EDITOR", "alice"],
    ]);

    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "by bob" } } }, bob.token);
    const { story: after } = await server.query(StoryState, { id: storyId }, alice.token);
    expect(after!.modules[0]!.output).toEqual({ logline: "by bob" });
  });

  it("works once: used, declined, revoked, expired, unknown or another account's token is BAD_USER_INPUT on token with its reason", async () => {
    const bob = await writer("bob");
    const carol = await writer("carol");
    const storyId = await createStory(server, alice.token, "Guarded");

    const used = await invite(storyId, bob.email, "VIEWER");
    // another account than the one it was sent to: refused, and the invitation still works for its invitee
    expect(refusal(await server.request(AcceptInvitation, { input: { token: used.token } }, carol.token))).toEqual({
      code: "BAD_USER_INPUT",
      reason: "OTHER_ACCOUNT",
      field: "token",
    });
    await server.query(AcceptInvitation, { input: { token: used.token } }, bob.token);
    expect(refusal(await server.request(AcceptInvitation, { input: { token: used.token } }, bob.token))).toMatchObject({ reason: "USED" });

    const declined = await invite(storyId, carol.email, "VIEWER");
    expect((await server.query(DeclineInvitation, { input: { token: declined.token } }, carol.token)).declineInvitation).toEqual({ declined: true });
    expect(refusal(await server.request(AcceptInvitation, { input: { token: declined.token } }, carol.token))).toMatchObject({ reason: "DECLINED" });
    expect((await server.request(StoryMembers, { id: storyId }, carol.token)).data).toEqual({ story: null });

    const revoked = await invite(storyId, carol.email, "EDITOR");
    await server.query(RevokeInvitation, { input: { storyId, invitationId: revoked.invitation.id } }, alice.token);
    expect(refusal(await server.request(AcceptInvitation, { input: { token: revoked.token } }, carol.token))).toMatchObject({ reason: "REVOKED" });

    // a second invitation to an email with one pending replaces it
    const first = await invite(storyId, carol.email, "VIEWER");
    const second = await invite(storyId, carol.email, "COMMENTER");
    expect(refusal(await server.request(AcceptInvitation, { input: { token: first.token } }, carol.token))).toMatchObject({ reason: "REVOKED" });

    const expiring = await invite(storyId, `dave-${randomUUID().slice(0, 8)}@example.com`, "VIEWER");
    const dave = await writer("dave", expiring.invitation.email);
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 7 * 24 * 3600 * 1000 + 60_000 });
    try {
      // a week and a minute later, signed in again
      const { signIn } = await server.query(SignIn, { input: { email: dave.email, password: "correct horse battery" } });
      expect(refusal(await server.request(AcceptInvitation, { input: { token: expiring.token } }, signIn.token))).toMatchObject({ reason: "EXPIRED" });
      const { signIn: aliceLater } = await server.query(SignIn, { input: { email: alice.email, password: "correct horse battery" } });
      const { story } = await server.query(StoryInvitations, { id: storyId }, aliceLater.token);
      expect(story!.invitations.find((i) => i.email === dave.email)!.status).toBe("EXPIRED");
    } finally {
      vi.useRealTimers();
    }

    for (const token of ["", "x".repeat(43), "y".repeat(5000)]) {
      expect(refusal(await server.request(AcceptInvitation, { input: { token } }, carol.token))).toMatchObject({ code: "BAD_USER_INPUT", reason: "UNKNOWN" });
    }
    // the refusals never name the story
    const messages = await server.request(AcceptInvitation, { input: { token: declined.token } }, carol.token);
    expect(JSON.stringify(messages)).not.toMatch(/Guarded/);

    await server.query(AcceptInvitation, { input: { token: second.token } }, carol.token);
    const { story } = await server.query(StoryInvitations, { id: storyId }, alice.token);
    expect(story!.invitations.map((i) => [i.email === carol.email ? "carol" : i.email === bob.email ? "bob" : "dave", i.status])).toEqual([
      ["dave", "PENDING"],
      ["carol", "ACCEPTED"],
      ["carol", "REVOKED"],
      ["carol", "REVOKED"],
      ["carol", "DECLINED"],
      ["bob", "ACCEPTED"],
    ]);
    expect((await server.query(StoryInvitations, { id: storyId, pending: true }, alice.token)).story!.invitations).toHaveLength(1);
  });

  it("to an email with no account yet: they sign up with it, then accept", async () => {
    const storyId = await createStory(server, alice.token, "For a newcomer");
    const email = `newcomer-${randomUUID().slice(0, 8)}@example.com`;
    const { token } = await invite(storyId, email, "COMMENTER");
    const newcomer = await writer("newcomer", email.toUpperCase());
    const { acceptInvitation } = await server.query(AcceptInvitation, { input: { token } }, newcomer.token);
    expect(acceptInvitation.role).toBe("COMMENTER");
    expect(errorCodes(await server.request(AcceptInvitation, { input: { token } }, null))).toEqual(["UNAUTHENTICATED"]);
  });

  it("stores only the token's hash", async () => {
    const storyId = await createStory(server, alice.token, "Hashed");
    const { token } = await invite(storyId, "someone@example.com", "VIEWER");
    const rows = await server.db.prisma.$queryRaw<{ found: bigint }[]>`
      SELECT (SELECT count(*) FROM story_invitations WHERE row_to_json(story_invitations)::text LIKE ${`%${token}%`})
           + (SELECT count(*) FROM story_events WHERE payload::text LIKE ${`%${token}%`}) AS found`;
    expect(Number(rows[0]!.found)).toBe(0);
  });

  it("is refused as owner, to a member, or by anyone but the owner", async () => {
    const bob = await writer("bob");
    const storyId = await shared(bob, "EDITOR");
    expect(refusal(await server.request(InviteCollaborator, { input: { storyId, email: "x@example.com", role: "OWNER" } }, alice.token))).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "role",
    });
    expect(refusal(await server.request(InviteCollaborator, { input: { storyId, email: bob.email, role: "VIEWER" } }, alice.token))).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "email",
    });
    const byEditor = await server.request(InviteCollaborator, { input: { storyId, email: "x@example.com", role: "VIEWER" } }, bob.token);
    expect(byEditor.errors![0]!.extensions).toMatchObject({ code: "FORBIDDEN", requiredRole: "OWNER", role: "EDITOR" });
    expect(errorCodes(await server.request(StoryInvitations, { id: storyId }, bob.token))).toEqual(["FORBIDDEN"]);
  });
});

describe("the owner", () => {
  it("changes roles and removes members; never their own role, never themselves", async () => {
    const bob = await writer("bob");
    const storyId = await shared(bob, "EDITOR");
    const { changeRole } = await server.query(ChangeRole, { input: { storyId, userId: bob.userId, role: "VIEWER" } }, alice.token);
    expect(changeRole.story.collaborators.find((c) => c.user.id === bob.userId)!.role).toBe("VIEWER");
    expect(changeRole.event).toEqual({ type: "CollaboratorRoleChanged", actor: { username: "alice" } });

    const viewerWrites = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "no" } } }, bob.token);
    expect(viewerWrites.errors![0]!.extensions).toMatchObject({ code: "FORBIDDEN", requiredRole: "EDITOR", role: "VIEWER" });
    expect(viewerWrites.errors![0]!.message).toMatch(/needs the editor role; you are a viewer/);

    expect(refusal(await server.request(ChangeRole, { input: { storyId, userId: alice.userId, role: "EDITOR" } }, alice.token))).toMatchObject({ field: "userId" });
    expect(refusal(await server.request(ChangeRole, { input: { storyId, userId: bob.userId, role: "OWNER" } }, alice.token))).toMatchObject({ field: "role" });
    expect(refusal(await server.request(RemoveCollaborator, { input: { storyId, userId: alice.userId } }, alice.token))).toMatchObject({ field: "userId" });
    expect(refusal(await server.request(LeaveStory, { input: { storyId } }, alice.token))).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(errorCodes(await server.request(RemoveCollaborator, { input: { storyId, userId: alice.userId } }, bob.token))).toEqual(["FORBIDDEN"]);

    const { removeCollaborator } = await server.query(RemoveCollaborator, { input: { storyId, userId: bob.userId } }, alice.token);
    expect(removeCollaborator.story.collaborators.map((c) => c.user.id)).toEqual([alice.userId]);
    expect((await server.request(StoryMembers, { id: storyId }, bob.token)).data).toEqual({ story: null });
    expect((await server.query(StoriesList, { first: 10 }, bob.token)).stories.edges).toEqual([]);
    expect(errorCodes(await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "no" } } }, bob.token))).toEqual(["NOT_FOUND"]);
  });

  it("transfers the story to a member: they own it, the old owner is an editor, and only the new owner deletes it", async () => {
    const bob = await writer("bob");
    const carol = await writer("carol");
    const storyId = await shared(bob, "COMMENTER");
    expect(refusal(await server.request(TransferOwnership, { input: { storyId, userId: carol.userId } }, alice.token))).toMatchObject({ field: "userId" });
    const { transferOwnership } = await server.query(TransferOwnership, { input: { storyId, userId: bob.userId } }, alice.token);
    expect(transferOwnership.story.owner.id).toBe(bob.userId);
    expect(transferOwnership.story.viewerRole).toBe("EDITOR");
    expect(Object.fromEntries(transferOwnership.story.collaborators.map((c) => [c.user.id, c.role]))).toEqual({ [bob.userId]: "OWNER", [alice.userId]: "EDITOR" });

    const aliceDeletes = await server.request(DeleteStory, { input: { id: storyId } }, alice.token);
    expect(aliceDeletes.errors![0]!.extensions).toMatchObject({ code: "FORBIDDEN", requiredRole: "OWNER", role: "EDITOR" });
    expect(errorCodes(await server.request(DeleteStory, { input: { id: storyId } }, carol.token))).toEqual(["NOT_FOUND"]);
    // the old owner can leave now
    await server.query(LeaveStory, { input: { storyId } }, alice.token);
    expect((await server.request(StoryMembers, { id: storyId }, alice.token)).data).toEqual({ story: null });
    await server.query(DeleteStory, { input: { id: storyId } }, bob.token);
    await server.query(PurgeStory, { input: { id: storyId } }, bob.token);
    const uuid = Buffer.from(storyId, "base64").toString().split(":")[1]!;
    expect(await server.db.prisma.collaborator.count({ where: { storyId: uuid } })).toBe(0);
    expect(await server.db.prisma.storyInvitation.count({ where: { storyId: uuid } })).toBe(0);
  });

  it("and every member see who did each membership change in the log", async () => {
    const bob = await writer("bob");
    const storyId = await shared(bob, "VIEWER");
    await server.query(ChangeRole, { input: { storyId, userId: bob.userId, role: "EDITOR" } }, alice.token);
    const { story } = await server.query(StoryLog, { id: storyId }, bob.token);
    expect(story!.events.map((e) => [e.type, e.actor?.username])).toEqual([
      ["StoryCreated", "alice"],
      ["CollaboratorInvited", "alice"],
      ["InvitationAccepted", "bob"],
      ["CollaboratorRoleChanged", "alice"],
    ]);
  });
});

describe("a shared story's export", () => {
  it("is any member's, carries no invitee's email or token, and imports as the importer's story alone", async () => {
    const bob = await writer("bob");
    const storyId = await shared(bob, "VIEWER", "Exported together");
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "shared idea" } } }, alice.token);
    await invite(storyId, "pending-invitee@example.com", "EDITOR");
    const { exportStory } = await server.query(ExportStory, { id: storyId, format: "JSON" }, bob.token);
    expect(exportStory.content).not.toMatch(/@example\.com|tokenHash/);
    const data = exportStory.data as { events: { type: string }[] };
    expect(data.events.map((e) => e.type)).toEqual(["StoryCreated", "CollaboratorInvited", "InvitationAccepted", "ModuleWritten", "CollaboratorInvited"]);

    const { importStory } = await server.query(ImportStory, { input: { data } }, bob.token);
    expect(importStory.story.revision).toBe(2); // created, written: the membership events are not imported
    const { story } = await server.query(StoryMembers, { id: importStory.story.id }, bob.token);
    expect(story!.viewerRole).toBe("OWNER");
    expect(story!.collaborators.map((c) => c.user.username)).toEqual(["bob"]);
  });
});
