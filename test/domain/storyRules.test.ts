// The story's rules (API.md §3), one line each: given these events, when this command, then these events or this refusal.
import { describe, expect, it } from "vitest";
import { activeVersion } from "../../src/domain/story.ts";
import {
  OWNER_ID,
  given,
  moduleCleared,
  moduleWritten,
  redone,
  storyCreated,
  storyDetailsChanged,
  undone,
  versionLabeled,
  versionRestored,
} from "./storySpecification.ts";

const created = storyCreated();
const spark = (logline: string) => ({ logline });

describe("createStory", () => {
  const create = (title: string, logline: string | null = null, genre: string | null = null) =>
    ({ type: "CreateStory", ownerId: OWNER_ID, title, logline, genre }) as const;

  it("makes version 1, all five modules empty", () => {
    const story = given([]).when(create("The Lighthouse")).then([created]);
    expect(story.activeVersionNumber).toBe(1);
    expect(Object.values(activeVersion(story).outputs)).toEqual([null, null, null, null, null]);
  });

  it("trims the title and keeps logline and genre as given", () => {
    given([])
      .when(create("  The Lighthouse \n", "A keeper bargains with the sea.", "fantasy"))
      .then([storyCreated({ logline: "A keeper bargains with the sea.", genre: "fantasy" })]);
  });

  it("twice is refused: the story already exists", () => {
    given([created]).when(create("Again")).thenRefused("BAD_USER_INPUT", "story already exists");
  });

  it("with an empty title is refused", () => {
    given([]).when(create("   ")).thenRefused("BAD_USER_INPUT", "title: must not be empty");
  });

  it("with a title over 200 characters is refused", () => {
    given([]).when(create("t".repeat(201))).thenRefused("BAD_USER_INPUT", "title: must be at most 200 characters");
  });

  it("with a logline over 1,000 or a genre over 100 characters is refused", () => {
    given([]).when(create("T", "l".repeat(1_001))).thenRefused("BAD_USER_INPUT", "logline: must be at most 1000 characters");
    given([]).when(create("T", null, "g".repeat(101))).thenRefused("BAD_USER_INPUT", "genre: must be at most 100 characters");
  });

  it("with a NUL character is refused, naming the field", () => {
    given([]).when(create("The\0Lighthouse")).thenRefused("BAD_USER_INPUT", /^title: must not contain NUL/);
  });
});

describe("a story that does not exist", () => {
  it("refuses every other command with NOT_FOUND", () => {
    given([]).when({ type: "Undo" }).thenRefused("NOT_FOUND", "story not found");
    given([]).when({ type: "WriteModule", module: "IDEA_SPARK", output: {} }).thenRefused("NOT_FOUND", "story not found");
    given([]).when({ type: "ChangeStoryDetails", details: { title: "T" } }).thenRefused("NOT_FOUND", "story not found");
  });
});

describe("updateStory", () => {
  it("changes only the details given, and makes no new version", () => {
    const story = given([created])
      .when({ type: "ChangeStoryDetails", details: { genre: "gothic", isComplete: true } })
      .then([storyDetailsChanged({ genre: "gothic", isComplete: true })]);
    expect(story).toMatchObject({ title: "The Lighthouse", genre: "gothic", isComplete: true, activeVersionNumber: 1 });
    expect(story.versions.latestNumber).toBe(1);
  });

  it("clears the logline with null", () => {
    const story = given([storyCreated({ logline: "Old." })])
      .when({ type: "ChangeStoryDetails", details: { logline: null } })
      .then([storyDetailsChanged({ logline: null })]);
    expect(story.logline).toBeNull();
  });

  it("without any change is refused", () => {
    given([created]).when({ type: "ChangeStoryDetails", details: {} }).thenRefused("BAD_USER_INPUT", /^input: nothing to change/);
  });

  it("with an empty title is refused", () => {
    given([created]).when({ type: "ChangeStoryDetails", details: { title: " " } }).thenRefused("BAD_USER_INPUT", "title: must not be empty");
  });
});

describe("writeModule", () => {
  it("makes a new version, child of the active one, with the module's output and input text", () => {
    const story = given([created])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: spark("A"), inputText: "notes" })
      .then([moduleWritten(2, "IDEA_SPARK", spark("A"), "notes")]);
    const version = activeVersion(story);
    expect(version).toMatchObject({ number: 2, parentNumber: 1 });
    expect(version.outputs.idea_spark).toEqual(spark("A"));
    expect(version.inputs.idea_spark).toBe("notes");
  });

  it("keeps the other modules as they were", () => {
    const story = given([created, moduleWritten(2, "IDEA_SPARK", spark("A"), "notes")])
      .when({ type: "WriteModule", module: "WORLD_SEED", output: { tone: "salt" } })
      .then([moduleWritten(3, "WORLD_SEED", { tone: "salt" })]);
    expect(activeVersion(story).outputs).toMatchObject({ idea_spark: spark("A"), world_seed: { tone: "salt" } });
    expect(activeVersion(story).inputs.idea_spark).toBe("notes");
  });

  it("keeps the module's input text when inputText is omitted", () => {
    given([created, moduleWritten(2, "IDEA_SPARK", spark("A"), "notes")])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: spark("B") })
      .then([moduleWritten(3, "IDEA_SPARK", spark("B"), "notes")]);
  });

  it("clears the module's input text when inputText is null", () => {
    given([created, moduleWritten(2, "IDEA_SPARK", spark("A"), "notes")])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: spark("B"), inputText: null })
      .then([moduleWritten(3, "IDEA_SPARK", spark("B"), null)]);
  });

  it("numbers the new version after the highest, even when an older version is active", () => {
    const story = given([created, moduleWritten(2, "IDEA_SPARK", spark("A")), undone(2, 1)])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: spark("B") })
      .then([moduleWritten(3, "IDEA_SPARK", spark("B"))]);
    expect(activeVersion(story).parentNumber).toBe(1);
  });

  it("by an AI generation carries the generation", () => {
    const generation = { id: "generation-1", model: "gpt-4o-mini", promptVersion: "1" };
    const story = given([created])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: spark("A"), generation })
      .then([moduleWritten(2, "IDEA_SPARK", spark("A"), null, generation)]);
    expect(activeVersion(story).generationId).toBe("generation-1");
  });

  it("accepts a partial output: any subset of the module's fields, at every level", () => {
    const output = { characters: [{ name: "Mara", role: "protagonist" }, { flaw: "pride" }] };
    given([created])
      .when({ type: "WriteModule", module: "CHARACTER_FORGE", output })
      .then([moduleWritten(2, "CHARACTER_FORGE", output)]);
  });

  it("keeps fields of the writer's own, at every level", () => {
    const output = { structure: "three-act", beats: [{ summary: "The storm.", mood: "dread" }], working_title: "Tide" };
    given([created])
      .when({ type: "WriteModule", module: "PLOT_SKELETON", output })
      .then([moduleWritten(2, "PLOT_SKELETON", output)]);
  });

  it("of an unknown module is refused", () => {
    given([created]).when({ type: "WriteModule", module: "PLOT_TWISTER", output: {} }).thenRefused("BAD_USER_INPUT", /^module: unknown module/);
  });

  it("with an output that is not a JSON object is refused", () => {
    for (const output of [null, "text", ["a"], 3]) {
      given([created]).when({ type: "WriteModule", module: "IDEA_SPARK", output }).thenRefused("BAD_USER_INPUT", "output: must be a JSON object");
    }
  });

  it("with a field of the wrong type is refused, naming its path", () => {
    given([created]).when({ type: "WriteModule", module: "IDEA_SPARK", output: { logline: 42 } }).thenRefused("BAD_USER_INPUT", /^output\.logline: /);
    given([created])
      .when({ type: "WriteModule", module: "CHARACTER_FORGE", output: { characters: [{ name: "Mara" }, { name: 7 }] } })
      .thenRefused("BAD_USER_INPUT", /^output\.characters\.1\.name: .*expected string/);
  });

  it("with an output over 200 KB is refused", () => {
    given([created])
      .when({ type: "WriteModule", module: "WORDSMITH_LAB", output: { notes: "x".repeat(210 * 1024) } })
      .thenRefused("BAD_USER_INPUT", "output: must be at most 204800 bytes of JSON");
  });

  it("with an output nested deeper than 64 levels is refused", () => {
    let deep: object = {};
    for (let i = 0; i < 70; i++) deep = { deeper: deep };
    given([created])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: deep })
      .thenRefused("BAD_USER_INPUT", /^output: JSON must not nest deeper/);
  });

  it("with a NUL character inside the output is refused, naming its path", () => {
    given([created])
      .when({ type: "WriteModule", module: "WORLD_SEED", output: { locations: [{ name: "Quay\0" }] } })
      .thenRefused("BAD_USER_INPUT", /^output\.locations\.0\.name: must not contain NUL/);
  });

  it("with input text over 100 KB is refused", () => {
    given([created])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: {}, inputText: "y".repeat(101 * 1024) })
      .thenRefused("BAD_USER_INPUT", "inputText: must be at most 102400 bytes");
  });
});

describe("clearModule", () => {
  it("makes a new version with the module's output and input text emptied", () => {
    const story = given([created, moduleWritten(2, "IDEA_SPARK", spark("A"), "notes"), moduleWritten(3, "WORLD_SEED", { tone: "salt" })])
      .when({ type: "ClearModule", module: "IDEA_SPARK" })
      .then([moduleCleared(4, "IDEA_SPARK")]);
    const version = activeVersion(story);
    expect(version).toMatchObject({ number: 4, parentNumber: 3 });
    expect(version.outputs).toMatchObject({ idea_spark: null, world_seed: { tone: "salt" } });
    expect(version.inputs.idea_spark).toBeNull();
  });

  it("leaves no input text for the next write to keep", () => {
    given([created, moduleWritten(2, "IDEA_SPARK", spark("A"), "notes"), moduleCleared(3, "IDEA_SPARK")])
      .when({ type: "WriteModule", module: "IDEA_SPARK", output: spark("B") })
      .then([moduleWritten(4, "IDEA_SPARK", spark("B"), null)]);
  });

  it("of an unknown module is refused", () => {
    given([created]).when({ type: "ClearModule", module: "idea-spark" }).thenRefused("BAD_USER_INPUT", /^module: unknown module/);
  });
});

describe("undo", () => {
  it("at version 1 is refused with NOTHING_TO_UNDO", () => {
    given([created]).when({ type: "Undo" }).thenRefused("NOTHING_TO_UNDO", /nothing to undo/);
  });

  it("back at version 1 is refused with NOTHING_TO_UNDO", () => {
    given([created, moduleWritten(2, "IDEA_SPARK", spark("A")), undone(2, 1)])
      .when({ type: "Undo" })
      .thenRefused("NOTHING_TO_UNDO", /nothing to undo/);
  });

  it("makes the active version's parent active, with no new version", () => {
    const story = given([created, moduleWritten(2, "IDEA_SPARK", spark("A"))]).when({ type: "Undo" }).then([undone(2, 1)]);
    expect(story.activeVersionNumber).toBe(1);
    expect(story.versions.latestNumber).toBe(2);
    expect(activeVersion(story).outputs.idea_spark).toBeNull();
  });

  it("goes to the parent, not to the version numbered one less", () => {
    // version 3 was written on top of version 1, after an undo
    given([created, moduleWritten(2, "IDEA_SPARK", spark("A")), undone(2, 1), moduleWritten(3, "IDEA_SPARK", spark("B"))])
      .when({ type: "Undo" })
      .then([undone(3, 1)]);
  });
});

describe("redo", () => {
  const twoWrites = [created, moduleWritten(2, "IDEA_SPARK", spark("A")), moduleWritten(3, "IDEA_SPARK", spark("B"))];

  it("with nothing undone is refused with NOTHING_TO_REDO", () => {
    given(twoWrites).when({ type: "Redo" }).thenRefused("NOTHING_TO_REDO", "nothing to redo");
  });

  it("makes active again the version the latest undo left", () => {
    const story = given([...twoWrites, undone(3, 2)]).when({ type: "Redo" }).then([redone(2, 3)]);
    expect(activeVersion(story).outputs.idea_spark).toEqual(spark("B"));
  });

  it("after two undos, re-applies them in reverse order", () => {
    given([...twoWrites, undone(3, 2), undone(2, 1)]).when({ type: "Redo" }).then([redone(1, 2)]);
    given([...twoWrites, undone(3, 2), undone(2, 1), redone(1, 2)]).when({ type: "Redo" }).then([redone(2, 3)]);
  });

  it("after everything undone was redone is refused with NOTHING_TO_REDO", () => {
    given([...twoWrites, undone(3, 2), redone(2, 3)]).when({ type: "Redo" }).thenRefused("NOTHING_TO_REDO", "nothing to redo");
  });

  it("after a new version is refused with NOTHING_TO_REDO: a new version clears what can be redone", () => {
    given([...twoWrites, undone(3, 2), undone(2, 1), moduleWritten(4, "WORLD_SEED", { tone: "salt" })])
      .when({ type: "Redo" })
      .thenRefused("NOTHING_TO_REDO", "nothing to redo");
    given([...twoWrites, undone(3, 2), moduleCleared(4, "IDEA_SPARK")]).when({ type: "Redo" }).thenRefused("NOTHING_TO_REDO", "nothing to redo");
    given([...twoWrites, undone(3, 2), versionRestored(1, 4)]).when({ type: "Redo" }).thenRefused("NOTHING_TO_REDO", "nothing to redo");
  });

  it("is not cleared by changing details or labels, which make no version", () => {
    given([...twoWrites, undone(3, 2), storyDetailsChanged({ genre: "gothic" }), versionLabeled(2, "draft")])
      .when({ type: "Redo" })
      .then([redone(2, 3)]);
  });

  it("undo n times then redo n times returns exactly to where the story started", () => {
    const written = [created, moduleWritten(2, "IDEA_SPARK", spark("A"))];
    const start = given(written)
      .when({ type: "WriteModule", module: "WORLD_SEED", output: { tone: "salt" }, inputText: "sea" })
      .then([moduleWritten(3, "WORLD_SEED", { tone: "salt" }, "sea")]);
    const end = given([...written, moduleWritten(3, "WORLD_SEED", { tone: "salt" }, "sea"), undone(3, 2), undone(2, 1), redone(1, 2)])
      .when({ type: "Redo" })
      .then([redone(2, 3)]);
    expect(end.activeVersionNumber).toBe(start.activeVersionNumber);
    expect(activeVersion(end)).toEqual(activeVersion(start));
    expect(end.redo).toEqual(start.redo);
  });
});

describe("restoreVersion", () => {
  const history = [created, moduleWritten(2, "IDEA_SPARK", spark("A"), "notes"), moduleWritten(3, "IDEA_SPARK", spark("B"))];

  it("makes a new version whose content equals the restored one's, child of the active one", () => {
    const story = given(history).when({ type: "RestoreVersion", number: 2 }).then([versionRestored(2, 4)]);
    const version = activeVersion(story);
    expect(version).toMatchObject({ number: 4, parentNumber: 3, generationId: null });
    expect(version.outputs).toEqual(story.versions.get(2)!.outputs);
    expect(version.inputs).toEqual(story.versions.get(2)!.inputs);
  });

  it("keeps every version readable: undo goes back to the one before the restore", () => {
    given([...history, versionRestored(2, 4)]).when({ type: "Undo" }).then([undone(4, 3)]);
  });

  it("of a missing version is refused with NOT_FOUND", () => {
    given(history).when({ type: "RestoreVersion", number: 99 }).thenRefused("NOT_FOUND", "version 99 not found");
    given(history).when({ type: "RestoreVersion", number: 0 }).thenRefused("NOT_FOUND", "version 0 not found");
    given(history).when({ type: "RestoreVersion", number: 1.5 }).thenRefused("NOT_FOUND", "version 1.5 not found");
  });
});

describe("labelVersion", () => {
  const history = [created, moduleWritten(2, "IDEA_SPARK", spark("A"))];

  it("sets a label, trimmed, with no new version", () => {
    const story = given(history).when({ type: "LabelVersion", number: 1, label: "  first draft " }).then([versionLabeled(1, "first draft")]);
    expect(story.labels.get(1)).toBe("first draft");
    expect(story.versions.latestNumber).toBe(2);
  });

  it("changes a label", () => {
    const story = given([...history, versionLabeled(1, "first draft")])
      .when({ type: "LabelVersion", number: 1, label: "opening" })
      .then([versionLabeled(1, "opening")]);
    expect(story.labels.get(1)).toBe("opening");
  });

  it("clears a label with null or blank text", () => {
    const labeled = [...history, versionLabeled(1, "first draft")];
    expect(given(labeled).when({ type: "LabelVersion", number: 1, label: null }).then([versionLabeled(1, null)]).labels.has(1)).toBe(false);
    given(labeled).when({ type: "LabelVersion", number: 1, label: "   " }).then([versionLabeled(1, null)]);
  });

  it("of a missing version is refused with NOT_FOUND", () => {
    given(history).when({ type: "LabelVersion", number: 3, label: "later" }).thenRefused("NOT_FOUND", "version 3 not found");
  });

  it("over 100 characters is refused", () => {
    given(history)
      .when({ type: "LabelVersion", number: 1, label: "l".repeat(101) })
      .thenRefused("BAD_USER_INPUT", "label: must be at most 100 characters");
  });

  it("with a NUL character is refused", () => {
    given(history).when({ type: "LabelVersion", number: 1, label: "a\0b" }).thenRefused("BAD_USER_INPUT", /^label: must not contain NUL/);
  });
});
