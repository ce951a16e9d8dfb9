// Comments (issue 13, item 3): threads on a story, a module or a field of a module's output, in a
// stream of their own per story; storyActivity over WebSocket and SSE; what strangers get; and the
// replay tools seeing comments. Through real GraphQL requests against a real database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { DeleteStory, ExportStory, ImportStory, Node, PurgeStory, WriteModule } from "./support/documents.ts";
import { createStory, signUpWriter } from "./support/fixtures.ts";
import { subscribeSse, subscribeWs, wsClient, type Subscription } from "./support/live.ts";
import { errorCodes, startTestServer, type GraphQLResponse, type TestServer } from "./support/server.ts";
import { backend } from "./support/databases.ts";
import { throwawayRedis } from "./support/redis.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables, verifyStory } from "../src/projection/verify.ts";
import { COMMENT_LIMITS } from "../src/domain/comments.ts";

const AddComment = graphql(`
  mutation AddComment($input: AddCommentInput!) {
    addComment(input: $input) {
      replayed
      comment { id module fieldPath range { start end } versionNumber body author { id username } resolved deleted detached createdAt }
    }
  }
`);

const ReplyToComment = graphql(`
  mutation ReplyToComment($input: ReplyToCommentInput!) {
    replyToComment(input: $input) { replayed comment { id body parent { id } module fieldPath versionNumber author { username } } }
  }
`);

const EditComment = graphql(`
  mutation EditComment($input: EditCommentInput!) {
    editComment(input: $input) { comment { id body editedAt } }
  }
`);

const DeleteComment = graphql(`
  mutation DeleteComment($input: DeleteCommentInput!) {
    deleteComment(input: $input) { comment { id body deleted } }
  }
`);

const ResolveComment = graphql(`
  mutation ResolveComment($input: ResolveCommentInput!) {
    resolveComment(input: $input) { comment { id resolved resolvedAt resolvedBy { username } } }
  }
`);

const ReopenComment = graphql(`
  mutation ReopenComment($input: ReopenCommentInput!) {
    reopenComment(input: $input) { comment { id resolved resolvedAt resolvedBy { username } } }
  }
`);

const StoryComments = graphql(`
  query StoryComments($id: ID!, $open: Boolean, $module: ModuleName, $first: Int, $after: String) {
    story(id: $id) {
      revision
      comments(open: $open, module: $module, first: $first, after: $after) {
        edges { cursor node { id body module fieldPath resolved deleted detached replyCount replies { id body parent { id } resolved } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`);

/** Only the threads' bodies: a page of 100 costs little. */
const StoryThreadBodies = graphql(`
  query StoryThreadBodies($id: ID!, $first: Int) {
    story(id: $id) { revision comments(first: $first) { edges { node { body } } } }
  }
`);

const ModuleComments = graphql(`
  query ModuleComments($id: ID!, $module: ModuleName!, $open: Boolean) {
    story(id: $id) { module(name: $module) { comments(open: $open) { edges { node { id body fieldPath detached } } } } }
  }
`);

const CommentNode = graphql(`
  query CommentNode($id: ID!) {
    node(id: $id) { id ... on StoryComment { body deleted resolved story { id } author { username } } }
  }
`);

const StoryRevision = graphql(`
  query StoryRevision($id: ID!) { story(id: $id) { revision activeVersionNumber versions(first: 100) { edges { node { number } } } } }
`);

const StoryActivityFeed = graphql(`
  subscription StoryActivityFeed($storyId: ID!) {
    storyActivity(storyId: $storyId) {
      kind at actor { username email } commentAction
      comment { id body parent { id } resolved }
      event { seq type }
      story { id }
    }
  }
`);

type Activity = { storyActivity: { kind: string; at: string; actor: { username: string; email: string | null } | null; commentAction: string | null; comment: { id: string; body: string | null } | null; event: { seq: number; type: string } | null } };

let server: TestServer;
let alice: { token: string; userId: string };
let bob: { token: string; userId: string };

const CHARACTERS = { characters: [{ name: "Mara", need: "to forgive her brother" }, { name: "Ivo", need: "to be seen" }] };

beforeAll(async () => {
  server = await startTestServer();
  alice = await signUpWriter(server, "alice");
  bob = await signUpWriter(server, "bob");
});
afterAll(() => server?.close());

async function storyWithCharacters(title = "Two siblings") {
  const storyId = await createStory(server, alice.token, title);
  await server.query(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output: CHARACTERS } }, alice.token);
  return storyId;
}

const comment = (storyId: string, body: string, extra: Record<string, unknown> = {}) =>
  server.query(AddComment, { input: { storyId, body, ...extra } }, alice.token).then((r) => r.addComment.comment);

/** The uuid inside a global id. */
const uuidOf = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

/** A well-formed global id of a kind that names nothing. */
const missingId = (type: string) => Buffer.from(`${type}:00000000-0000-4000-8000-000000000000`).toString("base64");

describe("a comment thread", () => {
  it("lives from a comment on a field, through replies, resolve and reopen", async () => {
    const storyId = await storyWithCharacters();
    const onStory = await comment(storyId, "  Is the title final?  ");
    expect(onStory).toMatchObject({ module: null, fieldPath: null, range: null, versionNumber: 2, body: "Is the title final?", author: { id: alice.userId, username: "alice" }, resolved: false });

    const onField = await comment(storyId, "Too vague", { module: "CHARACTER_FORGE", fieldPath: "characters.0.need", range: { start: 3, end: 10 } });
    expect(onField).toMatchObject({ module: "CHARACTER_FORGE", fieldPath: "characters.0.need", range: { start: 3, end: 10 }, detached: false });

    const { replyToComment: first } = await server.query(ReplyToComment, { input: { commentId: onField.id, body: "Agreed" } }, alice.token);
    expect(first.comment).toMatchObject({ parent: { id: onField.id }, module: "CHARACTER_FORGE", fieldPath: "characters.0.need", versionNumber: 2 });
    // a reply to a reply joins the thread
    const { replyToComment: second } = await server.query(ReplyToComment, { input: { commentId: first.comment.id, body: "Fixed" } }, alice.token);
    expect(second.comment.parent).toEqual({ id: onField.id });

    const threads = (await server.query(StoryComments, { id: storyId }, alice.token)).story!.comments.edges.map((e) => e.node);
    expect(threads.map((t) => [t.body, t.replyCount, t.replies.map((r) => r.body)])).toEqual([
      ["Is the title final?", 0, []],
      ["Too vague", 2, ["Agreed", "Fixed"]],
    ]);

    // resolving a reply resolves its thread; the thread's first comment is the answer
    const { resolveComment } = await server.query(ResolveComment, { input: { commentId: second.comment.id } }, alice.token);
    expect(resolveComment.comment).toMatchObject({ id: onField.id, resolved: true, resolvedBy: { username: "alice" } });
    const open = (await server.query(StoryComments, { id: storyId, open: true }, alice.token)).story!.comments.edges.map((e) => e.node.body);
    const resolved = (await server.query(StoryComments, { id: storyId, open: false }, alice.token)).story!.comments.edges.map((e) => e.node);
    expect(open).toEqual(["Is the title final?"]);
    expect(resolved.map((t) => t.body)).toEqual(["Too vague"]);
    expect(resolved[0]!.replies.every((r) => r.resolved)).toBe(true);
    // resolving twice changes nothing
    expect((await server.query(ResolveComment, { input: { commentId: onField.id } }, alice.token)).resolveComment.comment.resolved).toBe(true);

    const { reopenComment } = await server.query(ReopenComment, { input: { commentId: onField.id } }, alice.token);
    expect(reopenComment.comment).toEqual({ id: onField.id, resolved: false, resolvedAt: null, resolvedBy: null });

    const moduleThreads = await server.query(ModuleComments, { id: storyId, module: "CHARACTER_FORGE" }, alice.token);
    expect(moduleThreads.story!.module.comments.edges.map((e) => e.node.body)).toEqual(["Too vague"]);
    const filtered = await server.query(StoryComments, { id: storyId, module: "IDEA_SPARK" }, alice.token);
    expect(filtered.story!.comments.edges).toEqual([]);
  });

  it("pages threads oldest first", async () => {
    const storyId = await createStory(server, alice.token, "Paged");
    for (let i = 1; i <= 5; i++) await comment(storyId, `note ${i}`);
    const first = (await server.query(StoryComments, { id: storyId, first: 2 }, alice.token)).story!.comments;
    expect(first.edges.map((e) => e.node.body)).toEqual(["note 1", "note 2"]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const next = (await server.query(StoryComments, { id: storyId, first: 10, after: first.pageInfo.endCursor }, alice.token)).story!.comments;
    expect(next.edges.map((e) => e.node.body)).toEqual(["note 3", "note 4", "note 5"]);
    expect(next.pageInfo.hasNextPage).toBe(false);
    const garbage = await server.request(StoryComments, { id: storyId, after: "not-a-cursor" }, alice.token);
    expect(errorCodes(garbage)).toEqual(["BAD_USER_INPUT"]);
  });

  it("the author edits and deletes their own; a deleted comment with replies stays as a tombstone", async () => {
    const storyId = await createStory(server, alice.token, "Edits");
    const root = await comment(storyId, "first draft of a note");
    const { editComment } = await server.query(EditComment, { input: { commentId: root.id, body: "second draft" } }, alice.token);
    expect(editComment.comment.body).toBe("second draft");
    expect(editComment.comment.editedAt).not.toBeNull();

    const lonely = await comment(storyId, "nobody answers this");
    const { replyToComment: reply } = await server.query(ReplyToComment, { input: { commentId: root.id, body: "an answer" } }, alice.token);
    const { deleteComment } = await server.query(DeleteComment, { input: { commentId: root.id } }, alice.token);
    expect(deleteComment.comment).toEqual({ id: root.id, body: null, deleted: true });
    await server.query(DeleteComment, { input: { commentId: lonely.id } }, alice.token);

    const threads = (await server.query(StoryComments, { id: storyId }, alice.token)).story!.comments.edges.map((e) => e.node);
    // the deleted thread with a reply is a tombstone; the deleted one without replies is gone from the list
    expect(threads.map((t) => [t.id, t.body, t.deleted, t.replies.map((r) => r.body)])).toEqual([[root.id, null, true, ["an answer"]]]);
    expect(errorCodes(await server.request(EditComment, { input: { commentId: root.id, body: "back" } }, alice.token))).toEqual(["BAD_USER_INPUT"]);
    expect(errorCodes(await server.request(DeleteComment, { input: { commentId: root.id } }, alice.token))).toEqual(["BAD_USER_INPUT"]);
    // deleting the last reply leaves nothing of the thread in the list
    await server.query(DeleteComment, { input: { commentId: reply.comment.id } }, alice.token);
    expect((await server.query(StoryComments, { id: storyId }, alice.token)).story!.comments.edges).toEqual([]);
    // still readable by id, as a tombstone
    expect((await server.query(CommentNode, { id: root.id }, alice.token)).node).toMatchObject({ id: root.id, body: null, deleted: true });
  });

  it("is kept, and marked detached, when its field leaves the module's output", async () => {
    const storyId = await storyWithCharacters("Detaching");
    const onIvo = await comment(storyId, "Ivo needs more", { module: "CHARACTER_FORGE", fieldPath: "characters.1.need" });
    const onMara = await comment(storyId, "Mara is right", { module: "CHARACTER_FORGE", fieldPath: "characters.0.name" });
    await server.query(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output: { characters: [CHARACTERS.characters[0]] } } }, alice.token);
    const threads = (await server.query(ModuleComments, { id: storyId, module: "CHARACTER_FORGE" }, alice.token)).story!.module.comments.edges.map((e) => e.node);
    expect(threads).toEqual([
      { id: onIvo.id, body: "Ivo needs more", fieldPath: "characters.1.need", detached: true },
      { id: onMara.id, body: "Mara is right", fieldPath: "characters.0.name", detached: false },
    ]);
  });

  it("is made on the active version unless it names another, whose output its path and range are checked against", async () => {
    const storyId = await storyWithCharacters("Versions");
    await server.query(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output: { characters: [] } } }, alice.token);
    // version 2 had Ivo; version 3, the active one, has nobody
    const onOld = await comment(storyId, "Why did Ivo go?", { module: "CHARACTER_FORGE", fieldPath: "characters.1.need", range: { start: 0, end: 2 }, versionNumber: 2 });
    expect(onOld).toMatchObject({ versionNumber: 2, detached: true });
    const refused = await server.request(AddComment, { input: { storyId, body: "x", module: "CHARACTER_FORGE", fieldPath: "characters.1.need" } }, alice.token);
    expect(refused.errors?.[0]).toMatchObject({ message: "fieldPath: is not in the module's output at version 3", extensions: { code: "BAD_USER_INPUT", field: "fieldPath" } });
    const noVersion = await server.request(AddComment, { input: { storyId, body: "x", versionNumber: 99 } }, alice.token);
    expect(noVersion.errors?.[0]).toMatchObject({ message: "version 99 not found", extensions: { code: "NOT_FOUND" } });
  });

  it("checks its range against the string at its path", async () => {
    const storyId = await storyWithCharacters("Ranges");
    const add = (fieldPath: string, range: { start: number; end: number }) =>
      server.request(AddComment, { input: { storyId, body: "x", module: "CHARACTER_FORGE", fieldPath, range } }, alice.token);
    const need = CHARACTERS.characters[0]!.need;
    expect((await add("characters.0.need", { start: 0, end: need.length })).errors).toBeUndefined();
    for (const [path, range] of [
      ["characters.0.need", { start: 0, end: need.length + 1 }],
      ["characters.0.need", { start: -1, end: 2 }],
      ["characters.0.need", { start: 4, end: 3 }],
      ["characters.0", { start: 0, end: 1 }],
      ["characters", { start: 0, end: 1 }],
    ] as const) {
      const response = await add(path, range);
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "range" });
    }
    const withoutPath = await server.request(AddComment, { input: { storyId, body: "x", module: "CHARACTER_FORGE", range: { start: 0, end: 1 } } }, alice.token);
    expect(withoutPath.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "range" });
  });
});

describe("a comment and the story's revision", () => {
  it("never changes the revision or the versions, so it never conflicts with a writer's expectedRevision", async () => {
    const storyId = await storyWithCharacters("No conflict");
    const before = (await server.query(StoryRevision, { id: storyId }, alice.token)).story!;
    const root = await comment(storyId, "a thought");
    await server.query(ReplyToComment, { input: { commentId: root.id, body: "another" } }, alice.token);
    await server.query(ResolveComment, { input: { commentId: root.id } }, alice.token);
    await server.query(EditComment, { input: { commentId: root.id, body: "a better thought" } }, alice.token);
    const after = (await server.query(StoryRevision, { id: storyId }, alice.token)).story!;
    expect(after).toEqual(before);
    const written = await server.request(
      WriteModule,
      { input: { storyId, module: "IDEA_SPARK", output: { logline: "still mine to write" }, expectedRevision: before.revision } },
      alice.token,
    );
    expect(written.errors).toBeUndefined();
    expect((await server.query(StoryComments, { id: storyId }, alice.token)).story!.revision).toBe(before.revision + 1);
  });

  it("writes and comments racing on one story all land: every comment once, the story's log untouched by them", async () => {
    const storyId = await createStory(server, alice.token, "Racing");
    const { story } = await server.query(StoryRevision, { id: storyId }, alice.token);
    const comments = Array.from({ length: 12 }, (_, i) => comment(storyId, `racing ${i}`));
    const writes = Array.from({ length: 4 }, (_, i) => server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: `w${i}` } } }, alice.token));
    await Promise.all([...comments, ...writes]);
    const threads = (await server.query(StoryThreadBodies, { id: storyId, first: 100 }, alice.token)).story!;
    expect(threads.comments.edges.map((e) => e.node.body).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `racing ${i}`).sort());
    expect(threads.revision).toBe(story!.revision + 4);
    const seqs = await server.db.prisma.storyCommentEvent.findMany({ where: { storyId: uuidOf(storyId) }, select: { seq: true }, orderBy: { seq: "asc" } });
    expect(seqs.map((s) => s.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it("an idempotency key makes a retry safe: the same request answers the first comment, another is refused", async () => {
    const storyId = await createStory(server, alice.token, "Retries");
    const input = { storyId, body: "once", idempotencyKey: "key-1" };
    const first = await server.query(AddComment, { input }, alice.token);
    const again = await server.query(AddComment, { input }, alice.token);
    expect(again.addComment).toMatchObject({ replayed: true, comment: { id: first.addComment.comment.id } });
    const other = await server.request(AddComment, { input: { ...input, body: "twice" } }, alice.token);
    expect(other.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "idempotencyKey" });
    expect((await server.query(StoryComments, { id: storyId }, alice.token)).story!.comments.edges).toHaveLength(1);
  });
});

describe("a stranger", () => {
  it("gets exactly what a missing id gets, on every comment field and mutation", async () => {
    const storyId = await storyWithCharacters("Alice's private notes");
    const root = await comment(storyId, "private", { module: "CHARACTER_FORGE", fieldPath: "characters.0.need" });

    // reading: null, as for a story or comment that is not there
    expect((await server.request(StoryComments, { id: storyId }, bob.token)).data).toEqual({ story: null });
    expect((await server.request(ModuleComments, { id: storyId, module: "CHARACTER_FORGE" }, bob.token)).data).toEqual({ story: null });
    expect(await server.request(CommentNode, { id: root.id }, bob.token)).toEqual({ data: { node: null } });
    expect(await server.request(Node, { id: root.id }, bob.token)).toEqual({ data: { node: null } });
    expect(await server.request(CommentNode, { id: missingId("StoryComment") }, alice.token)).toEqual({ data: { node: null } });

    // writing: the very answer a missing id gets
    const strip = (response: GraphQLResponse<unknown>) => response.errors?.map((e) => ({ message: e.message, extensions: e.extensions }));
    const onStory = await server.request(AddComment, { input: { storyId, body: "hi" } }, bob.token);
    const onMissingStory = await server.request(AddComment, { input: { storyId: missingId("Story"), body: "hi" } }, bob.token);
    expect(strip(onStory)).toEqual(strip(onMissingStory));
    expect(errorCodes(onStory)).toEqual(["NOT_FOUND"]);

    const byComment = [
      (commentId: string) => server.request(ReplyToComment, { input: { commentId, body: "hi" } }, bob.token),
      (commentId: string) => server.request(EditComment, { input: { commentId, body: "hi" } }, bob.token),
      (commentId: string) => server.request(DeleteComment, { input: { commentId } }, bob.token),
      (commentId: string) => server.request(ResolveComment, { input: { commentId } }, bob.token),
      (commentId: string) => server.request(ReopenComment, { input: { commentId } }, bob.token),
    ];
    for (const mutate of byComment) {
      const stranger = await mutate(root.id);
      expect(errorCodes(stranger)).toEqual(["NOT_FOUND"]);
      expect(strip(stranger)).toEqual(strip(await mutate(missingId("StoryComment"))));
      // an id of another kind, or garbage, is a missing comment too
      expect(strip(await mutate(storyId))).toEqual(strip(stranger));
      expect(strip(await mutate("garbage"))).toEqual(strip(stranger));
    }
    // and nothing changed
    const unchanged = (await server.query(CommentNode, { id: root.id }, alice.token)).node;
    expect(unchanged).toMatchObject({ body: "private", deleted: false, resolved: false });
  });

  it("subscribing to storyActivity gets what a missing story gets, over WebSocket and SSE", async () => {
    const storyId = await createStory(server, alice.token, "Not for Bob");
    const ws = wsClient(server.url, bob.token);
    try {
      const results: GraphQLResponse<unknown>[][] = [];
      for (const id of [storyId, missingId("Story")]) {
        const viaWs = subscribeWs(ws, StoryActivityFeed, { storyId: id });
        const viaSse = subscribeSse(server.url, StoryActivityFeed, { storyId: id }, bob.token);
        await viaWs.received.until((r) => r.results.length > 0);
        await viaSse.received.until((r) => r.results.length > 0);
        results.push([...viaWs.received.results, ...viaSse.received.results]);
        viaWs.stop();
        viaSse.stop();
      }
      expect(results[0]!.flatMap((r) => errorCodes(r))).toEqual(["NOT_FOUND", "NOT_FOUND"]);
      expect(results[0]).toEqual(results[1]);
    } finally {
      await ws.dispose();
    }
  });
});

describe("hostile input", () => {
  it("refuses a huge body, an unstorable one, and garbage or deep field paths, storing nothing", async () => {
    const storyId = await storyWithCharacters("Hostile");
    const refusals: [Record<string, unknown>, string][] = [
      [{ body: "x".repeat(COMMENT_LIMITS.bodyChars + 1) }, "body"],
      [{ body: "x".repeat(1_000_000) }, "body"],
      [{ body: "   " }, "body"],
      [{ body: "ok", module: "CHARACTER_FORGE", fieldPath: Array(200).fill("a").join(".") }, "fieldPath"],
      [{ body: "ok", module: "CHARACTER_FORGE", fieldPath: Array(16).fill("0").join(".") + ".x" }, "fieldPath"],
      [{ body: "ok", module: "CHARACTER_FORGE", fieldPath: "characters..0" }, "fieldPath"],
      [{ body: "ok", module: "CHARACTER_FORGE", fieldPath: "characters.0.__proto__" }, "fieldPath"],
      [{ body: "ok", module: "CHARACTER_FORGE", fieldPath: "characters.0.need'); DROP TABLE story_comments; --" }, "fieldPath"],
      [{ body: "ok", fieldPath: "characters.0.need" }, "fieldPath"],
    ];
    for (const [input, field] of refusals) {
      const response = await server.request(AddComment, { input: { storyId, ...input } as never }, alice.token);
      expect(response.errors?.[0]?.extensions, JSON.stringify(input).slice(0, 100)).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    const withNul = await server.request(AddComment, { input: { storyId, body: "a\u0000b" } }, alice.token);
    expect(errorCodes(withNul)).toEqual(["BAD_USER_INPUT"]);
    expect((await server.query(StoryComments, { id: storyId }, alice.token)).story!.comments.edges).toEqual([]);
  });

  it("refuses a page larger than allowed, and a page too costly", async () => {
    const storyId = await createStory(server, alice.token, "Pages");
    expect(errorCodes(await server.request(StoryThreadBodies, { id: storyId, first: 101 }, alice.token))).toEqual(["BAD_USER_INPUT"]);
    expect(errorCodes(await server.request(StoryThreadBodies, { id: storyId, first: -1 }, alice.token))).toEqual(["BAD_USER_INPUT"]);
    // every thread with a page of replies: what a page costs is counted before anything runs
    expect(errorCodes(await server.request(StoryComments, { id: storyId, first: 100 }, alice.token))).toEqual(["QUERY_TOO_COMPLEX"]);
  });
});

describe("storyActivity", () => {
  /** Comments until every subscriber has seen one: the subscriptions are live from then on. */
  async function synced(storyId: string, subscriptions: Subscription<Activity>[]): Promise<void> {
    for (let probe = 0; probe < 100; probe++) {
      const probeComment = await comment(storyId, `probe ${probe}`);
      const seen = (s: Subscription<Activity>) => s.received.data.some((d) => d.storyActivity.comment?.id === probeComment.id);
      await Promise.all(subscriptions.map((s) => s.received.until(() => seen(s), 1_000).catch(() => null)));
      if (subscriptions.every(seen)) return;
    }
    throw new Error("the subscriptions never received a comment");
  }

  it("tells WebSocket and SSE subscribers of comments and content changes, who made them and when, and nothing of other stories", async () => {
    const storyId = await createStory(server, alice.token, "Watched together");
    const otherStoryId = await createStory(server, alice.token, "Elsewhere");
    const ws = wsClient(server.url, alice.token);
    const viaWs = subscribeWs(ws, StoryActivityFeed, { storyId });
    const viaSse = subscribeSse(server.url, StoryActivityFeed, { storyId }, alice.token);
    try {
      await synced(storyId, [viaWs, viaSse]);
      const marks = [viaWs, viaSse].map((s) => s.received.data.length);
      const started = Date.now();

      const root = await comment(storyId, "Start here");
      await comment(otherStoryId, "not watched");
      const written = await server.query(WriteModule, { input: { storyId, module: "IDEA_SPARK", output: { logline: "a keeper" } } }, alice.token);
      await server.query(ReplyToComment, { input: { commentId: root.id, body: "Yes" } }, alice.token);
      await server.query(ResolveComment, { input: { commentId: root.id } }, alice.token);
      await server.query(DeleteComment, { input: { commentId: root.id } }, alice.token);

      for (const [i, subscription] of [viaWs, viaSse].entries()) {
        const scripted = () => subscription.received.data.slice(marks[i]);
        await subscription.received.until(() => scripted().length >= 5);
        await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more may arrive
        const items = scripted().map((d) => d.storyActivity);
        const summary = items.map((a) => [a.kind, a.commentAction ?? a.event?.type]).sort();
        expect(summary).toEqual(
          [
            ["COMMENT", "ADDED"],
            ["COMMENT", "ADDED"],
            ["COMMENT", "RESOLVED"],
            ["COMMENT", "DELETED"],
            ["CONTENT", "ModuleWritten"],
          ].sort(),
        );
        // comments in their stream's order
        expect(items.filter((a) => a.kind === "COMMENT").map((a) => a.commentAction)).toEqual(["ADDED", "ADDED", "RESOLVED", "DELETED"]);
        for (const item of items) {
          expect(item.actor).toEqual({ username: "alice", email: expect.stringContaining("alice-") });
          expect(Date.parse(item.at)).toBeGreaterThanOrEqual(started - 1_000);
        }
        expect(items.find((a) => a.kind === "CONTENT")!.event).toEqual({ seq: written.writeModule.event.seq, type: "ModuleWritten" });
        expect(subscription.received.results.filter((r) => r.errors)).toEqual([]);
      }
    } finally {
      viaWs.stop();
      viaSse.stop();
      await ws.dispose();
    }
  });

  it("leaves nothing running once its clients go: no listener, no subscription, no statement", async () => {
    const storyId = await createStory(server, alice.token, "Left alone");
    const idle = server.messaging.listenerCount();
    const ws = wsClient(server.url, alice.token);
    const viaWs = subscribeWs(ws, StoryActivityFeed, { storyId });
    const viaSse = subscribeSse(server.url, StoryActivityFeed, { storyId }, alice.token);
    await synced(storyId, [viaWs, viaSse]);
    viaWs.stop();
    viaSse.stop();
    await ws.dispose();
    const deadline = Date.now() + 2_000;
    while (server.app.live.size > 0 || server.messaging.listenerCount() > idle) {
      if (Date.now() > deadline) throw new Error(`left: ${server.app.live.size} subscriptions, ${server.messaging.listenerCount()} listeners (${idle} idle)`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // a read that had started may finish
    const before = server.db.statements.count;
    await new Promise((resolve) => setTimeout(resolve, 6_000)); // longer than the feeds' 5 s safety re-read
    expect(server.db.statements.count - before).toBe(0);
  });

  it("ends with NOT_FOUND when the story is deleted (to the trash), and the story's comments and their stream go with its purge", async () => {
    const storyId = await createStory(server, alice.token, "Short-lived");
    const uuid = uuidOf(storyId);
    const ws = wsClient(server.url, alice.token);
    const viaWs = subscribeWs(ws, StoryActivityFeed, { storyId });
    try {
      await synced(storyId, [viaWs]);
      await server.query(DeleteStory, { input: { id: storyId } }, alice.token);
      await viaWs.received.until((r) => r.ended || r.results.some((x) => x.errors));
      expect(viaWs.received.results.flatMap((r) => errorCodes(r))).toEqual(["NOT_FOUND"]);
      // in the trash, the comments wait for a restore; purging erases them
      expect(await server.db.prisma.storyComment.count({ where: { storyId: uuid } })).toBeGreaterThan(0);
      await server.query(PurgeStory, { input: { id: storyId } }, alice.token);
      expect(await server.db.prisma.storyComment.count({ where: { storyId: uuid } })).toBe(0);
      expect(await server.db.prisma.storyCommentEvent.count({ where: { storyId: uuid } })).toBe(0);
    } finally {
      viaWs.stop();
      await ws.dispose();
    }
  });
});

describe.runIf(backend === "postgres" && process.env.TEST_REDIS_URL)("storyActivity across instances", () => {
  it("reaches a subscriber of one server with the comments and writes made through another, through Redis", async () => {
    const other = await startTestServer(server.database);
    const storyId = await createStory(server, alice.token, "Two instances");
    const ws = wsClient(other.url, alice.token);
    const viaOther = subscribeWs(ws, StoryActivityFeed, { storyId });
    try {
      let seen = false;
      for (let probe = 0; probe < 50 && !seen; probe++) {
        const made = await comment(storyId, `probe ${probe}`);
        seen = await viaOther.received.until((r) => r.data.some((d) => d.storyActivity.comment?.id === made.id), 1_000).then(() => true, () => false);
      }
      const last = await comment(storyId, "through the first server");
      const written = await server.query(WriteModule, { input: { storyId, module: "WORLD_SEED", output: { tone: "grey" } } }, alice.token);
      await viaOther.received.until((r) => r.data.some((d) => d.storyActivity.comment?.id === last.id) && r.data.some((d) => d.storyActivity.event?.seq === written.writeModule.event.seq));
      expect(viaOther.received.results.filter((r) => r.errors)).toEqual([]);
    } finally {
      viaOther.stop();
      await ws.dispose();
      await other.stop();
    }
  });
});

describe.skipIf(!process.env.TEST_REDIS_URL)("storyActivity through a Redis outage", () => {
  it("comments made while Redis is away still reach the subscriber, each once, in order; the writes never wait for Redis", async () => {
    const redis = await throwawayRedis();
    await redis.start();
    const own = await startTestServer(undefined, { redisUrl: redis.url });
    const writer = await signUpWriter(own, "outage");
    const storyId = await createStory(own, writer.token, "Through the storm");
    const say = (body: string) => own.query(AddComment, { input: { storyId, body } }, writer.token).then((r) => r.addComment.comment.id);
    const ws = wsClient(own.url, writer.token);
    const feed = subscribeWs(ws, StoryActivityFeed, { storyId });
    try {
      let live = false;
      for (let probe = 0; probe < 50 && !live; probe++) {
        const id = await say(`probe ${probe}`);
        live = await feed.received.until((r) => r.data.some((d) => d.storyActivity.comment?.id === id), 1_000).then(() => true, () => false);
      }
      expect(live).toBe(true);
      const mark = feed.received.data.length;

      await redis.kill();
      const during = [await say("during 1"), await say("during 2"), await say("during 3")];
      await redis.start();
      const after = await say("after");

      const expected = [...during, after];
      const scripted = () => feed.received.data.slice(mark).map((d) => d.storyActivity.comment?.id);
      await feed.received.until(() => expected.every((id) => scripted().includes(id)), 30_000);
      expect(scripted()).toEqual(expected);
      expect(feed.received.results.filter((r) => r.errors)).toEqual([]);
    } finally {
      feed.stop();
      await ws.dispose();
      await own.close();
      await redis.kill();
    }
  });
});

describe("the replay tools", () => {
  it("after 300 random comment operations between writes, verify finds nothing and rebuild reproduces story_comments exactly", async () => {
    const stories = [await storyWithCharacters("Random one"), await storyWithCharacters("Random two")];
    let seed = 13;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    /** every comment made so far, of either story */
    const made: string[] = [];
    const pick = () => made[random(made.length)]!;
    for (let step = 0; step < 300; step++) {
      const storyId = stories[random(stories.length)]!;
      const choice = made.length === 0 ? 0 : random(8);
      let response: GraphQLResponse<unknown>;
      if (choice === 0) {
        const onField = random(2) === 0 ? { module: "CHARACTER_FORGE", fieldPath: `characters.${random(2)}.need`, range: { start: 0, end: random(5) } } : {};
        const added = await server.request(AddComment, { input: { storyId, body: `step ${step}`, ...onField } as never }, alice.token);
        if (added.data) made.push(added.data.addComment.comment.id);
        response = added;
      } else if (choice === 1) {
        const replied = await server.request(ReplyToComment, { input: { commentId: pick(), body: `reply ${step}` } }, alice.token);
        if (replied.data) made.push(replied.data.replyToComment.comment.id);
        response = replied;
      } else if (choice === 2) response = await server.request(EditComment, { input: { commentId: pick(), body: `edit ${step}` } }, alice.token);
      else if (choice === 3) response = await server.request(DeleteComment, { input: { commentId: pick() } }, alice.token);
      else if (choice === 4) response = await server.request(ResolveComment, { input: { commentId: pick() } }, alice.token);
      else if (choice === 5) response = await server.request(ReopenComment, { input: { commentId: pick() } }, alice.token);
      else {
        const characters = CHARACTERS.characters.slice(0, random(3));
        response = await server.request(WriteModule, { input: { storyId, module: "CHARACTER_FORGE", output: { characters } } }, alice.token);
      }
      // refusals the rules make (a deleted comment, a path gone from the output) are answers, never failures
      expect(errorCodes(response).every((code) => code === "BAD_USER_INPUT"), JSON.stringify(response.errors)).toBe(true);
    }
    expect(made.length).toBeGreaterThan(30);
    expect(await verifyReadTables(server.db)).toEqual([]);
    const rows = () => server.db.prisma.storyComment.findMany({ orderBy: { id: "asc" } });
    const before = await rows();
    await rebuildReadTables(server.db);
    expect(await rows()).toEqual(before);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });

  it("verify compares story_comments with the fold of the comment streams; rebuild makes them equal again", async () => {
    const storyId = await storyWithCharacters("Replayed");
    const uuid = uuidOf(storyId);
    const root = await comment(storyId, "one", { module: "CHARACTER_FORGE", fieldPath: "characters.0.need", range: { start: 0, end: 2 } });
    const { replyToComment } = await server.query(ReplyToComment, { input: { commentId: root.id, body: "two" } }, alice.token);
    await server.query(ResolveComment, { input: { commentId: root.id } }, alice.token);
    await server.query(EditComment, { input: { commentId: replyToComment.comment.id, body: "two, edited" } }, alice.token);
    const doomed = await comment(storyId, "three");
    await server.query(DeleteComment, { input: { commentId: doomed.id } }, alice.token);

    expect(await verifyReadTables(server.db)).toEqual([]);
    expect(await verifyStory(server.db, uuid)).toEqual([]);

    // a row that says what its stream does not, a row missing, and a row no stream made
    const rootId = uuidOf(root.id);
    await server.db.prisma.storyComment.update({ where: { id: rootId }, data: { body: "tampered", resolvedAt: null } });
    await server.db.prisma.storyComment.delete({ where: { id: uuidOf(doomed.id) } });
    const strayId = "00000000-0000-4000-8000-00000000beef";
    const now = new Date();
    await server.db.prisma.storyComment.create({
      data: { id: strayId, storyId: uuid, authorId: uuidOf(alice.userId), versionNumber: 1, body: "stray", createdAt: now, updatedAt: now, eventSeq: 99 },
    });
    const differences = await verifyStory(server.db, uuid);
    expect(differences!.filter((d) => d.table === "story_comments").map((d) => [d.rowId, d.field]).sort()).toEqual(
      [
        [rootId, "body"],
        [rootId, "resolvedAt"],
        [uuidOf(doomed.id), "(row)"],
        [strayId, "(row)"],
      ].sort(),
    );
    expect((await verifyReadTables(server.db)).length).toBe(4);

    const rebuilt = await rebuildReadTables(server.db);
    expect(rebuilt.comments.events).toBeGreaterThanOrEqual(6);
    expect(await verifyReadTables(server.db)).toEqual([]);
    expect((await server.query(CommentNode, { id: root.id }, alice.token)).node).toMatchObject({ body: "one", resolved: true });
  });
});

describe("the story export", () => {
  it("holds the comment log, which importing ignores", async () => {
    const storyId = await createStory(server, alice.token, "Exported");
    const root = await comment(storyId, "keep this");
    await server.query(ResolveComment, { input: { commentId: root.id } }, alice.token);
    const { exportStory } = await server.query(ExportStory, { id: storyId, format: "JSON" }, alice.token);
    const data = exportStory.data as { comments: { seq: number; type: string; actorId: string; payload: { body?: string } }[] };
    expect(data.comments.map((c) => [c.seq, c.type, c.actorId])).toEqual([
      [1, "CommentAdded", uuidOf(alice.userId)],
      [2, "CommentResolved", uuidOf(alice.userId)],
    ]);
    expect(data.comments[0]!.payload.body).toBe("keep this");
    const { importStory } = await server.query(ImportStory, { input: { data } }, bob.token);
    const importedId = importStory.story.id;
    expect((await server.query(StoryComments, { id: importedId }, bob.token)).story!.comments.edges).toEqual([]);
  });

  it("does not hold a deleted comment's text, in any of its versions; a kept comment's edits stay", async () => {
    const storyId = await createStory(server, alice.token, "Regretted");
    const regretted = await comment(storyId, "a secret, first draft");
    await server.query(EditComment, { input: { commentId: regretted.id, body: "a secret, second draft" } }, alice.token);
    await server.query(DeleteComment, { input: { commentId: regretted.id } }, alice.token);
    const kept = await comment(storyId, "kept, first");
    await server.query(EditComment, { input: { commentId: kept.id, body: "kept, second" } }, alice.token);
    const { exportStory } = await server.query(ExportStory, { id: storyId, format: "JSON" }, alice.token);
    const text = JSON.stringify(exportStory.data);
    expect(text).not.toContain("secret");
    const data = exportStory.data as { comments: { type: string; payload: { body?: string } }[] };
    expect(data.comments.map((c) => [c.type, c.payload.body])).toEqual([
      ["CommentAdded", ""],
      ["CommentEdited", ""],
      ["CommentDeleted", undefined],
      ["CommentAdded", "kept, first"],
      ["CommentEdited", "kept, second"],
    ]);
    // the streamed download says the same
    const response = await fetch(new URL(`/stories/${encodeURIComponent(storyId)}/export.json`, server.url), { headers: { authorization: `Bearer ${alice.token}` } });
    expect(response.status).toBe(200);
    const streamed = await response.text();
    expect(streamed).toContain("kept, second");
    expect(streamed).not.toContain("secret");
  });
});
