// deleteAccount: after it, no row of any table holds the user's id, email, username or a text they
// wrote, except what stays (spend and usage figures, under an anonymous id; their module content in
// others' stories, which is those stories' content); others' stories still verify, read and undo.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./generated/gql.ts";
import { CreateStory, DeleteStory, SignIn, SignUp, StoryState, Undo, WriteModule } from "./support/documents.ts";
import { AcceptInvitation, InviteCollaborator, TransferOwnership } from "./support/membershipDocuments.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./support/fakeOpenAI.ts";
import { startFakeSupabase, type FakeSupabase } from "./support/fakeSupabase.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { verifyStory, verifyReadTables } from "../src/projection/verify.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { Prisma } from "../src/generated/prisma/client.ts";

const DeleteAccount = graphql(`
  mutation ErasureDeleteAccount($input: DeleteAccountInput!) { deleteAccount(input: $input) { deleted erasedStories anonymisedStories } }
`);
const AddComment = graphql(`
  mutation ErasureAddComment($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }
`);
const Reply = graphql(`
  mutation ErasureReply($input: ReplyToCommentInput!) { replyToComment(input: $input) { comment { id } } }
`);
const Comments = graphql(`
  query ErasureComments($id: ID!) {
    story(id: $id) { comments(first: 50) { edges { node { id body deleted author { id } replies(first: 10) { body author { id } } } } } }
  }
`);
const Generate = graphql(`
  mutation ErasureGenerate($input: GenerateModuleInput!) { generateModule(input: $input) { version { number } } }
`);
const SetMetadata = graphql(`
  mutation ErasureSetMetadata($input: SetMetadataInput!) { setMetadata(input: $input) { metadata { id } } }
`);
const Me = graphql(`
  query ErasureMe { viewer { id } }
`);
const Branch = graphql(`
  mutation ErasureBranch($input: CreateBranchInput!) { createBranch(input: $input) { story { id } } }
`);
const Merge = graphql(`
  mutation ErasureMerge($input: MergeBranchInput!) { mergeBranch(input: $input) { version { number } } }
`);
const Alternatives = graphql(`
  mutation ErasureAlternatives($input: GenerateModuleInput!) { generateModule(input: $input) { alternatives { branch { id } } } }
`);

const PASSWORD = "correct horse battery";
/** What only the erased user wrote: none of it may be found afterwards. */
const SECRET = `ada-secret-${randomUUID().slice(0, 8)}`;
const idea = (logline: string) => ({ logline, one_liner: "The sea answers.", premise: "A keeper and the sea.", themes: ["What do we owe the dead?"] });
const IDEA = idea(`A keeper bargains with the sea (${SECRET}).`);

let fake: FakeOpenAI;
let server: TestServer;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  server = await startTestServer(undefined, {
    ai: { apiKey: "test-key", baseURL: fake.baseURL, defaultModel: "gpt-4o-mini", timeoutMs: 1_500, maxRetries: 0 },
    // failures in a row lock out as for sign-in: three here, for a short test
    auth: { limits: { lockoutAfter: 3, lockoutSeconds: 30, attemptsPerEmail: 100 } },
  });
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

async function signUp(username: string, email = `${username}-${randomUUID().slice(0, 8)}@example.com`) {
  const { signUp } = await server.query(SignUp, { input: { email, username, password: PASSWORD } });
  return { token: signUp.token, id: signUp.user.id, uuid: decodeGlobalId(signUp.user.id)!.id, email };
}
const uuidOf = (globalId: string) => decodeGlobalId(globalId)!.id;

/** Every row of every table of the schemas a deployment has (public; auth on Supabase), as text. */
async function everyRow(): Promise<{ table: string; row: string }[]> {
  const tables = await server.db.prisma.$queryRaw<{ schema: string; name: string }[]>`
    SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
     WHERE table_schema IN ('public', 'auth') AND table_type = 'BASE TABLE' ORDER BY 1, 2`;
  const rows: { table: string; row: string }[] = [];
  for (const { schema, name } of tables) {
    // names from the catalogue, quoted: no input of anyone's goes into the statement
    const found = await server.db.prisma.$queryRaw<{ row: string }[]>(Prisma.sql`SELECT t::text AS row FROM ${Prisma.raw(`"${schema}"."${name}"`)} t`);
    rows.push(...found.map(({ row }) => ({ table: `${schema}.${name}`, row })));
  }
  return rows;
}

describe("deleteAccount", () => {
  it("erases the user, their stories and every trace of them; others' stories verify, read and undo; the email signs up again", async () => {
    const username = `ada-${randomUUID().slice(0, 8)}`;
    const ada = await signUp(username);
    const bo = await signUp("bo");
    const secondDevice = (await server.query(SignIn, { input: { email: ada.email, password: PASSWORD } })).signIn.token;

    // Ada's own story: versions, metadata, comments, a generation, a failed generation (an error log)
    const own = (await server.query(CreateStory, { input: { title: `Ada's ${SECRET}`, genre: "mystery" } }, ada.token)).createStory.story.id;
    await server.query(WriteModule, { input: { storyId: own, module: "WORLD_SEED", inputText: SECRET, output: { setting: SECRET } } }, ada.token);
    await server.query(SetMetadata, { input: { parentType: "STORY", parentId: own, key: "note", value: SECRET } }, ada.token);
    await server.query(AddComment, { input: { storyId: own, body: `mine: ${SECRET}` } }, ada.token);
    fake.script({ kind: "stream", chunks: [JSON.stringify(IDEA)], usage: { prompt_tokens: 100, completion_tokens: 20 } });
    await server.query(Generate, { input: { storyId: own, module: "IDEA_SPARK", inputText: SECRET } }, ada.token);
    fake.script({ kind: "status", status: 400, message: `refused: ${SECRET}` });
    expect(errorCodes(await server.request(Generate, { input: { storyId: own, module: "IDEA_SPARK", inputText: SECRET } }, ada.token)).length).toBe(1);

    // Bo's story, where Ada is an editor: writes, a generation, comments, a thread Bo answers, her undo stack
    const shared = (await server.query(CreateStory, { input: { title: "Bo's lighthouse" } }, bo.token)).createStory.story.id;
    const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId: shared, email: ada.email, role: "EDITOR" } }, bo.token);
    await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token } }, ada.token);
    await server.query(WriteModule, { input: { storyId: shared, module: "WORLD_SEED", output: { setting: "a granite tower" } } }, ada.token);
    fake.script({ kind: "stream", chunks: [JSON.stringify(idea("Bo's logline."))], usage: { prompt_tokens: 50, completion_tokens: 10 } });
    // what she wrote into Bo's modules is his story's content: it stays, no longer hers
    await server.query(Generate, { input: { storyId: shared, module: "IDEA_SPARK", inputText: "her prompt in Bo's story" } }, ada.token);
    const adaThread = (await server.query(AddComment, { input: { storyId: shared, body: `a note: ${SECRET}` } }, ada.token)).addComment.comment.id;
    await server.query(Reply, { input: { commentId: adaThread, body: "Bo answers" } }, bo.token);
    const boThread = (await server.query(AddComment, { input: { storyId: shared, body: "Bo's thread" } }, bo.token)).addComment.comment.id;
    await server.query(Reply, { input: { commentId: boThread, body: `agreed: ${SECRET}` } }, ada.token);
    await server.query(WriteModule, { input: { storyId: shared, module: "CHARACTER_FORGE", output: { characters: [] } } }, bo.token);
    // another story of Bo's, with an invitation to Ada pending
    const invitedTo = (await server.query(CreateStory, { input: { title: "Bo's second" } }, bo.token)).createStory.story.id;
    await server.query(InviteCollaborator, { input: { storyId: invitedTo, email: ada.email, role: "VIEWER" } }, bo.token);

    // branches: one of her own story, two alternative drafts, one of Bo's story that she merges back
    // (hers: erased), and one Bo makes of his story while she is a member (his: she is anonymised in it)
    await server.query(Branch, { input: { storyId: own, label: `what if ${SECRET}` } }, ada.token);
    fake.script(...[1, 2].map(() => ({ kind: "stream" as const, chunks: [JSON.stringify(IDEA)], usage: { prompt_tokens: 10, completion_tokens: 5 } })));
    const drafts = (await server.query(Alternatives, { input: { storyId: own, module: "IDEA_SPARK", inputText: SECRET, alternatives: 2 } }, ada.token)).generateModule;
    expect(drafts.alternatives!.every((a) => a.branch !== null)).toBe(true);
    const herBranch = (await server.query(Branch, { input: { storyId: shared, label: "Ada tries" } }, ada.token)).createBranch.story.id;
    await server.query(WriteModule, { input: { storyId: herBranch, module: "PLOT_SKELETON", output: { structure: "three acts" } } }, ada.token);
    await server.query(Merge, { input: { branchId: herBranch, intoStoryId: shared } }, ada.token);
    const boBranch = (await server.query(Branch, { input: { storyId: shared, label: "Bo tries" } }, bo.token)).createBranch.story.id;
    // a branch she made and gave to Bo: his, but the row of branches names who made it
    const givenBranch = (await server.query(Branch, { input: { storyId: shared, label: "Ada's gift" } }, ada.token)).createBranch.story.id;
    await server.query(TransferOwnership, { input: { storyId: givenBranch, userId: bo.id } }, ada.token);
    // and a story of hers in the trash
    const trashed = (await server.query(CreateStory, { input: { title: `trashed ${SECRET}` } }, ada.token)).createStory.story.id;
    await server.query(DeleteStory, { input: { id: trashed } }, ada.token);

    // a wrong password: refused, nothing erased
    const wrong = await server.request(DeleteAccount, { input: { password: "not the password" } }, ada.token);
    expect(errorCodes(wrong)).toEqual(["INVALID_CREDENTIALS"]);
    expect(errorCodes(await server.request(DeleteAccount, { input: {} }, ada.token))).toEqual(["INVALID_CREDENTIALS"]);
    expect(await server.db.prisma.user.count({ where: { id: ada.uuid } })).toBe(1);
    // her story, its branch, two drafts, her branch of Bo's story, her story in the trash
    expect(await server.db.prisma.story.count({ where: { userId: ada.uuid } })).toBe(6);

    const { deleteAccount } = await server.query(DeleteAccount, { input: { password: PASSWORD } }, ada.token);
    expect(deleteAccount).toEqual({ deleted: true, erasedStories: 6, anonymisedStories: 4 });

    // no row anywhere holds her id, email, username or her text
    const traces = (await everyRow()).filter(({ row }) => [ada.uuid, ada.email, username, SECRET].some((trace) => row.includes(trace)));
    expect(traces).toEqual([]);
    // what stays: spend and usage figures, under one anonymous id that is not hers
    const spend = await server.db.prisma.aiCostTracking.findMany({ where: { storyId: { in: [uuidOf(own), uuidOf(shared)] } } });
    expect(spend.length).toBeGreaterThanOrEqual(2);
    expect(new Set(spend.map((s) => s.userId)).size).toBe(1);
    const usage = await server.db.prisma.moduleUsageLog.findMany({ where: { storyId: uuidOf(own) } });
    expect(usage.length).toBeGreaterThan(0);
    expect(usage.every((u) => u.userId === spend[0]!.userId)).toBe(true);

    // every token of hers is refused, a second delete too
    for (const token of [ada.token, secondDevice]) {
      expect((await server.request(Me, {}, token)).data?.viewer ?? null).toBeNull();
      expect(errorCodes(await server.request(DeleteAccount, { input: { password: PASSWORD } }, token))).toEqual(["UNAUTHENTICATED"]);
    }

    // Bo's stories fold as their rows say, and a rebuild reproduces them
    for (const story of [shared, invitedTo, boBranch, givenBranch]) expect(await verifyStory(server.db, uuidOf(story))).toEqual([]);
    expect(await server.db.prisma.storyBranch.count({ where: { storyId: uuidOf(herBranch) } })).toBe(0);
    expect(await server.db.prisma.storyBranch.count({ where: { storyId: uuidOf(boBranch) } })).toBe(1);
    const before = await server.query(StoryState, { id: shared }, bo.token);
    await rebuildReadTables(server.db);
    expect(await verifyReadTables(server.db)).toEqual([]);
    expect(await server.query(StoryState, { id: shared }, bo.token)).toEqual(before);
    expect(before.story!.modules.find((m) => m.name === "IDEA_SPARK")!.inputText).toBe("her prompt in Bo's story");
    expect(before.story!.activeVersion.snapshot).toMatchObject({ world_seed: { setting: "a granite tower" }, idea_spark: { logline: "Bo's logline." } });

    // the threads stay readable: her comments without text, Bo's answers kept
    const threads = (await server.query(Comments, { id: shared }, bo.token)).story!.comments.edges.map((e) => e.node);
    const hers = threads.find((c) => c.id === adaThread)!;
    expect(hers.body).toBe("");
    expect(hers.author).toBeNull();
    expect(hers.replies.map((r) => r.body)).toEqual(["Bo answers"]);
    const boNode = threads.find((c) => c.id === boThread)!;
    expect(boNode.body).toBe("Bo's thread");
    expect(boNode.replies.map((r) => r.body)).toEqual([""]);
    expect(boNode.replies[0]!.author).toBeNull();

    // Bo's undo still takes back his own change
    const undone = await server.query(Undo, { input: { storyId: shared } }, bo.token);
    expect(undone.undo.version.snapshot).toMatchObject({ character_forge: null, world_seed: { setting: "a granite tower" } });
    expect(await verifyStory(server.db, uuidOf(shared))).toEqual([]);

    // the email makes a new account
    const again = await signUp("ada-again", ada.email);
    expect(again.uuid).not.toBe(ada.uuid);
  }, 60_000);
});

describe("deleteAccount is throttled as sign-in is", () => {
  it("locks out after failures in a row: then even the right password is refused, and nothing is erased", async () => {
    const writer = await signUp("guessed");
    await server.query(CreateStory, { input: { title: "Kept" } }, writer.token);
    for (let i = 0; i < 3; i++) {
      expect(errorCodes(await server.request(DeleteAccount, { input: { password: `guess ${i}` } }, writer.token))).toEqual(["INVALID_CREDENTIALS"]);
    }
    const locked = await server.request(DeleteAccount, { input: { password: PASSWORD } }, writer.token);
    expect(errorCodes(locked)).toEqual(["RATE_LIMITED"]);
    expect(locked.errors![0]!.extensions!.retryAfter).toBeGreaterThan(0);
    expect(await server.db.prisma.story.count({ where: { userId: writer.uuid } })).toBe(1);
    expect(await server.db.prisma.user.count({ where: { id: writer.uuid } })).toBe(1);
  });
});

describe("deleteAccount for a Supabase Auth user (no password here)", () => {
  const SECRET_KEY = "super-secret-jwt-token-with-at-least-32-characters-long";
  let supabase: FakeSupabase;
  let app: TestServer;
  beforeAll(async () => {
    supabase = await startFakeSupabase();
    app = await startTestServer(undefined, { supabase: { url: supabase.url, jwtSecret: SECRET_KEY } });
  });
  afterAll(async () => {
    await app?.close();
    await supabase?.close();
  });

  it("needs a token issued within the last five minutes", async () => {
    const user = { id: randomUUID(), email: `sb-${randomUUID().slice(0, 8)}@example.com` };
    const now = Math.floor(Date.now() / 1000);
    const stale = await supabase.token(SECRET_KEY, user, { iat: now - 6 * 60 });
    await app.query(CreateStory, { input: { title: "Supabase story" } }, stale);
    const refused = await app.request(DeleteAccount, { input: {} }, stale);
    expect(errorCodes(refused)).toEqual(["INVALID_CREDENTIALS"]);
    expect(refused.errors![0]!.extensions).toMatchObject({ freshTokenSeconds: 300 });
    expect(await app.db.prisma.story.count({ where: { userId: user.id } })).toBe(1);

    const fresh = await supabase.token(SECRET_KEY, user, { iat: now - 10 });
    expect((await app.query(DeleteAccount, { input: {} }, fresh)).deleteAccount).toMatchObject({ deleted: true, erasedStories: 1 });
    expect(await app.db.prisma.story.count({ where: { userId: user.id } })).toBe(0);
  });
});
