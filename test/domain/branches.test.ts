// Branches and merges (issue 14, items 1 and 3), one rule a line: given these events, when this
// command, then these events or this refusal.
//
// A branch is a story whose log begins with BranchCreated instead of StoryCreated: its version 1
// holds the parent version's content (whole, in the event) and cannot be undone; its members are
// the parent's, the creator its owner and the parent's owner an editor. A merge is one new
// version (BranchMerged) with the modules it changes written whole: undo and redo treat it as any
// change, and a merge computed on a version whose modules it writes changed since is refused.
import { describe, expect, it } from "vitest";
import { MODULES, type JsonObject, type SnapshotKey } from "../../src/domain/catalogue.ts";
import { activeVersion, stackOf, type BranchContent, type StoryState } from "../../src/domain/story.ts";
import { mergeModule } from "../../src/domain/merge.ts";
import { OWNER_ID, branchCreated, branchMerged, by, given, moduleWritten, redone, storyCreated, undone } from "./storySpecification.ts";

const ANN = OWNER_ID;
const BEN = "writer-2";
const CAT = "writer-3";
const PARENT = { storyId: "parent-story", versionNumber: 4, versionId: "parent-version-4" };

const idea = (logline: string): JsonObject => ({ logline });
const world = (setting: string): JsonObject => ({ setting });

function contentWith(entries: Partial<Record<SnapshotKey, { output: JsonObject | null; inputText: string | null }>>): BranchContent {
  return Object.fromEntries(MODULES.map((m) => [m.snapshotKey, entries[m.snapshotKey] ?? { output: null, inputText: null }])) as unknown as BranchContent;
}
const CONTENT = contentWith({ idea_spark: { output: idea("A keeper"), inputText: "notes" }, world_seed: { output: world("A rock"), inputText: null } });

const createBranch = (members: { userId: string; role: "owner" | "editor" | "commenter" | "viewer" }[], parentOwnerId = BEN) =>
  ({
    type: "CreateBranch",
    ownerId: ANN,
    label: "  the mentor dies  ",
    parent: PARENT,
    title: "The Lighthouse",
    logline: null,
    genre: "mystery",
    parentOwnerId,
    content: CONTENT,
    members,
  }) as const;

function outputs(story: StoryState) {
  const v = activeVersion(story);
  return { idea: v.outputs.idea_spark, world: v.outputs.world_seed, ideaInput: v.inputs.idea_spark };
}

describe("a branch", () => {
  const members = [
    { userId: BEN, role: "owner" as const },
    { userId: ANN, role: "editor" as const },
    { userId: CAT, role: "viewer" as const },
  ];
  const created = branchCreated({
    ownerId: ANN,
    title: "The Lighthouse",
    logline: null,
    genre: "mystery",
    label: "the mentor dies",
    parent: PARENT,
    content: CONTENT,
    members: [
      { userId: ANN, role: "owner" },
      { userId: BEN, role: "editor" },
      { userId: CAT, role: "viewer" },
    ],
  });

  it("begins with BranchCreated: the parent version's content as version 1, the members copied, the creator the owner", () => {
    const story = given([]).when(createBranch(members)).then([created]);
    expect(story.exists).toBe(true);
    expect(story.ownerId).toBe(ANN);
    expect(story.activeVersionNumber).toBe(1);
    expect(outputs(story)).toEqual({ idea: idea("A keeper"), world: world("A rock"), ideaInput: "notes" });
    expect(Object.fromEntries(story.members)).toEqual({ [ANN]: "owner", [BEN]: "editor", [CAT]: "viewer" });
    expect(story.branchOf).toMatchObject({ ...PARENT, label: "the mentor dies", createdBy: ANN });
  });

  it("makes the parent's owner an editor even when the creator was not a member list entry", () => {
    given([])
      .when(createBranch([{ userId: BEN, role: "owner" }]))
      .then([{ ...created, payload: { ...(created.payload as object), members: [{ userId: ANN, role: "owner" }, { userId: BEN, role: "editor" }] } } as never]);
  });

  it("has nothing to undo at version 1, like a new story", () => {
    given([created]).when({ type: "Undo", actorId: ANN }).thenRefused("NOTHING_TO_UNDO", /first version/);
  });

  it("is written, undone and redone like any story", () => {
    const story = given([created, moduleWritten(2, "IDEA_SPARK", idea("Another keeper"))]).when({ type: "Undo", actorId: ANN }).then([undone(2, 1)]);
    expect(outputs(story).idea).toEqual(idea("A keeper"));
  });

  it("needs a label", () => {
    given([]).when({ ...createBranch(members), label: "   " }).thenRefused("BAD_USER_INPUT", /label: must not be empty/);
  });

  it("can't be made over a story that exists", () => {
    given([storyCreated()]).when(createBranch(members)).thenRefused("BAD_USER_INPUT", /already exists/);
  });
});

describe("a merge", () => {
  const history = [storyCreated(), moduleWritten(2, "IDEA_SPARK", idea("Ours")), moduleWritten(3, "WORLD_SEED", world("Our rock"))];
  const branch = { storyId: "branch-story", versionNumber: 5 };
  const base = { storyId: "story-1", versionNumber: 2 };
  const merge = (modules: { module: string; output: unknown; inputText: string | null }[], baseVersionNumber = 3) =>
    ({ type: "MergeBranch", branch, base, modules, baseVersionNumber }) as const;

  it("is one new version with the modules it changes, on the merging writer's undo stack", () => {
    const story = given(history)
      .when(merge([{ module: "IDEA_SPARK", output: idea("Theirs"), inputText: "their notes" }]))
      .then([branchMerged(4, { branch, base, modules: [{ module: "IDEA_SPARK", output: idea("Theirs"), inputText: "their notes" }] })]);
    expect(story.activeVersionNumber).toBe(4);
    expect(outputs(story)).toEqual({ idea: idea("Theirs"), world: world("Our rock"), ideaInput: "their notes" });
    expect(stackOf(story.undoStacks, ANN)).toContain(4);
  });

  it("records even a merge that changes nothing: a version like its parent", () => {
    const story = given(history).when(merge([])).then([branchMerged(4, { branch, base, modules: [] })]);
    expect(outputs(story)).toEqual({ idea: idea("Ours"), world: world("Our rock"), ideaInput: null });
  });

  it("is undone back to the target exactly, and redone", () => {
    const modules = [{ module: "IDEA_SPARK" as const, output: idea("Theirs"), inputText: "their notes" }, { module: "WORLD_SEED" as const, output: null, inputText: null }];
    const merged = branchMerged(4, { branch, base, modules });
    const undoneStory = given([...history, merged]).when({ type: "Undo", actorId: ANN }).then([undone(4, 3)]);
    expect(undoneStory.activeVersionNumber).toBe(3);
    expect(outputs(undoneStory)).toEqual({ idea: idea("Ours"), world: world("Our rock"), ideaInput: null });
    expect(activeVersion(undoneStory).inputs).toEqual(Object.fromEntries(MODULES.map((m) => [m.snapshotKey, null])));
    const redoneStory = given([...history, merged, undone(4, 3)]).when({ type: "Redo", actorId: ANN }).then([redone(3, 4)]);
    expect(outputs(redoneStory)).toEqual({ idea: idea("Theirs"), world: null, ideaInput: "their notes" });
  });

  it("taken back by the merging writer only: another writer's undo leaves it", () => {
    const merged = by(BEN, branchMerged(4, { branch, base, modules: [{ module: "IDEA_SPARK", output: idea("Theirs"), inputText: null }] }));
    given([...history, merged]).when({ type: "Undo", actorId: CAT }).thenRefused("NOTHING_TO_UNDO", /no change of yours/);
  });

  it("is refused when a module it writes changed after the version it was computed on", () => {
    const refusal = given([...history, by(BEN, moduleWritten(4, "IDEA_SPARK", idea("Ben's")))])
      .when(merge([{ module: "IDEA_SPARK", output: idea("Theirs"), inputText: null }], 3))
      .thenRefused("MODULE_CONFLICT", /IDEA_SPARK.*changed after version 3/);
    expect(refusal.extensions.module).toBe("IDEA_SPARK");
  });

  it("goes ahead when only other modules changed since", () => {
    given([...history, by(BEN, moduleWritten(4, "WORLD_SEED", world("Ben's rock")))])
      .when(merge([{ module: "IDEA_SPARK", output: idea("Theirs"), inputText: null }], 3))
      .then([branchMerged(5, { branch, base, modules: [{ module: "IDEA_SPARK", output: idea("Theirs"), inputText: null }] })]);
  });

  it("refuses merged output that does not fit its module, naming the module", () => {
    const themes = Array.from({ length: 13 }, (_, i) => `theme ${i}`);
    const refusal = given(history)
      .when(merge([{ module: "IDEA_SPARK", output: { themes }, inputText: null }]))
      .thenRefused("BAD_USER_INPUT", /Idea Spark/);
    expect(refusal.extensions.field).toBe("IDEA_SPARK.output.themes");
  });
});


// Alternate drafts (item 4): generateModule with `alternatives` makes each draft a branch of the
// story's version, written by one generated ModuleWritten; the writer merges the one they like.
describe("alternate drafts", () => {
  const storyHistory = [storyCreated(), moduleWritten(2, "IDEA_SPARK", idea("Ours")), moduleWritten(3, "WORLD_SEED", world("Our rock"))];
  const story = given(storyHistory).state;
  const atVersion3 = contentWith({ idea_spark: { output: idea("Ours"), inputText: null }, world_seed: { output: world("Our rock"), inputText: null } });
  const draft = (n: number, logline: string) =>
    given([
      branchCreated({ ownerId: ANN, title: "The Lighthouse", logline: null, genre: null, label: `Idea Spark draft ${n} of 2 (gpt-4o-mini)`,
        parent: { storyId: story.id, versionNumber: 3, versionId: activeVersion(story).id }, content: atVersion3, members: [{ userId: ANN, role: "owner" }] }),
      moduleWritten(2, "IDEA_SPARK", idea(logline), "the sea", { id: `generation-${n}`, model: "gpt-4o-mini", promptVersion: "1" }),
    ]).state;
  const drafts = [draft(1, "A keeper bargains with the sea."), draft(2, "A town forgets its drowned.")];
  const sides = (of: StoryState, key: SnapshotKey) => {
    const v = activeVersion(of);
    return { output: v.outputs[key] as JsonObject | null, inputText: v.inputs[key] };
  };

  it("each is a branch of the story's version holding one generated version of the module, the rest as the story has it", () => {
    for (const [i, d] of drafts.entries()) {
      expect(d.branchOf).toMatchObject({ storyId: story.id, versionNumber: 3, label: `Idea Spark draft ${i + 1} of 2 (gpt-4o-mini)` });
      expect(activeVersion(d)).toMatchObject({ number: 2, generationId: `generation-${i + 1}` });
      expect(sides(d, "world_seed")).toEqual(sides(story, "world_seed"));
    }
  });

  it("merging the one the writer likes takes its draft of the module and nothing else", () => {
    const base = { output: idea("Ours"), inputText: null };
    const chosen = drafts[1]!;
    const ideaMerge = mergeModule(base, sides(story, "idea_spark"), sides(chosen, "idea_spark"));
    expect(ideaMerge.status).toBe("THEIRS");
    expect(mergeModule(sides(story, "world_seed"), sides(story, "world_seed"), sides(chosen, "world_seed")).status).toBe("UNCHANGED");
    const merged = given(storyHistory)
      .when({ type: "MergeBranch", branch: { storyId: "draft-2", versionNumber: 2 }, base: { storyId: story.id, versionNumber: 3 }, modules: [{ module: "IDEA_SPARK", ...ideaMerge.merged }], baseVersionNumber: 3 })
      .then([branchMerged(4, { branch: { storyId: "draft-2", versionNumber: 2 }, base: { storyId: story.id, versionNumber: 3 }, modules: [{ module: "IDEA_SPARK", output: idea("A town forgets its drowned."), inputText: "the sea" }] })]);
    expect(outputs(merged)).toEqual({ idea: idea("A town forgets its drowned."), world: world("Our rock"), ideaInput: "the sea" });

    // the other draft, merged after, conflicts with the one taken: the writer chooses
    const other = mergeModule(base, sides(merged, "idea_spark"), sides(drafts[0]!, "idea_spark"));
    expect(other.status).toBe("CONFLICT");
    expect(other.conflicts.map((c) => c.path)).toEqual(["output.logline"]);
  });
});
