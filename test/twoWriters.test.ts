// Two writers on one story, through GraphQL, as the README's "Writing together" tells it: invite and
// accept, writes to different modules from the same base both go through, the same module from a
// stale base is MODULE_CONFLICT, each undo takes back only its writer's change, redo re-applies it,
// an undo over someone else's later work is UNDO_CONFLICT, and a comment thread changes no revision.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redo, SignUp, StoryState, Undo, WriteModule } from "./support/documents.ts";
import { AcceptInvitation, InviteCollaborator } from "./support/membershipDocuments.ts";
import { createStory } from "./support/fixtures.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { graphql } from "./generated/gql.ts";

const Thread = graphql(`
  mutation TwoWritersComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }
`);
const Reply = graphql(`
  mutation TwoWritersReply($input: ReplyToCommentInput!) { replyToComment(input: $input) { comment { id } } }
`);
const Resolve = graphql(`
  mutation TwoWritersResolve($input: ResolveCommentInput!) { resolveComment(input: $input) { comment { resolved resolvedBy { username } } } }
`);
const Threads = graphql(`
  query TwoWritersThreads($id: ID!) {
    story(id: $id) { revision comments { edges { node { body author { username } resolved replies { body author { username } } } } } }
  }
`);

let server: TestServer;
type Writer = { token: string; email: string };
let ada: Writer;
let bo: Writer;

async function writer(name: string): Promise<Writer> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, email };
}

beforeAll(async () => {
  server = await startTestServer();
  ada = await writer("ada");
  bo = await writer("bo");
});
afterAll(() => server?.close());

const snapshotOf = (version: { snapshot: unknown }) => version.snapshot as Record<string, unknown>;

describe("two writers, one story", () => {
  it("write different modules from one base, conflict on the same one, undo and redo only their own, and talk in a thread", async () => {
    const storyId = await createStory(server, ada.token, "The Lighthouse Keeper");
    const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId, email: bo.email, role: "EDITOR" } }, ada.token);
    await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, bo.token);

    const logline = { logline: "A keeper bargains with the sea." };
    const setting = { setting: "A rock in the North Atlantic, 1911." };
    // both from version 1, different modules: both go through
    const first = await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", baseVersionNumber: 1, output: logline } }, ada.token);
    const second = await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", baseVersionNumber: 1, output: setting } }, bo.token);
    expect([first.writeModule.version.number, second.writeModule.version.number]).toEqual([2, 3]);

    // Bo, still on version 1, writes the module Ada changed: refused, nothing stored, and told what is there
    const before = (await server.query(StoryState, { id: storyId }, ada.token)).story!.revision;
    const conflict = await server.request(WriteModule, { input: { storyId, module: "IDEA_SPARK", baseVersionNumber: 1, output: { logline: "The sea bargains." } } }, bo.token);
    expect(errorCodes(conflict)).toEqual(["MODULE_CONFLICT"]);
    expect(conflict.errors![0]!.extensions).toMatchObject({ module: "IDEA_SPARK", baseVersionNumber: 1, versionNumber: 3, output: logline, changedBy: { username: "ada" } });
    expect((await server.query(StoryState, { id: storyId }, ada.token)).story!.revision).toBe(before);

    // Ada's undo takes back her logline only: Bo's setting stays
    const adaUndo = await server.query(Undo, { input: { storyId } }, ada.token);
    expect(adaUndo.undo.event.type).toBe("ChangeReverted");
    expect(snapshotOf(adaUndo.undo.version)).toMatchObject({ idea_spark: null, world_seed: setting });
    // Bo's undo takes back his setting
    const boUndo = await server.query(Undo, { input: { storyId } }, bo.token);
    expect(snapshotOf(boUndo.undo.version)).toMatchObject({ idea_spark: null, world_seed: null });
    // Ada's redo re-applies her logline, not Bo's setting
    const adaRedo = await server.query(Redo, { input: { storyId } }, ada.token);
    expect(adaRedo.redo.event.type).toBe("ChangeReapplied");
    expect(snapshotOf(adaRedo.redo.version)).toMatchObject({ idea_spark: logline, world_seed: null });
    // Bo rewrites the logline: Ada's undo would take back his work
    await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "Bo's logline." } } }, bo.token);
    const refused = await server.request(Undo, { input: { storyId } }, ada.token);
    expect(errorCodes(refused)).toEqual(["UNDO_CONFLICT"]);
    expect(refused.errors![0]!.extensions).toMatchObject({ module: "IDEA_SPARK", changedBy: { username: "bo" } });

    // a thread on the logline moves no revision
    const revision = (await server.query(StoryState, { id: storyId }, ada.token)).story!.revision;
    const { addComment } = await server.query(Thread, { input: { storyId, module: "IDEA_SPARK", fieldPath: "logline", body: "Whose bargain is it?" } }, bo.token);
    await server.query(Reply, { input: { commentId: addComment.comment.id, body: "The sea's." } }, ada.token);
    const { resolveComment } = await server.query(Resolve, { input: { commentId: addComment.comment.id } }, ada.token);
    expect(resolveComment.comment).toEqual({ resolved: true, resolvedBy: { username: "ada" } });
    const { story } = await server.query(Threads, { id: storyId }, bo.token);
    expect(story!.revision).toBe(revision);
    expect(story!.comments.edges.map((e) => e.node)).toEqual([
      { body: "Whose bargain is it?", author: { username: "bo" }, resolved: true, replies: [{ body: "The sea's.", author: { username: "ada" } }] },
    ]);
  });
});
