// Writing together (issue 13, items 5 and 6), one rule a line: given these events (each by its
// writer), when this command by this writer, then these events or this refusal.
//
// The undo rule: undo takes back the writer's own latest change that is not undone. When that
// change made the active version, its parent becomes active (Undone, as with one writer). When
// others changed the story since, a new version (ChangeReverted) holds the active content with
// only the modules that change touched as they were before it, provided each still holds what the
// change left there; otherwise UNDO_CONFLICT names who changed them and when, and nothing changes.
// Redo re-applies the writer's latest undone change by the same rule (Redone / ChangeReapplied /
// UNDO_CONFLICT); a new change of the writer's empties their redo stack only.
//
// The conflict rule: a write with `baseVersionNumber` is refused with MODULE_CONFLICT only when a
// module it writes holds other content now than in that version.
import { describe, expect, it } from "vitest";
import { activeVersion, stackOf, type StoryState } from "../../src/domain/story.ts";
import {
  OWNER_ID,
  by,
  changeReapplied,
  changeReverted,
  given,
  moduleCleared,
  moduleWritten,
  redone,
  storyCreated,
  timeOf,
  undone,
  versionRestored,
} from "./storySpecification.ts";

const ANN = OWNER_ID;
const BEN = "writer-2";
const CAT = "writer-3";

const created = storyCreated();
const undo = (actorId: string, baseVersionNumber?: number) => ({ type: "Undo", actorId, ...(baseVersionNumber && { baseVersionNumber }) }) as const;
const redo = (actorId: string) => ({ type: "Redo", actorId }) as const;
const write = (module: "IDEA_SPARK" | "WORLD_SEED" | "PLOT_SKELETON", text: string, baseVersionNumber?: number) =>
  ({ type: "WriteModule", module, output: outputOf(module, text), ...(baseVersionNumber && { baseVersionNumber }) }) as const;

function outputOf(module: string, text: string) {
  return module === "IDEA_SPARK" ? { logline: text } : module === "WORLD_SEED" ? { setting: text } : { structure: text };
}
const idea = (text: string) => outputOf("IDEA_SPARK", text);
const world = (text: string) => outputOf("WORLD_SEED", text);
const plot = (text: string) => outputOf("PLOT_SKELETON", text);

/** The active version's outputs of the three modules the specifications write. */
function content(story: StoryState) {
  const outputs = activeVersion(story).outputs;
  return { idea: outputs.idea_spark, world: outputs.world_seed, plot: outputs.plot_skeleton };
}

describe("undo with two writers", () => {
  it("takes back only the writer's own module when the other wrote since: a new version", () => {
    const story = given([created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's idea"))), by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's world")))])
      .when(undo(ANN))
      .then([changeReverted(2, 4)]);
    expect(content(story)).toEqual({ idea: null, world: world("Ben's world"), plot: null });
    expect(activeVersion(story).parentNumber).toBe(3);
    expect(activeVersion(story).authorId).toBe(ANN);
    expect(stackOf(story.undoStacks, ANN)).toEqual([]);
    expect(stackOf(story.redoStacks, ANN)).toEqual([2]);
    expect(stackOf(story.undoStacks, BEN)).toEqual([3]);
  });

  it("is UNDO_CONFLICT naming who changed the module and when, when the other wrote over it", () => {
    const refusal = given([created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))), by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's")))])
      .when(undo(ANN))
      .thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-2 at .*\) changed since your change \(version 2\)/);
    expect(refusal.extensions).toMatchObject({
      module: "IDEA_SPARK",
      changedBy: { id: BEN },
      changedAt: timeOf(3).toISOString(),
      versionNumber: 3,
      modules: [{ module: "IDEA_SPARK", changedBy: { id: BEN }, changedAt: timeOf(3).toISOString() }],
    });
  });

  it("moves the active version to its parent when the writer's change is the active version, as with one writer", () => {
    const story = given([created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))), by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's")))])
      .when(undo(BEN))
      .then([undone(3, 2)]);
    expect(content(story).idea).toEqual(idea("Ann's"));
    // Ann's own content is back: her undo may take it back, it is hers
    expect(story.moduleUpdatedBy.idea_spark).toBe(BEN);
  });

  it("after the other's undo gave the writer's content back, takes it back by moving to its parent", () => {
    given([
      created,
      by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))),
      by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's"))),
      by(BEN, undone(3, 2)),
    ])
      .when(undo(ANN))
      .then([undone(2, 1)]);
  });

  it("of a writer with no change of their own is NOTHING_TO_UNDO, though the story has versions", () => {
    given([created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's")))])
      .when(undo(BEN))
      .thenRefused("NOTHING_TO_UNDO", "nothing to undo: no change of yours to take back");
  });

  it("counts a clear as the clearing writer's change", () => {
    const history = [created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))), by(BEN, moduleCleared(3, "IDEA_SPARK"))];
    given(history).when(undo(ANN)).thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-2/);
    given(history).when(undo(BEN)).then([undone(3, 2)]);
    given([...history, by(BEN, undone(3, 2))]).when(undo(ANN)).then([undone(2, 1)]);
  });

  it("counts a restore as the restoring writer's change, of the modules it changed", () => {
    const history = [
      created,
      by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))),
      by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's"))),
      by(BEN, versionRestored(1, 4)),
    ];
    given(history).when(undo(ANN)).thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-2/);
    const story = given(history).when(undo(BEN)).then([undone(4, 3)]);
    expect(content(story)).toEqual({ idea: idea("Ann's"), world: world("Ben's"), plot: null });
  });

  it("of a change whose module was changed and changed back since goes through: the module holds what the change left", () => {
    given([
      created,
      by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))),
      by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's"))),
      by(BEN, moduleWritten(4, "IDEA_SPARK", idea("Ben's"))),
      by(BEN, undone(4, 3)),
    ])
      .when(undo(ANN))
      .then([changeReverted(2, 5)]);
  });
});

describe("redo with two writers", () => {
  const annUndidHerIdea = [created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))), by(ANN, undone(2, 1))];

  it("makes the undone version active again when the story is where the undo left it", () => {
    given(annUndidHerIdea).when(redo(ANN)).then([redone(1, 2)]);
  });

  it("re-applies the change as a new version when the other wrote another module since", () => {
    const story = given([...annUndidHerIdea, by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's")))])
      .when(redo(ANN))
      .then([changeReapplied(2, 4)]);
    expect(content(story)).toEqual({ idea: idea("Ann's"), world: world("Ben's"), plot: null });
    expect(stackOf(story.undoStacks, ANN)).toEqual([4]);
    expect(stackOf(story.redoStacks, ANN)).toEqual([]);
    // and undo takes that back again, leaving Ben's world
    const undoneAgain = given([...annUndidHerIdea, by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's"))), by(ANN, changeReapplied(2, 4))])
      .when(undo(ANN))
      .then([undone(4, 3)]);
    expect(content(undoneAgain)).toEqual({ idea: null, world: world("Ben's"), plot: null });
  });

  it("is UNDO_CONFLICT when the other wrote the module since the undo", () => {
    given([...annUndidHerIdea, by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's")))])
      .when(redo(ANN))
      .thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-2 at .*\) changed since your undo \(of version 2\)/);
  });

  it("is emptied for the writer only by the writer's own new change", () => {
    const bothUndid = [
      created,
      by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's"))),
      by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's"))),
      by(ANN, changeReverted(2, 4)),
      by(BEN, changeReverted(3, 5)),
    ];
    const story = given(bothUndid).when(write("PLOT_SKELETON", "Ann's plot")).then([moduleWritten(6, "PLOT_SKELETON", plot("Ann's plot"))]);
    expect(stackOf(story.redoStacks, ANN)).toEqual([]);
    expect(stackOf(story.redoStacks, BEN)).toEqual([3]);
    const afterPlot = [...bothUndid, by(ANN, moduleWritten(6, "PLOT_SKELETON", plot("Ann's plot")))];
    given(afterPlot).when(redo(ANN)).thenRefused("NOTHING_TO_REDO", "nothing to redo");
    const redoneByBen = given(afterPlot).when(redo(BEN)).then([changeReapplied(3, 7)]);
    expect(content(redoneByBen)).toEqual({ idea: null, world: world("Ben's"), plot: plot("Ann's plot") });
  });
});

describe("three writers interleaving", () => {
  const history = [
    created,
    by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's idea"))),
    by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's world"))),
    by(CAT, moduleWritten(4, "IDEA_SPARK", idea("Cat's idea"))),
  ];

  it("each undo takes back only its writer's work, in any order the content allows", () => {
    given(history).when(undo(ANN)).thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-3/);
    const catUndid = given(history).when(undo(CAT)).then([undone(4, 3)]);
    expect(content(catUndid).idea).toEqual(idea("Ann's idea"));

    const annUndid = given([...history, by(CAT, undone(4, 3))]).when(undo(ANN)).then([changeReverted(2, 5)]);
    expect(content(annUndid)).toEqual({ idea: null, world: world("Ben's world"), plot: null });

    const benUndid = given([...history, by(CAT, undone(4, 3)), by(ANN, changeReverted(2, 5))])
      .when(undo(BEN))
      .then([changeReverted(3, 6)]);
    expect(content(benUndid)).toEqual({ idea: null, world: null, plot: null });
  });

  it("a redo waits for the writer whose work is in the way, then goes through", () => {
    const catUndid = [...history, by(CAT, undone(4, 3))];
    const annWroteAgain = [...catUndid, by(ANN, moduleWritten(5, "IDEA_SPARK", idea("Ann's second")))];
    given(annWroteAgain).when(redo(CAT)).thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-1/);
    const annTookItBack = [...annWroteAgain, by(ANN, undone(5, 3))];
    const story = given(annTookItBack).when(redo(CAT)).then([redone(3, 4)]);
    expect(content(story)).toEqual({ idea: idea("Cat's idea"), world: world("Ben's world"), plot: null });
  });

  it("a restore by one, then undo by each: only the restorer's undo moves the story, even where the restore brought back another's content", () => {
    // Ben restores version 2: Ann's idea comes back over Cat's, and his own world goes
    const restored = [...history, by(BEN, versionRestored(2, 5))];
    given(restored).when(undo(CAT)).thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-2/);
    given(restored).when(undo(ANN)).thenRefused("UNDO_CONFLICT", /IDEA_SPARK \(by writer-2/);
    const story = given(restored).when(undo(BEN)).then([undone(5, 4)]);
    expect(content(story)).toEqual({ idea: idea("Cat's idea"), world: world("Ben's world"), plot: null });
  });

  it("an undo that gives a module back to its writer is no change of the module: that writer's undo then goes through", () => {
    // Cat overwrote Ann's idea and took it back: the idea is Ann's again, as she left it
    const story = given([...history, by(CAT, undone(4, 3)), by(BEN, moduleWritten(5, "PLOT_SKELETON", plot("Ben's plot")))])
      .when(undo(ANN))
      .then([changeReverted(2, 6)]);
    expect(content(story)).toEqual({ idea: null, world: world("Ben's world"), plot: plot("Ben's plot") });
    expect(activeVersion(story).writtenIn).toEqual({ idea_spark: 1, world_seed: 3, character_forge: 1, plot_skeleton: 5, wordsmith_lab: 1 });
  });
});

describe("baseVersionNumber", () => {
  const annWrote = [created, by(ANN, moduleWritten(2, "IDEA_SPARK", idea("Ann's")))];

  it("two writers on different modules from the same base both go through, though the story moved on", () => {
    const benWrote = given(annWrote).when(write("WORLD_SEED", "Ben's", 2), BEN).then([moduleWritten(3, "WORLD_SEED", world("Ben's"))]);
    expect(benWrote.revision).toBe(3);
    given([...annWrote, by(BEN, moduleWritten(3, "WORLD_SEED", world("Ben's")))])
      .when(write("PLOT_SKELETON", "Ann's", 2))
      .then([moduleWritten(4, "PLOT_SKELETON", plot("Ann's"))]);
  });

  it("a write to a module changed after the base is MODULE_CONFLICT, saying who changed it, when, and the version now", () => {
    const refusal = given([...annWrote, by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's")))])
      .when(write("IDEA_SPARK", "Ann's again", 2))
      .thenRefused("MODULE_CONFLICT", /^IDEA_SPARK \(by writer-2 at .*\) changed after version 2$/);
    expect(refusal.extensions).toMatchObject({
      module: "IDEA_SPARK",
      changedBy: { id: BEN },
      changedAt: timeOf(3).toISOString(),
      versionNumber: 3,
      baseVersionNumber: 2,
    });
  });

  it("one writer's own stale base on the same module conflicts too; on another module it goes through", () => {
    given(annWrote).when(write("IDEA_SPARK", "again", 1)).thenRefused("MODULE_CONFLICT", /IDEA_SPARK \(by writer-1 .*\) changed after version 1/);
    given(annWrote).when(write("WORLD_SEED", "a world", 1)).then([moduleWritten(3, "WORLD_SEED", world("a world"))]);
  });

  it("a module changed and changed back since the base holds what the writer saw: the write goes through", () => {
    given([...annWrote, by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's"))), by(BEN, undone(3, 2))])
      .when(write("IDEA_SPARK", "Ann's again", 2))
      .then([moduleWritten(4, "IDEA_SPARK", idea("Ann's again"))]);
  });

  it("clear, restore and undo are held to it on the modules they would change", () => {
    const benWrote = [...annWrote, by(BEN, moduleWritten(3, "IDEA_SPARK", idea("Ben's")))];
    given(benWrote).when({ type: "ClearModule", module: "IDEA_SPARK", baseVersionNumber: 2 }).thenRefused("MODULE_CONFLICT", /IDEA_SPARK/);
    given(benWrote).when({ type: "ClearModule", module: "WORLD_SEED", baseVersionNumber: 2 }).then([moduleCleared(4, "WORLD_SEED")]);
    given(benWrote).when({ type: "RestoreVersion", number: 1, baseVersionNumber: 2 }).thenRefused("MODULE_CONFLICT", /IDEA_SPARK/);
    given(benWrote).when({ type: "RestoreVersion", number: 1, baseVersionNumber: 3 }, BEN).then([versionRestored(1, 4)]);
    given(benWrote).when(undo(BEN, 2)).thenRefused("MODULE_CONFLICT", /IDEA_SPARK/);
    given(benWrote).when(undo(BEN, 3)).then([undone(3, 2)]);
  });

  it("a base that is no version is NOT_FOUND, naming the field", () => {
    const refusal = given(annWrote).when(write("IDEA_SPARK", "x", 9)).thenRefused("NOT_FOUND", "version 9 not found");
    expect(refusal.extensions).toEqual({ field: "baseVersionNumber" });
  });
});
