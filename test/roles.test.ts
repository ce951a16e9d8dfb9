// Every root field of the API with the least role it needs, and each role on each operation: a
// stranger gets exactly what a missing id gets (NOT_FOUND or null), a member below the least role
// FORBIDDEN naming the role needed and the one held, a member with it gets past the check. The
// table must name every root field: adding one without an entry fails the first test.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isObjectType } from "graphql";
import { schema } from "../src/graphql/schema/index.ts";
import type { Role } from "../src/domain/roles.ts";
import {
  ClearModule,
  DeleteMetadata,
  DeleteStory,
  ExportStory,
  PurgeStory,
  RestoreStory,
  GenerateModule,
  LabelVersion,
  ModuleDraftFeed,
  ModuleUpdated,
  Node,
  Redo,
  RestoreVersion,
  SetMetadata,
  SignUp,
  StoryEventsFeed,
  StoryState,
  Undo,
  UpdateStory,
  WriteModule,
} from "./support/documents.ts";
import { createStory } from "./support/fixtures.ts";
import { subscribeSse, wsClient, subscribeWs } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { graphql } from "./generated/gql.ts";
import {
  AcceptInvitation,
  ChangeRole,
  InviteCollaborator,
  LeaveStory,
  Nodes,
  RemoveCollaborator,
  RevokeInvitation,
  StoryInvitations,
  StoryMembers,
  TransferOwnership,
} from "./support/membershipDocuments.ts";

/**
 * The least a caller needs for each root field: `public` anyone; `signedIn` any user (their own
 * things only); `invitee` the account an invitation was sent to; a role: a member of the story
 * with at least that role. cancelGeneration: the user who started the generation, or the owner.
 * `author`: a commenter or above who wrote the comment (the owner may also delete anyone's).
 */
type Least = "public" | "signedIn" | "invitee" | "author" | Role;
const LEAST: Record<string, Least> = {
  "Query.viewer": "public",
  "Query.node": "viewer",
  "Query.nodes": "viewer",
  "Query.story": "viewer",
  "Query.stories": "signedIn",
  "Query.exportStory": "viewer",
  "Mutation.signUp": "public",
  "Mutation.signIn": "public",
  "Mutation.signOut": "signedIn",
  "Mutation.exportAccount": "signedIn",
  "Mutation.deleteAccount": "signedIn",
  "Mutation.createStory": "signedIn",
  "Mutation.importStory": "signedIn",
  "Mutation.acceptInvitation": "invitee",
  "Mutation.declineInvitation": "invitee",
  "Mutation.leaveStory": "viewer",
  "Mutation.updateStory": "editor",
  "Mutation.writeModule": "editor",
  "Mutation.clearModule": "editor",
  "Mutation.undo": "editor",
  "Mutation.redo": "editor",
  "Mutation.restoreVersion": "editor",
  "Mutation.labelVersion": "editor",
  "Mutation.setMetadata": "editor",
  "Mutation.deleteMetadata": "editor",
  "Mutation.generateModule": "editor",
  "Mutation.cancelGeneration": "owner",
  "Mutation.deleteStory": "owner",
  "Mutation.restoreStory": "owner",
  "Mutation.purgeStory": "owner",
  "Mutation.inviteCollaborator": "owner",
  "Mutation.revokeInvitation": "owner",
  "Mutation.changeRole": "owner",
  "Mutation.removeCollaborator": "owner",
  "Mutation.transferOwnership": "owner",
  "Subscription.storyEvents": "viewer",
  "Subscription.moduleUpdated": "viewer",
  "Subscription.moduleDraft": "viewer",
  "Mutation.addComment": "commenter",
  "Mutation.replyToComment": "commenter",
  "Mutation.editComment": "author",
  "Mutation.deleteComment": "author",
  "Mutation.resolveComment": "editor",
  "Mutation.reopenComment": "editor",
  "Mutation.setPresence": "viewer",
  "Mutation.clearPresence": "viewer",
  "Subscription.storyActivity": "viewer",
  "Subscription.storyPresence": "viewer",
  "Query.compareBranches": "viewer",
  "Query.previewMerge": "viewer",
  "Mutation.createBranch": "editor",
  "Mutation.mergeBranch": "editor",
};

const RoleAddComment = graphql(`
  mutation RoleAddComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }
`);
const RoleReplyToComment = graphql(`
  mutation RoleReplyToComment($input: ReplyToCommentInput!) { replyToComment(input: $input) { comment { id } } }
`);
const RoleEditComment = graphql(`
  mutation RoleEditComment($input: EditCommentInput!) { editComment(input: $input) { comment { id body } } }
`);
const RoleDeleteComment = graphql(`
  mutation RoleDeleteComment($input: DeleteCommentInput!) { deleteComment(input: $input) { comment { id deleted } } }
`);
const RoleResolveComment = graphql(`
  mutation RoleResolveComment($input: ResolveCommentInput!) { resolveComment(input: $input) { comment { id resolved } } }
`);
const RoleReopenComment = graphql(`
  mutation RoleReopenComment($input: ReopenCommentInput!) { reopenComment(input: $input) { comment { id resolved } } }
`);
const RoleSetPresence = graphql(`
  mutation RoleSetPresence($input: SetPresenceInput!) { setPresence(input: $input) { presence { members { module } } } }
`);
const RoleClearPresence = graphql(`
  mutation RoleClearPresence($input: ClearPresenceInput!) { clearPresence(input: $input) { presence { members { module } } } }
`);
const RoleStoryActivity = graphql(`
  subscription RoleStoryActivity($storyId: ID!) { storyActivity(storyId: $storyId) { kind at } }
`);
const RoleStoryPresence = graphql(`
  subscription RoleStoryPresence($storyId: ID!) { storyPresence(storyId: $storyId) { members { module } } }
`);

const RoleCompareBranches = graphql(`
  query RoleCompareBranches($a: ID!, $b: ID!) { compareBranches(a: $a, b: $b) { base { versionNumber } } }
`);
const RolePreviewMerge = graphql(`
  query RolePreviewMerge($branchId: ID!, $intoStoryId: ID!) { previewMerge(branchId: $branchId, intoStoryId: $intoStoryId) { hasConflicts } }
`);
const RoleCreateBranch = graphql(`
  mutation RoleCreateBranch($input: CreateBranchInput!) { createBranch(input: $input) { story { id } } }
`);
const RoleMergeBranch = graphql(`
  mutation RoleMergeBranch($input: MergeBranchInput!) { mergeBranch(input: $input) { version { number } } }
`);

const MEMBER_ROLES = ["viewer", "commenter", "editor"] as const;
const RANK: Record<Role, number> = { viewer: 0, commenter: 1, editor: 2, owner: 3 };

type Writer = { token: string; userId: string; email: string };
/** A story of the owner's with one member of each role and a pending invitation. */
type Fixture = {
  storyId: string;
  moduleId: string;
  versionId: string;
  invitationId: string;
  /** a comment thread of the owner's */
  commentId: string;
  owner: Writer;
  members: Record<(typeof MEMBER_ROLES)[number], Writer>;
};

let server: TestServer;
let owner: Writer;
let stranger: Writer;
let members: Fixture["members"];

async function writer(name: string): Promise<Writer> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, userId: signUp.user.id, email };
}

async function fixture(): Promise<Fixture> {
  const storyId = await createStory(server, owner.token, "Roles");
  const written = await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "one" } } }, owner.token);
  await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "two" } } }, owner.token);
  for (const role of MEMBER_ROLES) {
    const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId, email: members[role].email, role: role.toUpperCase() as never } }, owner.token);
    await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, members[role].token);
  }
  const pending = await server.query(InviteCollaborator, { input: { storyId, email: `nobody-${randomUUID()}@example.com`, role: "VIEWER" } }, owner.token);
  const { story } = await server.query(StoryState, { id: storyId }, owner.token);
  const { addComment } = await server.query(RoleAddComment, { input: { storyId, module: "IDEA_SPARK", body: "the owner's note" } }, owner.token);
  return {
    storyId,
    moduleId: story!.modules[0]!.id,
    versionId: written.writeModule.version.id,
    invitationId: pending.inviteCollaborator.invitation.id,
    commentId: addComment.comment.id,
    owner,
    members,
  };
}

type Operation = { run: (f: Fixture, token: string) => Promise<GraphQLResponse<unknown>>; changes?: boolean };

/** Each story-scoped root field as a request; `changes`: it changes membership or deletes, so it runs on a story of its own when allowed. */
const OPERATIONS: Record<string, Operation> = {
  "Query.node": { run: (f, token) => server.request(Node, { id: f.storyId }, token) },
  "Query.nodes": { run: (f, token) => server.request(Nodes, { ids: [f.moduleId, f.versionId] }, token) },
  "Query.story": { run: (f, token) => server.request(StoryMembers, { id: f.storyId }, token) },
  "Query.exportStory": { run: (f, token) => server.request(ExportStory, { id: f.storyId, format: "JSON" }, token) },
  "Mutation.leaveStory": { run: (f, token) => server.request(LeaveStory, { input: { storyId: f.storyId } }, token), changes: true },
  "Mutation.updateStory": { run: (f, token) => server.request(UpdateStory, { input: { id: f.storyId, title: "Retitled" } }, token) },
  "Mutation.writeModule": { run: (f, token) => server.request(WriteModule, { input: { storyId: f.storyId, module: "WORLD_SEED", output: { setting: "x" } } as never }, token) },
  "Mutation.clearModule": { run: (f, token) => server.request(ClearModule, { input: { storyId: f.storyId, module: "WORLD_SEED" } }, token) },
  "Mutation.undo": { run: (f, token) => server.request(Undo, { input: { storyId: f.storyId } }, token) },
  "Mutation.redo": { run: (f, token) => server.request(Redo, { input: { storyId: f.storyId } }, token) },
  "Mutation.restoreVersion": { run: (f, token) => server.request(RestoreVersion, { input: { storyId: f.storyId, number: 2 } }, token) },
  "Mutation.labelVersion": { run: (f, token) => server.request(LabelVersion, { input: { storyId: f.storyId, number: 2, label: "kept" } }, token) },
  "Mutation.setMetadata": { run: (f, token) => server.request(SetMetadata, { input: { parentType: "MODULE", parentId: f.moduleId, key: "k", value: 1 } }, token) },
  "Mutation.deleteMetadata": { run: (f, token) => server.request(DeleteMetadata, { input: { parentType: "VERSION", parentId: f.versionId, key: "k" } }, token) },
  "Mutation.generateModule": { run: (f, token) => server.request(GenerateModule, { input: { storyId: f.storyId, module: "IDEA_SPARK", inputText: "x" } }, token) },
  "Mutation.deleteStory": { run: (f, token) => server.request(DeleteStory, { input: { id: f.storyId } }, token), changes: true },
  // on a story not in the trash: the owner gets past the check to BAD_USER_INPUT, and nothing changes
  "Mutation.restoreStory": { run: (f, token) => server.request(RestoreStory, { input: { id: f.storyId } }, token) },
  "Mutation.purgeStory": { run: (f, token) => server.request(PurgeStory, { input: { id: f.storyId } }, token) },
  "Mutation.inviteCollaborator": {
    run: (f, token) => server.request(InviteCollaborator, { input: { storyId: f.storyId, email: `new-${randomUUID()}@example.com`, role: "VIEWER" } }, token),
  },
  "Mutation.revokeInvitation": { run: (f, token) => server.request(RevokeInvitation, { input: { storyId: f.storyId, invitationId: f.invitationId } }, token), changes: true },
  "Mutation.changeRole": { run: (f, token) => server.request(ChangeRole, { input: { storyId: f.storyId, userId: f.members.commenter.userId, role: "VIEWER" } }, token), changes: true },
  "Mutation.removeCollaborator": { run: (f, token) => server.request(RemoveCollaborator, { input: { storyId: f.storyId, userId: f.members.commenter.userId } }, token), changes: true },
  "Mutation.transferOwnership": { run: (f, token) => server.request(TransferOwnership, { input: { storyId: f.storyId, userId: f.members.editor.userId } }, token), changes: true },
  "Mutation.addComment": { run: (f, token) => server.request(RoleAddComment, { input: { storyId: f.storyId, body: "a note" } }, token) },
  "Mutation.replyToComment": { run: (f, token) => server.request(RoleReplyToComment, { input: { commentId: f.commentId, body: "a reply" } }, token) },
  "Mutation.resolveComment": { run: (f, token) => server.request(RoleResolveComment, { input: { commentId: f.commentId } }, token) },
  "Mutation.reopenComment": { run: (f, token) => server.request(RoleReopenComment, { input: { commentId: f.commentId } }, token) },
  "Mutation.setPresence": { run: (f, token) => server.request(RoleSetPresence, { input: { storyId: f.storyId, module: "WORLD_SEED" } }, token) },
  "Mutation.clearPresence": { run: (f, token) => server.request(RoleClearPresence, { input: { storyId: f.storyId } }, token) },
  // a story with itself: past the role checks, the answer is BAD_USER_INPUT (not one family's two stories)
  "Query.compareBranches": { run: (f, token) => server.request(RoleCompareBranches, { a: f.storyId, b: f.storyId }, token) },
  "Query.previewMerge": { run: (f, token) => server.request(RolePreviewMerge, { branchId: f.storyId, intoStoryId: f.storyId }, token) },
  // a branch is a story of its own: the story's revision stays
  "Mutation.createBranch": { run: (f, token) => server.request(RoleCreateBranch, { input: { storyId: f.storyId, label: "what if" } }, token) },
  "Mutation.mergeBranch": { run: (f, token) => server.request(RoleMergeBranch, { input: { branchId: f.storyId, intoStoryId: f.storyId } }, token) },
};

beforeAll(async () => {
  server = await startTestServer();
  owner = await writer("owner");
  stranger = await writer("stranger");
  members = { viewer: await writer("viewer"), commenter: await writer("commenter"), editor: await writer("editor") };
});
afterAll(() => server?.close());

/** What a missing id gets: NOT_FOUND, or null where the field is nullable. */
function missing(response: GraphQLResponse<unknown>): boolean {
  if (errorCodes(response).length > 0) return errorCodes(response).every((code) => code === "NOT_FOUND");
  const data = response.data as Record<string, unknown> | null;
  return data !== null && Object.values(data).every((value) => value === null || (Array.isArray(value) && value.every((item) => item === null)));
}

describe("the table of root fields", () => {
  it("names every root field of the schema with the least it needs", () => {
    const fields = (["Query", "Mutation", "Subscription"] as const).flatMap((root) => {
      const type = schema.getType(root);
      return isObjectType(type) ? Object.keys(type.getFields()).map((name) => `${root}.${name}`) : [];
    });
    expect(Object.keys(LEAST).sort()).toEqual(fields.sort());
  });

  it("has a request for every field that needs a role in a story", () => {
    const roleScoped = Object.entries(LEAST).filter(([field, least]) => least in RANK && !field.startsWith("Subscription.") && field !== "Mutation.cancelGeneration");
    expect(Object.keys(OPERATIONS).sort()).toEqual(roleScoped.map(([field]) => field).sort());
  });
});

describe("each role on each operation", () => {
  let shared: Fixture;
  beforeAll(async () => {
    shared = await fixture();
  });

  for (const [field, operation] of Object.entries(OPERATIONS)) {
    const least = LEAST[field] as Role;
    it(`${field}: a stranger gets what a missing id gets; below ${least} FORBIDDEN; ${least} gets past the check`, async () => {
      const before = (await server.query(StoryState, { id: shared.storyId }, owner.token)).story!.revision;
      const strangers = await operation.run(shared, stranger.token);
      expect(missing(strangers), JSON.stringify(strangers)).toBe(true);

      for (const role of MEMBER_ROLES.filter((r) => RANK[r] < RANK[least])) {
        const response = await operation.run(shared, members[role].token);
        expect(response.errors?.[0]?.extensions, `${role} on ${field}`).toMatchObject({ code: "FORBIDDEN", requiredRole: least.toUpperCase(), role: role.toUpperCase() });
        expect(response.errors?.[0]?.message).toMatch(new RegExp(`needs the ${least} role`));
      }
      // nothing was changed by the refusals
      expect((await server.query(StoryState, { id: shared.storyId }, owner.token)).story!.revision).toBe(before);

      const target = operation.changes ? await fixture() : shared;
      const allowed = await operation.run(target, (least === "owner" ? owner : members[least]).token);
      expect(errorCodes(allowed).filter((code) => code === "FORBIDDEN" || code === "NOT_FOUND"), JSON.stringify(allowed)).toEqual([]);
    });
  }

  it("editComment and deleteComment are the author's: a stranger gets NOT_FOUND, another member FORBIDDEN, the author (a commenter) gets through, the owner may delete", async () => {
    const { addComment } = await server.query(RoleAddComment, { input: { storyId: shared.storyId, body: "the commenter's note" } }, members.commenter.token);
    const commentId = addComment.comment.id;
    const edit = (token: string) => server.request(RoleEditComment, { input: { commentId, body: "edited" } }, token);
    const remove = (token: string) => server.request(RoleDeleteComment, { input: { commentId } }, token);
    expect(missing(await edit(stranger.token))).toBe(true);
    expect(missing(await remove(stranger.token))).toBe(true);
    for (const other of [members.viewer, members.editor, owner]) expect(errorCodes(await edit(other.token))).toEqual(["FORBIDDEN"]);
    for (const other of [members.viewer, members.editor]) expect(errorCodes(await remove(other.token))).toEqual(["FORBIDDEN"]);
    expect((await edit(members.commenter.token)).data).toMatchObject({ editComment: { comment: { body: "edited" } } });
    expect((await remove(owner.token)).data).toMatchObject({ deleteComment: { comment: { deleted: true } } });
  });

  it("Story.invitations is the owner's: FORBIDDEN for an editor", async () => {
    expect((await server.request(StoryInvitations, { id: shared.storyId }, members.editor.token)).errors?.[0]?.extensions).toMatchObject({
      code: "FORBIDDEN",
      requiredRole: "OWNER",
    });
    expect((await server.query(StoryInvitations, { id: shared.storyId }, owner.token)).story!.invitations.length).toBeGreaterThan(0);
  });

  it("subscriptions: a stranger is refused like a missing story, a viewer receives", async () => {
    for (const [document, variables] of [
      [StoryEventsFeed, { storyId: shared.storyId, after: 0 }],
      [ModuleUpdated, { storyId: shared.storyId }],
      [ModuleDraftFeed, { storyId: shared.storyId }],
      [RoleStoryActivity, { storyId: shared.storyId }],
      [RoleStoryPresence, { storyId: shared.storyId }],
    ] as const) {
      const refused = subscribeSse(server.url, document as never, variables as never, stranger.token);
      await refused.received.until((r) => r.ended);
      expect(refused.received.results.flatMap((r) => errorCodes(r))).toEqual(["NOT_FOUND"]);
    }
    const ws = wsClient(server.url, members.viewer.token);
    try {
      const events = subscribeWs(ws, StoryEventsFeed, { storyId: shared.storyId, after: 0 });
      await events.received.until((r) => r.data.length > 0);
      expect(events.received.data[0]!.storyEvents.type).toBe("StoryCreated");
      events.stop();
    } finally {
      await ws.dispose();
    }
  });
});
