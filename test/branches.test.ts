// Branches, compare and merge (issue 14, items 1 to 3) through GraphQL against a real database:
// a writer branches a story, both are edited, the two are compared, a merge is previewed with a
// conflict, refused until it is resolved, applied as one version, undone, and merged again; a
// branch of a branch, the family tree as each member sees it, who may do what, exports, and the
// read tables equal to the fold of the log (verify), story_branches reproduced by rebuild.
//
// The outcomes asked for are whole-module ones (a module changed on one side only; the same
// module changed on both sides), with whole-module resolutions: they hold whatever finer merge
// the module's rules make.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { decodeGlobalId } from "../src/domain/globalIds.ts";
import { ExportStory, ImportStory, ModuleUpdatedBy, SignUp, StoryState, Undo, Redo, WriteModule } from "./support/documents.ts";
import { subscribeWs, wsClient } from "./support/live.ts";
import { AcceptInvitation, InviteCollaborator, RemoveCollaborator } from "./support/membershipDocuments.ts";
import { createStory } from "./support/fixtures.ts";
import { graphql } from "./generated/gql.ts";
import { errorCodes, startTestServer, type TestServer } from "./support/server.ts";

const CreateBranch = graphql(`
  mutation BranchesCreateBranch($input: CreateBranchInput!) {
    createBranch(input: $input) {
      story { id title genre isBranch branchLabel canUndo branchOf { versionNumber story { id } version { number } } owner { username } }
      version { number snapshot inputs }
      event { seq type }
    }
  }
`);

const BranchStory = graphql(`
  query BranchesStory($id: ID!) {
    story(id: $id) {
      id isBranch branchLabel revision
      branchOf { versionNumber story { id } version { number } }
      branches { id branchLabel }
      branchTree { story { id } parentId depth }
      collaborators { user { username } role }
      activeVersion { number snapshot inputs }
    }
  }
`);

const Compare = graphql(`
  query BranchesCompare($a: ID!, $b: ID!) {
    compareBranches(a: $a, b: $b) {
      base { storyId versionNumber }
      a { versionNumber }
      b { versionNumber }
      differences { module status }
      changesInA { module status changes { path kind before after } }
      changesInB { module status changes { path kind before after } }
    }
  }
`);

const Preview = graphql(`
  query BranchesPreview($branchId: ID!, $intoStoryId: ID!) {
    previewMerge(branchId: $branchId, intoStoryId: $intoStoryId) {
      base { storyId versionNumber }
      ours { versionNumber }
      theirs { versionNumber }
      hasConflicts
      modules { module status output inputText conflicts { path base ours theirs } }
    }
  }
`);

const Merge = graphql(`
  mutation BranchesMerge($input: MergeBranchInput!) {
    mergeBranch(input: $input) {
      replayed
      story { revision canUndo }
      version { number snapshot inputs parent { number } }
      event { type payload }
    }
  }
`);

const MyStories = graphql(`
  query BranchesMyStories { stories(first: 50) { edges { node { id isBranch } } } }
`);

let server: TestServer;
type Writer = { token: string; userId: string; email: string };
let ann: Writer;
let ben: Writer;
let cat: Writer;
let dan: Writer;
let eve: Writer;

async function writer(name: string): Promise<Writer> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const { signUp } = await server.query(SignUp, { input: { email, username: name, password: "correct horse battery" } });
  return { token: signUp.token, userId: signUp.user.id, email };
}

async function invite(storyId: string, who: Writer, role: "EDITOR" | "COMMENTER" | "VIEWER", by: Writer = ann) {
  const { inviteCollaborator } = await server.query(InviteCollaborator, { input: { storyId, email: who.email, role } }, by.token);
  await server.query(AcceptInvitation, { input: { token: inviteCollaborator.token! } }, who.token);
}

const write = (storyId: string, module: "IDEA_SPARK" | "WORLD_SEED" | "CHARACTER_FORGE" | "PLOT_SKELETON" | "WORDSMITH_LAB", output: object, by: Writer = ann, inputText?: string) =>
  server.query(WriteModule, { input: { storyId, module, output, ...(inputText === undefined ? {} : { inputText }) } as never }, by.token);

const snapshotOf = async (storyId: string, by: Writer = ann) => (await server.query(StoryState, { id: storyId }, by.token)).story!.activeVersion;

const statusOf = (modules: readonly { module: string; status: string }[]) => Object.fromEntries(modules.map((m) => [m.module, m.status]));

beforeAll(async () => {
  server = await startTestServer();
  [ann, ben, cat, dan, eve] = (await Promise.all(["ann", "ben", "cat", "dan", "eve"].map(writer))) as [Writer, Writer, Writer, Writer, Writer];
});
afterAll(() => server?.close());

describe("a branch, edited, compared and merged back", () => {
  let story: string;
  let branch: string;
  let afterParentEdits: Awaited<ReturnType<typeof snapshotOf>>;

  beforeAll(async () => {
    story = await createStory(server, ann.token, "The Lighthouse");
    await write(story, "IDEA_SPARK", { logline: "A keeper" }, ann, "first notes"); // v2
    await write(story, "WORLD_SEED", { setting: "A rock" }); // v3
    await invite(story, ben, "EDITOR");
    await invite(story, cat, "VIEWER");
    await invite(story, dan, "COMMENTER");
    // a pending invitation stays behind
    await server.query(InviteCollaborator, { input: { storyId: story, email: `nobody-${randomUUID()}@example.com`, role: "VIEWER" } }, ann.token);
  });

  it("createBranch makes a new story at the active version: its content as version 1, the members copied, the creator its owner", async () => {
    const { createBranch } = await server.query(CreateBranch, { input: { storyId: story, label: "the mentor dies" } }, ben.token);
    branch = createBranch.story.id;
    expect(branch).not.toBe(story);
    expect(createBranch.event).toEqual({ seq: 1, type: "BranchCreated" });
    expect(createBranch.story).toMatchObject({
      title: "The Lighthouse",
      genre: "mystery",
      isBranch: true,
      branchLabel: "the mentor dies",
      canUndo: false,
      branchOf: { versionNumber: 3, story: { id: story }, version: { number: 3 } },
      owner: { username: "ben" },
    });
    const parent = await snapshotOf(story);
    expect(createBranch.version).toEqual({ number: 1, snapshot: parent.snapshot, inputs: parent.inputs });

    const { story: seen } = await server.query(BranchStory, { id: branch }, ann.token);
    expect(Object.fromEntries(seen!.collaborators.map((c) => [c.user.username, c.role]))).toEqual({ ben: "OWNER", ann: "EDITOR", cat: "VIEWER", dan: "COMMENTER" });
    expect((await server.query(BranchStory, { id: story }, cat.token)).story!.branches).toEqual([{ id: branch, branchLabel: "the mentor dies" }]);
    expect((await server.query(BranchStory, { id: story }, ann.token)).story).toMatchObject({ isBranch: false, branchLabel: null, branchOf: null });
    // like any story, in the lists of its members
    const listed = (await server.query(MyStories, {}, cat.token)).stories.edges.map((e) => e.node);
    expect(listed).toEqual(expect.arrayContaining([{ id: branch, isBranch: true }, { id: story, isBranch: false }]));
    // version 1 can't be undone
    expect(errorCodes(await server.request(Undo, { input: { storyId: branch } }, ben.token))).toEqual(["NOTHING_TO_UNDO"]);
  });

  it("createBranch from an older version begins there", async () => {
    const { createBranch } = await server.query(CreateBranch, { input: { storyId: story, fromVersionNumber: 2, label: "no rock" } }, ann.token);
    expect(createBranch.story.branchOf).toMatchObject({ versionNumber: 2 });
    expect(createBranch.version.snapshot).toMatchObject({ idea_spark: { logline: "A keeper" }, world_seed: null });
    expect(createBranch.version.inputs).toMatchObject({ idea_spark: "first notes" });
    const missing = await server.request(CreateBranch, { input: { storyId: story, fromVersionNumber: 99, label: "x" } }, ann.token);
    expect(missing.errors?.[0]?.extensions).toMatchObject({ code: "NOT_FOUND", field: "fromVersionNumber" });
    const unlabeled = await server.request(CreateBranch, { input: { storyId: story, label: "  " } }, ann.token);
    expect(unlabeled.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "label" });
  });

  it("compareBranches tells, module by module, what differs and what each changed since the fork", async () => {
    // the story: the idea (both change it) and the plot (only here); the branch: the idea and the characters
    await write(story, "IDEA_SPARK", { logline: "Ann's keeper" }); // v4
    await write(story, "PLOT_SKELETON", { structure: "three acts" }); // v5
    await write(branch, "IDEA_SPARK", { logline: "Ben's keeper" }, ben); // branch v2
    await write(branch, "CHARACTER_FORGE", { characters: [{ name: "Mara" }] }, ben); // branch v3
    afterParentEdits = await snapshotOf(story);

    const { compareBranches } = await server.query(Compare, { a: story, b: branch }, cat.token);
    expect(compareBranches.base).toEqual({ storyId: story, versionNumber: 3 });
    expect(compareBranches.a.versionNumber).toBe(5);
    expect(compareBranches.b.versionNumber).toBe(3);
    expect(statusOf(compareBranches.differences)).toEqual({
      IDEA_SPARK: "changed",
      WORLD_SEED: "unchanged",
      CHARACTER_FORGE: "added",
      PLOT_SKELETON: "removed",
      WORDSMITH_LAB: "unchanged",
    });
    expect(statusOf(compareBranches.changesInA)).toMatchObject({ IDEA_SPARK: "changed", PLOT_SKELETON: "added", CHARACTER_FORGE: "unchanged" });
    expect(statusOf(compareBranches.changesInB)).toMatchObject({ IDEA_SPARK: "changed", CHARACTER_FORGE: "added", PLOT_SKELETON: "unchanged" });
    expect(compareBranches.changesInB.find((m) => m.module === "IDEA_SPARK")!.changes).toEqual([
      { path: "logline", kind: "changed", before: "A keeper", after: "Ben's keeper" },
    ]);
  });

  it("previewMerge shows the conflict, and mergeBranch refuses it with MERGE_CONFLICT listing it, changing nothing", async () => {
    const { previewMerge } = await server.query(Preview, { branchId: branch, intoStoryId: story }, ann.token);
    expect(previewMerge).toMatchObject({ base: { storyId: story, versionNumber: 3 }, ours: { versionNumber: 5 }, theirs: { versionNumber: 3 }, hasConflicts: true });
    expect(statusOf(previewMerge.modules)).toEqual({
      IDEA_SPARK: "CONFLICT",
      WORLD_SEED: "UNCHANGED",
      CHARACTER_FORGE: "THEIRS",
      PLOT_SKELETON: "OURS",
      WORDSMITH_LAB: "UNCHANGED",
    });
    const idea = previewMerge.modules.find((m) => m.module === "IDEA_SPARK")!;
    expect(idea.conflicts.length).toBeGreaterThan(0);
    expect(JSON.stringify(idea.conflicts)).toContain("Ben's keeper");

    const before = (await server.query(StoryState, { id: story }, ann.token)).story!.revision;
    const refused = await server.request(Merge, { input: { branchId: branch, intoStoryId: story } }, ann.token);
    expect(errorCodes(refused)).toEqual(["MERGE_CONFLICT"]);
    const conflicts = refused.errors![0]!.extensions!.conflicts as { module: string; path: string; ours: unknown; theirs: unknown }[];
    expect(conflicts.length).toBeGreaterThan(0);
    expect(conflicts.every((c) => c.module === "IDEA_SPARK")).toBe(true);
    expect(JSON.stringify(conflicts)).toContain("Ann's keeper");
    expect((await server.query(StoryState, { id: story }, ann.token)).story!.revision).toBe(before);
  });

  it("mergeBranch with the conflict resolved makes one version: the branch's idea, its characters, the story's plot; undo gives the story back exactly", async () => {
    const { mergeBranch } = await server.query(
      Merge,
      { input: { branchId: branch, intoStoryId: story, resolutions: [{ module: "IDEA_SPARK", choice: "THEIRS" }], idempotencyKey: "merge-1" } },
      ann.token,
    );
    expect(mergeBranch.version.number).toBe(6);
    expect(mergeBranch.version.parent).toEqual({ number: 5 });
    expect(mergeBranch.version.snapshot).toMatchObject({
      idea_spark: { logline: "Ben's keeper" },
      world_seed: { setting: "A rock" },
      character_forge: { characters: [{ name: "Mara" }] },
      plot_skeleton: { structure: "three acts" },
    });
    expect(mergeBranch.event.type).toBe("BranchMerged");
    expect(mergeBranch.event.payload).toMatchObject({
      branch: { storyId: decodeGlobalId(branch)!.id, versionNumber: 3 },
      base: { storyId: decodeGlobalId(story)!.id, versionNumber: 3 },
    });
    // the same key again: the same answer, nothing appended
    const again = await server.query(
      Merge,
      { input: { branchId: branch, intoStoryId: story, resolutions: [{ module: "IDEA_SPARK", choice: "THEIRS" }], idempotencyKey: "merge-1" } },
      ann.token,
    );
    expect(again.mergeBranch).toMatchObject({ replayed: true, version: { number: 6 } });

    const { undo } = await server.query(Undo, { input: { storyId: story } }, ann.token);
    expect(undo.version.number).toBe(5);
    expect(await snapshotOf(story)).toEqual(afterParentEdits);
    const { redo } = await server.query(Redo, { input: { storyId: story } }, ann.token);
    expect(redo.version.number).toBe(6);
  });

  it("merging twice brings only what changed on the branch since the last merge", async () => {
    await write(branch, "WORLD_SEED", { setting: "A storm-beaten rock" }, ben); // branch v4
    const { previewMerge } = await server.query(Preview, { branchId: branch, intoStoryId: story }, ann.token);
    expect(previewMerge.base).toEqual({ storyId: branch, versionNumber: 3 });
    expect(previewMerge.hasConflicts).toBe(false);
    expect(statusOf(previewMerge.modules)).toMatchObject({ WORLD_SEED: "THEIRS", IDEA_SPARK: "UNCHANGED", PLOT_SKELETON: "OURS" });
    const { mergeBranch } = await server.query(Merge, { input: { branchId: branch, intoStoryId: story } }, ann.token);
    expect(mergeBranch.version.number).toBe(7);
    expect(mergeBranch.version.snapshot).toMatchObject({ world_seed: { setting: "A storm-beaten rock" }, plot_skeleton: { structure: "three acts" } });
    expect(mergeBranch.event.payload).toMatchObject({ base: { storyId: decodeGlobalId(branch)!.id, versionNumber: 3 }, branch: { versionNumber: 4 } });
    // nothing new on the branch: the merge changes nothing, and is recorded all the same
    const { mergeBranch: nothing } = await server.query(Merge, { input: { branchId: branch, intoStoryId: story } }, ann.token);
    expect(nothing.version).toMatchObject({ number: 8, parent: { number: 7 }, snapshot: mergeBranch.version.snapshot });
  });

  it("a merge is announced like any change: moduleUpdated gives each module it changed, with the BranchMerged event", async () => {
    await write(branch, "WORDSMITH_LAB", { prose: "The lamp went dark." }, ben);
    const revision = (await server.query(StoryState, { id: story }, ann.token)).story!.revision;
    await server.query(Merge, { input: { branchId: branch, intoStoryId: story } }, ann.token);
    const ws = wsClient(server.url, cat.token);
    const updates = subscribeWs(ws, ModuleUpdatedBy, { storyId: story, after: revision });
    try {
      await updates.received.until((r) => r.data.length >= 1);
      expect(updates.received.data.map((d) => [d.moduleUpdated.module.name, d.moduleUpdated.event.type, d.moduleUpdated.actor?.username])).toEqual([
        ["WORDSMITH_LAB", "BranchMerged", "ann"],
      ]);
    } finally {
      updates.stop();
      await ws.dispose();
    }
  });

  it("a merge of the story into its branch works the other way round, from the branch's version the story merged last", async () => {
    const { previewMerge } = await server.query(Preview, { branchId: story, intoStoryId: branch }, ben.token);
    // the story holds everything of the branch's version 5 (merged in above): that is the common base
    expect(previewMerge.base).toEqual({ storyId: branch, versionNumber: 5 });
    expect(statusOf(previewMerge.modules)).toMatchObject({ PLOT_SKELETON: "THEIRS" });
  });

  it("merged content that does not fit its module is BAD_USER_INPUT naming the module, and nothing is appended", async () => {
    const before = (await server.query(StoryState, { id: story }, ann.token)).story!.revision;
    const themes = Array.from({ length: 13 }, (_, i) => `theme ${i}`);
    const refused = await server.request(
      Merge,
      { input: { branchId: branch, intoStoryId: story, resolutions: [{ module: "IDEA_SPARK", choice: "CONTENT", content: { output: { logline: "x", themes }, inputText: null } }] } },
      ann.token,
    );
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "IDEA_SPARK.output.themes", module: "IDEA_SPARK" });
    expect((await server.query(StoryState, { id: story }, ann.token)).story!.revision).toBe(before);
  });

  it("who may: a stranger gets NOT_FOUND everywhere, a viewer or commenter FORBIDDEN on createBranch and mergeBranch", async () => {
    const stranger = [
      await server.request(CreateBranch, { input: { storyId: story, label: "mine" } }, eve.token),
      await server.request(Merge, { input: { branchId: branch, intoStoryId: story } }, eve.token),
      await server.request(Compare, { a: story, b: branch }, eve.token),
      await server.request(Preview, { branchId: branch, intoStoryId: story }, eve.token),
    ];
    for (const response of stranger) expect(errorCodes(response)).toEqual(["NOT_FOUND"]);
    expect((await server.request(BranchStory, { id: branch }, eve.token)).data?.story).toBeNull();
    for (const member of [cat, dan]) {
      for (const response of [
        await server.request(CreateBranch, { input: { storyId: story, label: "mine" } }, member.token),
        await server.request(Merge, { input: { branchId: branch, intoStoryId: story } }, member.token),
      ]) {
        expect(response.errors?.[0]?.extensions).toMatchObject({ code: "FORBIDDEN", requiredRole: "EDITOR" });
      }
    }
    // unrelated stories are no family
    const other = await createStory(server, ann.token, "Another");
    expect((await server.request(Compare, { a: story, b: other }, ann.token)).errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT" });
    expect((await server.request(Merge, { input: { branchId: other, intoStoryId: story } }, ann.token)).errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT" });
  });
});

describe("a branch of a branch, and the family tree", () => {
  it("shows each member the stories they can see, never an invisible one's id", async () => {
    const root = await createStory(server, ann.token, "Roots");
    await write(root, "IDEA_SPARK", { logline: "Roots" });
    await invite(root, cat, "VIEWER");
    const first = (await server.query(CreateBranch, { input: { storyId: root, label: "first" } }, ann.token)).createBranch.story.id;
    const hidden = (await server.query(CreateBranch, { input: { storyId: root, label: "hidden" } }, ann.token)).createBranch.story.id;
    // cat leaves `hidden`'s members; its branch is shared with cat again
    await server.query(RemoveCollaborator, { input: { storyId: hidden, userId: cat.userId } }, ann.token);
    const deep = (await server.query(CreateBranch, { input: { storyId: hidden, label: "deep" } }, ann.token)).createBranch.story.id;
    await invite(deep, cat, "VIEWER");
    const deeper = (await server.query(CreateBranch, { input: { storyId: first, label: "deeper" } }, ann.token)).createBranch;
    expect(deeper.story.branchOf).toMatchObject({ story: { id: first } });
    expect(deeper.version.snapshot).toMatchObject({ idea_spark: { logline: "Roots" } });

    const annTree = (await server.query(BranchStory, { id: deeper.story.id }, ann.token)).story!.branchTree;
    expect(annTree).toEqual([
      { story: { id: root }, parentId: null, depth: 0 },
      { story: { id: first }, parentId: root, depth: 1 },
      { story: { id: deeper.story.id }, parentId: first, depth: 2 },
      { story: { id: hidden }, parentId: root, depth: 1 },
      { story: { id: deep }, parentId: hidden, depth: 2 },
    ]);
    const catView = (await server.query(BranchStory, { id: deep }, cat.token)).story!;
    expect(catView.branchTree).toEqual([
      { story: { id: root }, parentId: null, depth: 0 },
      { story: { id: first }, parentId: root, depth: 1 },
      { story: { id: deeper.story.id }, parentId: first, depth: 2 },
      { story: { id: deep }, parentId: root, depth: 1 },
    ]);
    expect(JSON.stringify(catView)).not.toContain(hidden);
    expect(catView.branchOf).toEqual({ versionNumber: 1, story: null, version: null });
    expect((await server.query(BranchStory, { id: root }, cat.token)).story!.branches.map((b) => b.id)).toEqual([first]);

    // a branch compared with its own branch: the base is where the younger began
    await write(first, "WORLD_SEED", { setting: "first's world" });
    const { compareBranches } = await server.query(Compare, { a: first, b: deeper.story.id }, ann.token);
    expect(compareBranches.base).toEqual({ storyId: first, versionNumber: 1 });
  });
});

const RetriedBranch = graphql(`
  mutation BranchesRetriedBranch($input: CreateBranchInput!) { createBranch(input: $input) { replayed story { id branchLabel } version { number } } }
`);
const RetriedStory = graphql(`
  mutation BranchesRetriedStory($input: CreateStoryInput!) { createStory(input: $input) { replayed story { id title } version { number } } }
`);

describe("a retried createBranch or createStory (idempotencyKey)", () => {
  const storiesOf = async (who: Writer) => (await server.query(MyStories, {}, who.token)).stories.edges.map((e) => e.node.id);

  it("makes one branch however often it is sent, one after the other or at once, even after the story moved on", async () => {
    const story = await createStory(server, ann.token, "Retried branches");
    const before = await storiesOf(ann);
    const input = { storyId: story, label: "sent twice", idempotencyKey: randomUUID() };
    const first = (await server.query(RetriedBranch, { input }, ann.token)).createBranch;
    expect(first.replayed).toBe(false);
    await write(story, "IDEA_SPARK", { logline: "The story moved on" });
    const again = (await server.query(RetriedBranch, { input }, ann.token)).createBranch;
    expect(again).toEqual({ ...first, replayed: true });

    const atOnce = { storyId: story, label: "sent five times at once", idempotencyKey: randomUUID() };
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => server.query(RetriedBranch, { input: atOnce }, ann.token)));
    expect(new Set(answers.map((a) => a.createBranch.story.id)).size).toBe(1);
    expect(answers.filter((a) => !a.createBranch.replayed)).toHaveLength(1);
    expect((await storiesOf(ann)).filter((id) => !before.includes(id)).sort()).toEqual([first.story.id, answers[0]!.createBranch.story.id].sort());
    // a branch from the key's version 1 each time: the first try's, not the story's later one
    expect(JSON.stringify((await server.query(BranchStory, { id: first.story.id }, ann.token)).story!.activeVersion!.snapshot)).not.toContain("moved on");
  });

  it("refuses the key with another request (BAD_USER_INPUT naming idempotencyKey); another writer's same key is their own", async () => {
    const story = await createStory(server, ann.token, "Keys are the writer's own");
    await invite(story, ben, "EDITOR");
    const key = randomUUID();
    const made = (await server.query(RetriedBranch, { input: { storyId: story, label: "first", idempotencyKey: key } }, ann.token)).createBranch;
    const other = await server.request(RetriedBranch, { input: { storyId: story, label: "another label", idempotencyKey: key } }, ann.token);
    expect(errorCodes(other)).toEqual(["BAD_USER_INPUT"]);
    expect(other.errors![0]!.extensions!.field).toBe("idempotencyKey");
    const asStory = await server.request(RetriedStory, { input: { title: "A story", idempotencyKey: key } }, ann.token);
    expect(errorCodes(asStory)).toEqual(["BAD_USER_INPUT"]);
    const bens = (await server.query(RetriedBranch, { input: { storyId: story, label: "first", idempotencyKey: key } }, ben.token)).createBranch;
    expect(bens.replayed).toBe(false);
    expect(bens.story.id).not.toBe(made.story.id);
    const tooLong = await server.request(RetriedBranch, { input: { storyId: story, label: "x", idempotencyKey: "k".repeat(201) } }, ann.token);
    expect(errorCodes(tooLong)).toEqual(["BAD_USER_INPUT"]);
  });

  it("createStory the same: one story for one key, sent twice and five times at once", async () => {
    const before = await storiesOf(cat);
    const input = { title: "Sent twice", idempotencyKey: randomUUID() };
    const first = (await server.query(RetriedStory, { input }, cat.token)).createStory;
    expect((await server.query(RetriedStory, { input }, cat.token)).createStory).toEqual({ ...first, replayed: true });
    const atOnce = { title: "Sent at once", idempotencyKey: randomUUID() };
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => server.query(RetriedStory, { input: atOnce }, cat.token)));
    expect(new Set(answers.map((a) => a.createStory.story.id)).size).toBe(1);
    expect((await storiesOf(cat)).filter((id) => !before.includes(id))).toHaveLength(2);
    expect(await verifyReadTables(server.db)).toEqual([]);
  });
});

describe("exports, verify and rebuild", () => {
  it("a branch's export carries BranchCreated and is refused by import; a story that merged a branch imports", async () => {
    const story = await createStory(server, ann.token, "Exported");
    await write(story, "IDEA_SPARK", { logline: "One" });
    const branch = (await server.query(CreateBranch, { input: { storyId: story, label: "two" } }, ann.token)).createBranch.story.id;
    await write(branch, "WORLD_SEED", { setting: "Two" });
    await server.query(Merge, { input: { branchId: branch, intoStoryId: story } }, ann.token);

    const branchExport = (await server.query(ExportStory, { id: branch, format: "JSON" }, ann.token)).exportStory;
    const events = (branchExport.data as { events: { type: string; payload: { content?: unknown } }[] }).events;
    expect(events[0]).toMatchObject({ type: "BranchCreated", payload: { content: { idea_spark: { output: { logline: "One" } } } } });
    const refused = await server.request(ImportStory, { input: { data: branchExport.data } }, ann.token);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "data.events[seq 1].type" });

    const storyExport = (await server.query(ExportStory, { id: story, format: "JSON" }, ann.token)).exportStory;
    const { importStory } = await server.query(ImportStory, { input: { data: storyExport.data } }, ann.token);
    expect((await snapshotOf(importStory.story.id)).snapshot).toEqual((await snapshotOf(story)).snapshot);
    const markdown = (await server.query(ExportStory, { id: story, format: "MARKDOWN" }, ann.token)).exportStory.content;
    expect(markdown).toMatch(/Merged version 2 of a branch/);
    expect((await server.query(ExportStory, { id: branch, format: "MARKDOWN" }, ann.token)).exportStory.content).toMatch(/Branch “two” made from version 2/);
  });

  it("verify finds the read tables equal to the fold of the log; rebuild reproduces story_branches row for row", async () => {
    expect(await verifyReadTables(server.db)).toEqual([]);
    const before = await server.db.prisma.storyBranch.findMany({ orderBy: { storyId: "asc" } });
    expect(before.length).toBeGreaterThan(5);
    const rebuilt = await rebuildReadTables(server.db);
    expect(rebuilt.branches).toBe(before.length);
    expect(await server.db.prisma.storyBranch.findMany({ orderBy: { storyId: "asc" } })).toEqual(before);
    expect(await verifyReadTables(server.db)).toEqual([]);
    // a row out of step is found
    await server.db.prisma.storyBranch.update({ where: { storyId: before[0]!.storyId }, data: { branchLabel: "tampered" } });
    expect(await verifyReadTables(server.db)).toEqual([expect.objectContaining({ table: "story_branches", field: "branchLabel", actual: "tampered" })]);
    // and a row without a story's log
    const stray = randomUUID();
    await server.db.prisma.storyBranch.create({
      data: { storyId: stray, branchParentId: before[0]!.branchParentId, parentVersionNumber: 1, branchLabel: "stray", createdBy: before[0]!.createdBy, createdAt: new Date() },
    });
    expect(await verifyReadTables(server.db)).toEqual(
      expect.arrayContaining([expect.objectContaining({ table: "story_branches", rowId: stray, actual: "a row" })]),
    );
    await rebuildReadTables(server.db);
    expect(await verifyReadTables(server.db)).toEqual([]);
    expect(await server.db.prisma.storyBranch.findMany({ orderBy: { storyId: "asc" } })).toEqual(before);
  });
});
