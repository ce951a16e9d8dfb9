// The three-way merge of one module (issue 14), one rule a line: given the base (the fork
// version's content), when ours and theirs are so, then this outcome, merged content and conflicts.
// Then resolutions, a module as large as the schemas allow, and random histories checked against
// the properties every merge must have.
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/domain/catalogue.ts";
import { StorySparkError } from "../../src/domain/errors.ts";
import { jsonEqual } from "../../src/domain/json.ts";
import {
  mergeModule,
  resolveModule,
  type MergeConflict,
  type MergeResolution,
  type MergeStatus,
  type ModuleContent,
  type ModuleMerge,
} from "../../src/domain/merge.ts";

/** A module's content: its output, and the writer's input text (none unless given). */
const content = (output: JsonObject | null, inputText: string | null = null): ModuleContent => ({ output, inputText });

function given(base: ModuleContent) {
  return {
    when(ours: ModuleContent, theirs: ModuleContent) {
      const merge = mergeModule(base, ours, theirs);
      return {
        /** The outcome, the merged content and the conflicts (none unless given); answers the merge. */
        then(status: MergeStatus, merged: ModuleContent, conflicts: readonly MergeConflict[] = []): ModuleMerge {
          expect(merge).toEqual({ status, merged, conflicts });
          return merge;
        },
      };
    },
  };
}

const lines = (...texts: string[]) => texts.map((text) => `${text}\n`).join("");

describe("a module's outcome", () => {
  const base = content({ logline: "A thief steals time.", themes: ["time"] });

  it("is UNCHANGED when neither side changed it", () => {
    given(base).when(base, base).then("UNCHANGED", base);
  });

  it("is UNCHANGED when both made the same change, which is no conflict", () => {
    const changed = content({ logline: "A thief steals years.", themes: ["time"] });
    given(base).when(changed, structuredClone(changed)).then("UNCHANGED", changed);
  });

  it("is OURS when only ours changed it: the result is ours", () => {
    const ours = content({ logline: "A thief steals years.", themes: ["time"] });
    given(base).when(ours, base).then("OURS", ours);
  });

  it("is THEIRS when only theirs changed it: the result is theirs", () => {
    const theirs = content({ logline: "A thief steals time.", themes: ["time", "debt"] }, "more debt");
    given(base).when(base, theirs).then("THEIRS", theirs);
  });

  it("is MERGED when both changed it and the changes combine", () => {
    given(base)
      .when(content({ logline: "A thief steals years.", themes: ["time"] }), content({ logline: "A thief steals time.", themes: ["time", "debt"] }))
      .then("MERGED", content({ logline: "A thief steals years.", themes: ["time", "debt"] }));
  });

  it("is CONFLICT when both changed the same thing differently: the merged content holds ours' side", () => {
    given(base)
      .when(content({ logline: "A thief steals years.", themes: ["time"] }), content({ logline: "A thief steals days.", themes: ["time"] }))
      .then("CONFLICT", content({ logline: "A thief steals years.", themes: ["time"] }), [
        { path: "output.logline", base: "A thief steals time.", ours: "A thief steals years.", theirs: "A thief steals days." },
      ]);
  });

  it("counts the input text as content: changed on one side only, with the output changed on the other, is MERGED", () => {
    given(content({ tone: "grim" }, "notes"))
      .when(content({ tone: "grim" }, "better notes"), content({ tone: "wry" }, "notes"))
      .then("MERGED", content({ tone: "wry" }, "better notes"));
  });
});

describe("objects merge by key, at every level", () => {
  it("takes each side's change of a different key, however deep", () => {
    given(content({ world: { climate: { summer: "dry", winter: "wet" }, tone: "grim" } }))
      .when(
        content({ world: { climate: { summer: "scorching", winter: "wet" }, tone: "grim" } }),
        content({ world: { climate: { summer: "dry", winter: "icy" }, tone: "grim", era: "bronze" } }),
      )
      .then("MERGED", content({ world: { climate: { summer: "scorching", winter: "icy" }, tone: "grim", era: "bronze" } }));
  });

  it("removes a key one side removed and the other left alone", () => {
    given(content({ tone: "grim", time_period: "1920s" }))
      .when(content({ tone: "grim" }), content({ tone: "wry", time_period: "1920s" }))
      .then("MERGED", content({ tone: "wry" }));
  });

  it("is a conflict at the key when one side removed it and the other changed it; absent is null", () => {
    given(content({ tone: "grim", time_period: "1920s" }))
      .when(content({ tone: "wry" }), content({ tone: "grim", time_period: "1930s" }))
      .then("CONFLICT", content({ tone: "wry" }), [{ path: "output.time_period", base: "1920s", ours: null, theirs: "1930s" }]);
  });

  it("merges a key both sides added as if it had been empty, and names odd keys in quotes", () => {
    given(content({ tone: "grim" }))
      .when(content({ tone: "grim", "my notes": { a: 1, b: 2 } }), content({ tone: "grim", "my notes": { a: 1, b: 3, c: 4 } }))
      .then("CONFLICT", content({ tone: "grim", "my notes": { a: 1, b: 2, c: 4 } }), [{ path: 'output["my notes"].b', base: null, ours: 2, theirs: 3 }]);
  });

  it("treats numbers, booleans and null as atoms", () => {
    given(content({ count: 1, draft: true, extra: null }))
      .when(content({ count: 2, draft: false, extra: null }), content({ count: 3, draft: false, extra: 0 }))
      .then("CONFLICT", content({ count: 2, draft: false, extra: 0 }), [{ path: "output.count", base: 1, ours: 2, theirs: 3 }]);
  });

  it("is a conflict at the path when both sides changed a value's type differently", () => {
    given(content({ setting: "A city.", rules: ["no magic"] }))
      .when(content({ setting: { city: "Oran" }, rules: ["no magic"] }), content({ setting: ["a city"], rules: ["no magic"] }))
      .then("CONFLICT", content({ setting: { city: "Oran" }, rules: ["no magic"] }), [
        { path: "output.setting", base: "A city.", ours: { city: "Oran" }, theirs: ["a city"] },
      ]);
  });
});

describe("lists of named things merge by name", () => {
  const mara = { name: "Mara", role: "protagonist", need: "trust" };
  const jon = { name: "Jon", role: "mentor", need: "rest" };
  const ivo = { name: "Ivo", role: "antagonist", need: "power" };
  const base = content({ characters: [mara, jon] });

  it("adds what each side added: ours' order, theirs' new item after its preceding neighbour", () => {
    const lea = { name: "Lea", role: "rival" };
    given(base)
      .when(content({ characters: [mara, jon, ivo] }), content({ characters: [mara, lea, jon] }))
      .then("MERGED", content({ characters: [mara, lea, jon, ivo] }));
  });

  it("puts theirs' new first item first", () => {
    given(base)
      .when(content({ characters: [mara, jon, ivo] }), content({ characters: [{ name: "Lea" }, mara, jon] }))
      .then("MERGED", content({ characters: [{ name: "Lea" }, mara, jon, ivo] }));
  });

  it("removes what one side removed and the other left alone", () => {
    given(content({ characters: [mara, jon, ivo] }))
      .when(content({ characters: [mara, ivo] }), content({ characters: [mara, jon, ivo, { name: "Lea" }] }))
      .then("MERGED", content({ characters: [mara, ivo, { name: "Lea" }] }));
  });

  it("merges an item both sides changed field by field, wherever one side moved it", () => {
    given(base)
      .when(content({ characters: [{ ...mara, need: "to forgive" }, jon] }), content({ characters: [jon, { ...mara, role: "narrator" }] }))
      .then("MERGED", content({ characters: [jon, { name: "Mara", role: "narrator", need: "to forgive" }] }));
  });

  it("keeps ours' order when ours reordered; takes theirs' when only theirs did", () => {
    const jonRested = { ...jon, need: "nothing" };
    given(content({ characters: [mara, jon, ivo] }))
      .when(content({ characters: [ivo, mara, jon] }), content({ characters: [mara, jonRested, ivo] }))
      .then("MERGED", content({ characters: [ivo, mara, jonRested] }));
    given(content({ characters: [mara, jon, ivo] }))
      .when(content({ characters: [mara, jonRested, ivo, { name: "Lea" }] }), content({ characters: [ivo, jon, mara] }))
      .then("MERGED", content({ characters: [ivo, { name: "Lea" }, jonRested, mara] }));
  });

  it("is a conflict at the item when one side removed it and the other changed it", () => {
    given(base)
      .when(content({ characters: [mara, { ...jon, need: "to be heard" }] }), content({ characters: [mara] }))
      .then("CONFLICT", content({ characters: [mara, { ...jon, need: "to be heard" }] }), [
        { path: 'output.characters[name="Jon"]', base: jon, ours: { ...jon, need: "to be heard" }, theirs: null },
      ]);
  });

  it("names a field conflict inside an item by the item's name", () => {
    given(content({ beats: [{ name: "Inciting incident", summary: "The clock stops." }] }))
      .when(content({ beats: [{ name: "Inciting incident", summary: "The clock runs back." }] }), content({ beats: [{ name: "Inciting incident", summary: "The clock melts." }] }))
      .then("CONFLICT", content({ beats: [{ name: "Inciting incident", summary: "The clock runs back." }] }), [
        { path: 'output.beats[name="Inciting incident"].summary', base: "The clock stops.", ours: "The clock runs back.", theirs: "The clock melts." },
      ]);
  });

  it("merges a list that repeats a name by position instead", () => {
    given(content({ beats: [{ name: "x", summary: "1" }, { name: "x", summary: "2" }] }))
      .when(content({ beats: [{ name: "x", summary: "one" }, { name: "x", summary: "2" }] }), content({ beats: [{ name: "x", summary: "1" }, { name: "x", summary: "two" }] }))
      .then("MERGED", content({ beats: [{ name: "x", summary: "one" }, { name: "x", summary: "two" }] }));
  });
});

describe("other lists merge by position", () => {
  const base = content({ themes: ["time", "debt", "grief"] });

  it("takes each side's change of a different position, and an item one side appended", () => {
    given(base)
      .when(content({ themes: ["Time", "debt", "grief", "home"] }), content({ themes: ["time", "debt", "loss"] }))
      .then("MERGED", content({ themes: ["Time", "debt", "loss", "home"] }));
  });

  it("is a conflict at the position both changed, or both appended at", () => {
    given(base)
      .when(content({ themes: ["time", "money", "grief", "home"] }), content({ themes: ["time", "duty", "grief", "war"] }))
      .then("CONFLICT", content({ themes: ["time", "money", "grief", "home"] }), [
        { path: "output.themes[1]", base: "debt", ours: "money", theirs: "duty" },
        { path: "output.themes[3]", base: null, ours: "home", theirs: "war" },
      ]);
  });
});

describe("strings merge by line with diff3", () => {
  const prose = lines("It was late.", "The clock ticked.", "Mara waited.", "Rain fell.", "Jon came in.", "He was wet.");

  it("merges edits of different lines of a long text cleanly", () => {
    given(content({ prose }))
      .when(
        content({ prose: lines("It was very late.", "The clock ticked.", "Mara waited.", "Rain fell.", "Jon came in.", "He was wet.") }),
        content({ prose: lines("It was late.", "The clock ticked.", "Mara waited.", "Rain fell.", "Jon came in.", "He was soaked.", "He smiled.") }),
      )
      .then("MERGED", content({ prose: lines("It was very late.", "The clock ticked.", "Mara waited.", "Rain fell.", "Jon came in.", "He was soaked.", "He smiled.") }));
  });

  it("makes overlapping edits conflict hunks, numbered in the text: ours' side stays, the rest merges", () => {
    given(content({ prose }))
      .when(
        content({ prose: lines("It was dawn.", "The clock ticked.", "Mara waited.", "Snow fell.", "Jon came in.", "He was wet.") }),
        content({ prose: lines("It was noon.", "The clock ticked.", "Mara waited.", "Hail fell.", "Jon came in.", "He was cold.") }),
      )
      .then("CONFLICT", content({ prose: lines("It was dawn.", "The clock ticked.", "Mara waited.", "Snow fell.", "Jon came in.", "He was cold.") }), [
        { path: "output.prose@1", base: "It was late.\n", ours: "It was dawn.\n", theirs: "It was noon.\n" },
        { path: "output.prose@2", base: "Rain fell.\n", ours: "Snow fell.\n", theirs: "Hail fell.\n" },
      ]);
  });

  it("makes a line one side deleted and the other changed a hunk with an empty side", () => {
    given(content({ prose }))
      .when(
        content({ prose: lines("It was late.", "The clock ticked.", "Rain fell.", "Jon came in.", "He was wet.") }),
        content({ prose: lines("It was late.", "The clock ticked.", "Mara waited, cold.", "Rain fell.", "Jon came in.", "He was wet.") }),
      )
      .then("CONFLICT", content({ prose: lines("It was late.", "The clock ticked.", "Rain fell.", "Jon came in.", "He was wet.") }), [
        { path: "output.prose@1", base: "Mara waited.\n", ours: "", theirs: "Mara waited, cold.\n" },
      ]);
  });

  it("takes a change both sides made alike without conflict, beside the others' edits", () => {
    given(content({ prose }))
      .when(
        content({ prose: lines("It was late.", "The clock stopped.", "Mara waited.", "Rain fell.", "Jon came in.", "He was wet.") }),
        content({ prose: lines("It was late.", "The clock stopped.", "Mara waited.", "Rain fell.", "Jon came in.", "He was soaked.") }),
      )
      .then("MERGED", content({ prose: lines("It was late.", "The clock stopped.", "Mara waited.", "Rain fell.", "Jon came in.", "He was soaked.") }));
  });

  it("makes a one-line string changed differently on both sides a conflict of the whole string", () => {
    given(content({ one_liner: "Time is money." }))
      .when(content({ one_liner: "Time is debt." }), content({ one_liner: "Time is a thief." }))
      .then("CONFLICT", content({ one_liner: "Time is debt." }), [{ path: "output.one_liner", base: "Time is money.", ours: "Time is debt.", theirs: "Time is a thief." }]);
  });

  it("merges a rewrite too large to search coarsely: all the rewritten stretch is one hunk, nothing lost", () => {
    const numbered = Array.from({ length: 1_200 }, (_, i) => `Line ${i}.`);
    const reversed = lines(...numbered.toReversed());
    const changed = lines(...numbered.map((line, i) => (i === 600 ? "Line six hundred." : line)));
    given(content({ prose: lines(...numbered) }))
      .when(content({ prose: reversed }), content({ prose: changed }))
      .then("CONFLICT", content({ prose: reversed }), [{ path: "output.prose@1", base: lines(...numbered), ours: reversed, theirs: changed }]);
  });

  it("merges a location's long description the same way, by name, then by line", () => {
    const description = lines("A harbour town.", "Fog most mornings.", "Gulls everywhere.");
    given(content({ locations: [{ name: "Oran", description }] }))
      .when(
        content({ locations: [{ name: "Oran", description: lines("A harbour town.", "Fog most mornings.", "Gulls and crows everywhere.") }] }),
        content({ locations: [{ name: "Oran", description: lines("A walled harbour town.", "Fog most mornings.", "Gulls everywhere.") }] }),
      )
      .then("MERGED", content({ locations: [{ name: "Oran", description: lines("A walled harbour town.", "Fog most mornings.", "Gulls and crows everywhere.") }] }));
  });

  it("merges the input text like any string, its conflicts under inputText", () => {
    const notes = lines("Mara is 30.", "Set in Oran.", "Ends in rain.");
    given(content(null, notes))
      .when(content(null, lines("Mara is 31.", "Set in Oran.", "Ends in rain.")), content(null, lines("Mara is 30.", "Set in Oran.", "Ends in snow.")))
      .then("MERGED", content(null, lines("Mara is 31.", "Set in Oran.", "Ends in snow.")));
    given(content(null, notes))
      .when(content(null, lines("Mara is 31.", "Set in Oran.", "Ends in rain.")), content(null, lines("Mara is 29.", "Set in Oran.", "Ends in rain.")))
      .then("CONFLICT", content(null, lines("Mara is 31.", "Set in Oran.", "Ends in rain.")), [
        { path: "inputText@1", base: "Mara is 30.\n", ours: "Mara is 31.\n", theirs: "Mara is 29.\n" },
      ]);
    given(content(null, "short"))
      .when(content(null, "shorter"), content(null, null))
      .then("CONFLICT", content(null, "shorter"), [{ path: "inputText", base: "short", ours: "shorter", theirs: null }]);
  });
});

describe("an empty output (null) on a side is an atom against an object", () => {
  const idea = { logline: "A thief steals time." };

  it("is taken from the side that set or cleared it when the other left it", () => {
    given(content(null)).when(content(idea), content(null)).then("OURS", content(idea));
    given(content(idea)).when(content(idea), content(null)).then("THEIRS", content(null));
  });

  it("is a conflict of the whole output when both sides changed it differently", () => {
    given(content(idea))
      .when(content(null), content({ logline: "A thief steals years." }))
      .then("CONFLICT", content(null), [{ path: "output", base: idea, ours: null, theirs: { logline: "A thief steals years." } }]);
    given(content(null))
      .when(content(idea), content({ logline: "A thief steals years." }))
      .then("CONFLICT", content(idea), [{ path: "output", base: null, ours: idea, theirs: { logline: "A thief steals years." } }]);
  });
});

describe("resolving a merge", () => {
  const base = content({ logline: "A", prose: lines("one", "two", "three", "four"), characters: [{ name: "Mara", need: "trust" }] });
  const ours = content({ logline: "B", prose: lines("ONE", "two", "three", "Four"), characters: [] });
  const theirs = content({ logline: "C", prose: lines("One", "two", "three", "fore"), characters: [{ name: "Mara", need: "rest" }] });
  const sides = { base, ours, theirs };
  const merge = mergeModule(base, ours, theirs);
  const resolve = (resolutions: readonly MergeResolution[]) => resolveModule(merge, sides, resolutions);

  it("lists the conflicts, every one unresolved until resolved", () => {
    expect(merge.conflicts.map((conflict) => conflict.path)).toEqual(["output.logline", "output.prose@1", "output.prose@2", 'output.characters[name="Mara"]']);
    expect(resolve([])).toEqual({ content: merge.merged, unresolved: merge.conflicts });
    const partly = resolve([{ path: "output.logline", choice: "THEIRS" }]);
    expect(partly.unresolved.map((conflict) => conflict.path)).toEqual(["output.prose@1", "output.prose@2", 'output.characters[name="Mara"]']);
    expect(partly.content.output).toMatchObject({ logline: "C" });
  });

  it("takes a side's value or hunk per path, or the writer's content; ours' removal removes", () => {
    const resolved = resolve([
      { path: "output.logline", choice: "OURS" },
      { path: "output.prose@1", choice: "THEIRS" },
      { path: "output.prose@2", choice: "CONTENT", content: "four and more\n" },
      { path: 'output.characters[name="Mara"]', choice: "OURS" },
    ]);
    expect(resolved).toEqual({ content: content({ logline: "B", prose: lines("One", "two", "three", "four and more"), characters: [] }), unresolved: [] });
  });

  it("brings back a removed item by THEIRS, or puts the writer's item there, or removes it by a null content", () => {
    const path = 'output.characters[name="Mara"]';
    const rest = [
      { path: "output.logline", choice: "OURS" },
      { path: "output.prose@1", choice: "OURS" },
      { path: "output.prose@2", choice: "OURS" },
    ] as const;
    expect(resolve([...rest, { path, choice: "THEIRS" }]).content.output).toMatchObject({ characters: [{ name: "Mara", need: "rest" }] });
    expect(resolve([...rest, { path, choice: "CONTENT", content: { name: "Mara", need: "both" } }]).content.output).toMatchObject({
      characters: [{ name: "Mara", need: "both" }],
    });
    expect(resolve([...rest, { path, choice: "CONTENT", content: null }]).content.output).toMatchObject({ characters: [] });
  });

  it("by the whole module: OURS is exactly ours, THEIRS exactly theirs, CONTENT the content given", () => {
    expect(resolve([{ choice: "OURS" }])).toEqual({ content: ours, unresolved: [] });
    expect(resolve([{ path: null, choice: "THEIRS" }, { path: "output.logline", choice: "OURS" }])).toEqual({ content: theirs, unresolved: [] });
    const mine = content({ logline: "D" }, "my notes");
    expect(resolve([{ choice: "CONTENT", content: mine }])).toEqual({ content: mine, unresolved: [] });
    // and of a module that merged cleanly too
    const clean = mergeModule(base, content({ ...base.output, logline: "B" }), content({ ...base.output, prose: "new\n" }));
    expect(clean.status).toBe("MERGED");
    expect(resolveModule(clean, { base, ours: content({ ...base.output, logline: "B" }), theirs }, [{ choice: "THEIRS" }]).content).toBe(theirs);
  });

  it("refuses a resolution naming no conflict of the module, on the field resolutions", () => {
    expectRefusal(() => resolve([{ path: "output.tone", choice: "OURS" }]), "resolutions: no conflict at output.tone in this module");
    expectRefusal(() => resolveModule(mergeModule(base, base, ours), sides, [{ path: "output.logline", choice: "OURS" }]), /no conflict at output.logline/);
  });

  it("refuses two resolutions of one conflict, and content that cannot stand there", () => {
    expectRefusal(() => resolve([{ path: "output.logline", choice: "OURS" }, { path: "output.logline", choice: "THEIRS" }]), /more than one resolution for output.logline/);
    expectRefusal(() => resolve([{ choice: "OURS" }, { choice: "THEIRS" }]), /more than one resolution for the whole module/);
    expectRefusal(() => resolve([{ path: "output.prose@1", choice: "CONTENT", content: 42 }]), /the content of a hunk is its text/);
    expectRefusal(() => resolve([{ path: 'output.characters[name="Mara"]', choice: "CONTENT", content: { name: "Jon" } }]), /an object with that name/);
    expectRefusal(() => resolve([{ path: "output.logline", choice: "CONTENT" }]), /CONTENT needs a content/);
    expectRefusal(() => resolve([{ choice: "CONTENT", content: { output: "text", inputText: null } }]), /output is an object or null/);
    expectRefusal(() => resolve([{ choice: "CONTENT", content: { output: null } }]), /\{ output, inputText \}/);
  });
});

function expectRefusal(run: () => unknown, message: string | RegExp): void {
  let refusal: unknown;
  try {
    run();
  } catch (error) {
    refusal = error;
  }
  expect(refusal).toBeInstanceOf(StorySparkError);
  const error = refusal as StorySparkError;
  expect(error.code).toBe("BAD_USER_INPUT");
  expect(error.extensions).toEqual({ field: "resolutions" });
  if (typeof message === "string") expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
}

describe("a module as large as the schemas allow", () => {
  it("merges 200 beats and a 150,000-character draft, every change of both sides kept", () => {
    const summary = (i: number, side: string) => `Beat ${i} (${side}): ${"the tide turns and the town holds its breath ".repeat(17)}`.slice(0, 900);
    const beat = (i: number, side = "base") => ({ name: `Beat ${i}`, summary: summary(i, side) });
    const baseBeats = Array.from({ length: 200 }, (_, i) => beat(i));
    const draftLine = (i: number, side = "base") => `Line ${i} (${side}) of the draft, where the rain keeps falling on the harbour and on Mara's coat.\n`;
    const baseDraft = Array.from({ length: 1_500 }, (_, i) => draftLine(i));
    expect(baseDraft.join("").length).toBeLessThanOrEqual(150_000);

    // ours rewrites every 4th beat and removes every 4th from 3; theirs rewrites every 4th from 2 and adds one after each 50th
    const oursBeats = baseBeats.flatMap((b, i) => (i % 4 === 0 ? [beat(i, "ours")] : i % 4 === 3 ? [] : [b]));
    const added = (i: number) => (i % 50 === 0 ? [{ name: `New ${i}`, summary: "theirs" }] : []);
    const theirsBeats = baseBeats.flatMap((b, i) => [i % 4 === 2 ? beat(i, "theirs") : b, ...added(i)]);
    const expectedBeats = baseBeats.flatMap((b, i) => [
      ...(i % 4 === 0 ? [beat(i, "ours")] : i % 4 === 2 ? [beat(i, "theirs")] : i % 4 === 3 ? [] : [b]),
      ...added(i),
    ]);
    expect(expectedBeats).toHaveLength(154);
    // ours rewrites every 10th line of the draft, theirs every 10th from 5, and appends a line
    const oursDraft = baseDraft.map((line, i) => (i % 10 === 0 ? draftLine(i, "ours") : line));
    const theirsDraft = [...baseDraft.map((line, i) => (i % 10 === 5 ? draftLine(i, "theirs") : line)), "The end.\n"];
    const expectedDraft = [...baseDraft.map((line, i) => (i % 10 === 0 ? draftLine(i, "ours") : i % 10 === 5 ? draftLine(i, "theirs") : line)), "The end.\n"];

    const base = content({ structure: "three-act", beats: baseBeats, prose: baseDraft.join("") }, baseDraft.slice(0, 900).join(""));
    const ours = content({ structure: "three-act", beats: oursBeats, prose: oursDraft.join("") }, oursDraft.slice(0, 900).join(""));
    const theirs = content({ structure: "five-act", beats: theirsBeats, prose: theirsDraft.join("") }, theirsDraft.slice(0, 900).join(""));
    given(base)
      .when(ours, theirs)
      .then("MERGED", content({ structure: "five-act", beats: expectedBeats, prose: expectedDraft.join("") }, expectedDraft.slice(0, 900).join("")));
  });
});

// ---------------------------------------------------------------- properties

/** mulberry32: a small seeded generator, so that a failing run can be run again. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Scenario = { base: ModuleContent; ours: ModuleContent; theirs: ModuleContent; expected: ModuleContent | null };

/**
 * A random base module (every kind of value the rules distinguish) and random edits of it on both
 * sides. Disjoint: each place (a field, a position, a named item, a line with an untouched line on
 * either side) is edited by at most one side, and the expected merge is known. Free: either side,
 * both alike or both differently, anywhere: conflicts welcome, nothing expected.
 */
function scenario(random: () => number, disjoint: boolean): Scenario {
  let fresh = 0;
  const word = () => `w${fresh++}`;
  const chance = (p: number) => random() < p;

  /** Base, ours, theirs and expected versions of one place: a side edits it with `edit()`. */
  function place<T>(value: T, edit: () => T): [T, T, T] {
    if (disjoint) {
      if (!chance(0.4)) return [value, value, value];
      const changed = edit();
      return chance(0.5) ? [changed, value, changed] : [value, changed, changed];
    }
    const roll = random();
    if (roll < 0.2) return [edit(), value, value];
    if (roll < 0.4) return [value, edit(), value];
    if (roll < 0.5) {
      const same = edit();
      return [same, structuredClone(same), value];
    }
    if (roll < 0.6) return [edit(), edit(), value];
    return [value, value, value];
  }

  /** Each piece stands for what a side made of one base element (gone, changed, or followed by new ones). */
  const flat = <T>(pieces: T[][]) => pieces.flat();
  const sides = <T>(triples: [T, T, T][]): [T[], T[], T[]] => [triples.map((t) => t[0]), triples.map((t) => t[1]), triples.map((t) => t[2])];

  /** A text of unique lines; in disjoint runs only every other line may be edited. */
  function text(): [string, string, string, string] {
    const baseLines = Array.from({ length: 4 + Math.floor(random() * 12) }, () => `${word()} line\n`);
    const pieces = baseLines.map((line, i): [string[], string[], string[]] => {
      if (disjoint && i % 2 === 1) return [[line], [line], [line]];
      return place([line], () => {
        const roll = random();
        if (roll < 0.3) return [];
        if (roll < 0.6) return [`${word()} rewritten\n`];
        if (roll < 0.8) return [line, `${word()} added\n`];
        return [`${word()} rewritten\n`, `${word()} added\n`];
      });
    });
    const [ours, theirs, expected] = sides(pieces);
    return [baseLines.join(""), flat(ours).join(""), flat(theirs).join(""), flat(expected).join("")];
  }

  const logline = place<unknown>("A logline.", () => (chance(0.2) ? 42 : `${word()} logline`));
  const count = place<unknown>(3, () => Math.floor(random() * 100));
  const draft = place<unknown>(true, () => chance(0.5));
  const metaA = place<unknown>("calm", () => word());
  const metaC = place<unknown>("deep", () => word());

  const baseThemes = Array.from({ length: 2 + Math.floor(random() * 4) }, () => word());
  const themes = sides(baseThemes.map((theme) => place(theme, () => word())));
  const [appendOurs, appendTheirs] = disjoint ? (chance(0.5) ? [chance(0.5), false] : [false, chance(0.5)]) : [chance(0.3), chance(0.3)];
  const oursAppended = appendOurs ? [word()] : [];
  const theirsAppended = appendTheirs ? [word()] : [];

  const baseBeats = Array.from({ length: 2 + Math.floor(random() * 8) }, (_, i) => ({ name: `Beat ${i}`, summary: `${word()} happens` }));
  const beats = sides(
    baseBeats.map((beat) =>
      place<JsonObject[]>([beat], () => {
        const roll = random();
        if (roll < 0.3) return [];
        const changed = roll < 0.7 ? { ...beat, summary: `${word()} instead` } : beat;
        return chance(0.5) ? [changed, { name: `New ${word()}`, summary: "new" }] : [changed];
      }),
    ),
  );

  const [baseProse, oursProse, theirsProse, expectedProse] = text();
  const [baseInput, oursInput, theirsInput, expectedInput] = text();

  const extraOurs = chance(0.3) ? { [disjoint ? `ours_${word()}` : "extra"]: word() } : {};
  const extraTheirs = chance(0.3) ? { [disjoint ? `theirs_${word()}` : "extra"]: word() } : {};

  const build = (i: 0 | 1 | 2, prose: string, inputText: string, extra: JsonObject, appended: string[]) =>
    content(
      {
        logline: logline[i],
        count: count[i],
        draft: draft[i],
        meta: { a: metaA[i], b: { c: metaC[i], d: 7 } },
        themes: [...themes[i]!, ...appended],
        beats: flat(beats[i]!),
        prose,
        ...extra,
      },
      inputText,
    );

  const base = content(
    { logline: "A logline.", count: 3, draft: true, meta: { a: "calm", b: { c: "deep", d: 7 } }, themes: baseThemes, beats: baseBeats, prose: baseProse },
    baseInput,
  );
  let ours = build(0, oursProse, oursInput, extraOurs, oursAppended);
  let theirs = build(1, theirsProse, theirsInput, extraTheirs, theirsAppended);
  if (!disjoint && chance(0.1)) ours = content(null, ours.inputText);
  if (!disjoint && chance(0.1)) theirs = content(null, theirs.inputText);
  const expected = disjoint ? build(2, expectedProse, expectedInput, { ...extraOurs, ...extraTheirs }, [...oursAppended, ...theirsAppended]) : null;
  return { base, ours, theirs, expected };
}

describe("properties of every merge, on random edits", () => {
  const RUNS = 300;
  // frozen, so that a merge that changed its inputs would throw
  const runs = (disjoint: boolean) =>
    Array.from({ length: RUNS }, (_, seed) => ({ seed, ...deepFreeze(scenario(seededRandom(seed + (disjoint ? 0 : 10_000)), disjoint)) }));

  it("a side merged with itself is UNCHANGED; with the base, the other side's outcome is exactly that side", () => {
    for (const { seed, base, ours, theirs } of [...runs(true), ...runs(false)]) {
      expect(mergeModule(base, ours, structuredClone(ours)), `seed ${seed}`).toEqual({ status: "UNCHANGED", merged: ours, conflicts: [] });
      expect(mergeModule(base, base, theirs), `seed ${seed}`).toEqual({ status: sameAs(base, theirs) ? "UNCHANGED" : "THEIRS", merged: theirs, conflicts: [] });
      expect(mergeModule(base, ours, base), `seed ${seed}`).toEqual({ status: sameAs(base, ours) ? "UNCHANGED" : "OURS", merged: ours, conflicts: [] });
    }
  });

  it("the whole module resolved as THEIRS is exactly theirs, as OURS exactly ours", () => {
    for (const { seed, base, ours, theirs } of runs(false)) {
      const merge = mergeModule(base, ours, theirs);
      expect(resolveModule(merge, { base, ours, theirs }, [{ choice: "THEIRS" }]), `seed ${seed}`).toEqual({ content: theirs, unresolved: [] });
      expect(resolveModule(merge, { base, ours, theirs }, [{ choice: "OURS" }]), `seed ${seed}`).toEqual({ content: ours, unresolved: [] });
    }
  });

  it("edits of different places merge without conflict into content holding every edit of both sides, whichever side is ours", () => {
    let merged = 0;
    for (const { seed, base, ours, theirs, expected } of runs(true)) {
      const forward = mergeModule(base, ours, theirs);
      const backward = mergeModule(base, theirs, ours);
      expect(forward.conflicts, `seed ${seed}`).toEqual([]);
      expect(forward.merged, `seed ${seed}`).toEqual(expected);
      expect(backward.merged, `seed ${seed}`).toEqual(expected);
      if (forward.status === "MERGED") merged++;
    }
    // the runs do exercise the combining of both sides
    expect(merged).toBeGreaterThan(RUNS / 2);
  });

  it("any edits: the same merge every time, conflicts with distinct paths, the status saying whether there are any, each resolved as ours giving the merged content", () => {
    let conflicted = 0;
    for (const { seed, base, ours, theirs } of runs(false)) {
      const sides = { base, ours, theirs };
      const merge = mergeModule(base, ours, theirs);
      const paths = merge.conflicts.map((conflict) => conflict.path);
      expect(new Set(paths).size, `seed ${seed}`).toBe(paths.length);
      expect(merge.status === "CONFLICT", `seed ${seed}`).toBe(paths.length > 0);
      expect(mergeModule(structuredClone(base), structuredClone(ours), structuredClone(theirs)), `seed ${seed}: the same again`).toEqual(merge);
      if (paths.length === 0) continue;
      conflicted++;
      expect(resolveModule(merge, sides, []), `seed ${seed}`).toEqual({ content: merge.merged, unresolved: merge.conflicts });
      const asOurs = resolveModule(merge, sides, paths.map((path) => ({ path, choice: "OURS" as const })));
      expect(asOurs, `seed ${seed}`).toEqual({ content: merge.merged, unresolved: [] });
      const [first, ...others] = merge.conflicts;
      const asTheirs = resolveModule(merge, sides, [{ path: first!.path, choice: "THEIRS" }]);
      expect(asTheirs.unresolved, `seed ${seed}`).toEqual(others);
    }
    expect(conflicted).toBeGreaterThan(RUNS / 4);
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

function sameAs(a: ModuleContent, b: ModuleContent): boolean {
  return a.inputText === b.inputText && jsonEqual(a.output, b.output);
}
