// Diffs between two story versions: per-module status, field paths, and the line diff of long text.
import { describe, expect, it } from "vitest";
import { EMPTY_INPUTS, EMPTY_OUTPUTS, type JsonObject, type SnapshotKey } from "../src/domain/catalogue.ts";
import { diffLines, diffVersions, type LineChange, type VersionContent } from "../src/history/versionDiff.ts";

function version(outputs: Partial<Record<SnapshotKey, JsonObject | null>> = {}, inputs: Partial<Record<SnapshotKey, string | null>> = {}): VersionContent {
  return { outputs: { ...EMPTY_OUTPUTS, ...outputs }, inputs: { ...EMPTY_INPUTS, ...inputs } };
}

const idea = { logline: "A keeper hears the sea speak", one_liner: "Sea talks", premise: "A lighthouse.", themes: ["grief", "the sea"] };
const cast = {
  characters: [
    { name: "Mara", role: "protagonist", want: "quiet", need: "voice", flaw: "pride", arc: "opens up", description: "keeper" },
    { name: "Tomas", role: "mentor", want: "rest", need: "trust", flaw: "fear", arc: "lets go", description: "old keeper" },
  ],
};

/** The reference LCS length, by plain dynamic programming, for small inputs. */
function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const line of a) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = line === b[j - 1] ? diagonal + 1 : Math.max(row[j]!, row[j - 1]!);
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function sides(changes: LineChange[]) {
  return {
    before: changes.filter((c) => c.op !== "added").map((c) => c.text),
    after: changes.filter((c) => c.op !== "removed").map((c) => c.text),
  };
}

describe("diffVersions", () => {
  it("lists the five modules in story order, all unchanged, for two equal versions", () => {
    // given two versions with the same content
    const content = version({ idea_spark: idea }, { idea_spark: "lighthouse" });
    // when they are compared
    const diff = diffVersions(content, version({ idea_spark: { ...idea } }, { idea_spark: "lighthouse" }));
    // then every module is there, in order, with nothing to report
    expect(diff.map((d) => d.module)).toEqual(["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON", "WORDSMITH_LAB"]);
    expect(diff.every((d) => d.status === "unchanged" && d.changes.length === 0 && d.inputText === null)).toBe(true);
  });

  it("reports an output that appears as added and one that disappears as removed, as a whole", () => {
    // given a version with an idea and a later one with a world instead
    const world = { setting: "A cold coast", tone: "quiet" };
    const [ideaDiff, worldDiff] = diffVersions(version({ idea_spark: idea }), version({ world_seed: world }));
    // then the idea is removed and the world added, each as one whole-output change
    expect(ideaDiff).toEqual({
      module: "IDEA_SPARK",
      status: "removed",
      inputText: null,
      changes: [{ path: "", kind: "removed", before: idea, after: null, lines: null }],
    });
    expect(worldDiff).toEqual({
      module: "WORLD_SEED",
      status: "added",
      inputText: null,
      changes: [{ path: "", kind: "added", before: null, after: world, lines: null }],
    });
  });

  it("finds a changed field inside an array element, with its path", () => {
    // given a character whose flaw changes
    const edited = structuredClone(cast);
    edited.characters[1]!.flaw = "doubt";
    // when the versions are compared
    const [, , forge] = diffVersions(version({ character_forge: cast }), version({ character_forge: edited }));
    // then the change is reported at the field, not as the whole character
    expect(forge!.status).toBe("changed");
    expect(forge!.changes).toEqual([{ path: "characters[1].flaw", kind: "changed", before: "fear", after: "doubt", lines: null }]);
  });

  it("reports array elements past the shorter length as added or removed", () => {
    // given a theme list that grows and a location list that shrinks
    const before = version({
      idea_spark: { themes: ["grief"] },
      world_seed: { locations: [{ name: "Lighthouse", description: "tall" }, { name: "Harbour", description: "busy" }] },
    });
    const after = version({
      idea_spark: { themes: ["grief", "duty"] },
      world_seed: { locations: [{ name: "Lighthouse", description: "tall" }] },
    });
    // when compared
    const [ideaDiff, worldDiff] = diffVersions(before, after);
    // then each extra element is one change at its index
    expect(ideaDiff!.changes).toEqual([{ path: "themes[1]", kind: "added", before: null, after: "duty", lines: null }]);
    expect(worldDiff!.changes).toEqual([
      { path: "locations[1]", kind: "removed", before: { name: "Harbour", description: "busy" }, after: null, lines: null },
    ]);
  });

  it("reports fields added and removed within an output, and a change of type", () => {
    // given an idea that loses its premise, gains a writer's own field, and whose themes become a string
    const after = { logline: idea.logline, one_liner: idea.one_liner, themes: "grief", mood: "dark" };
    // when compared
    const [ideaDiff] = diffVersions(version({ idea_spark: idea }), version({ idea_spark: after }));
    // then each is reported, catalogue fields in catalogue order, then the writer's own
    expect(ideaDiff!.changes.map((c) => [c.path, c.kind, c.before, c.after])).toEqual([
      ["premise", "removed", "A lighthouse.", null],
      ["themes", "changed", ["grief", "the sea"], "grief"],
      ["mood", "added", null, "dark"],
    ]);
  });

  it("ignores the order of keys, as jsonb stores them", () => {
    // given the same objects with their keys in another order
    const reordered = {
      characters: cast.characters.map((c) => Object.fromEntries(Object.entries(c).reverse())),
    };
    const shuffledIdea = { themes: idea.themes, premise: idea.premise, one_liner: idea.one_liner, logline: idea.logline };
    // when compared
    const diff = diffVersions(version({ idea_spark: idea, character_forge: cast }), version({ idea_spark: shuffledIdea, character_forge: reordered }));
    // then nothing changed
    expect(diff.map((d) => d.status)).toEqual(["unchanged", "unchanged", "unchanged", "unchanged", "unchanged"]);
  });

  it("reports a change of the writer's input text alone as a changed module", () => {
    // given the same output, with input text edited, added and removed
    const before = version({ idea_spark: idea }, { idea_spark: "lighthouse", world_seed: "cold coast" });
    const after = version({ idea_spark: idea }, { idea_spark: "lighthouse, grief", plot_skeleton: "three acts" });
    // when compared
    const [ideaDiff, worldDiff, , plotDiff] = diffVersions(before, after);
    // then each is "changed" with its input text change and no output change
    expect(ideaDiff).toMatchObject({
      status: "changed",
      changes: [],
      inputText: { path: "inputText", kind: "changed", before: "lighthouse", after: "lighthouse, grief", lines: null },
    });
    expect(worldDiff).toMatchObject({ status: "changed", inputText: { kind: "removed", before: "cold coast", after: null } });
    expect(plotDiff).toMatchObject({ status: "changed", inputText: { kind: "added", before: null, after: "three acts" } });
  });

  it("adds a line diff to a changed string that spans lines or is long, and not to a short one", () => {
    // given a prose draft with one paragraph rewritten, and a style that is long, and short notes
    const longStyle = "Close third person, past tense, ".repeat(5);
    const before = { prose: "The lamp was lit.\n\nMara climbed.\n\nThe sea spoke.", style: longStyle, notes: "draft" };
    const after = { prose: "The lamp was lit.\n\nMara ran up the stairs.\n\nThe sea spoke.", style: `${longStyle}!`, notes: "second draft" };
    // when compared
    const lab = diffVersions(version({ wordsmith_lab: before }), version({ wordsmith_lab: after }))[4]!;
    // then prose and style carry a line diff, the short notes do not
    const byPath = new Map(lab.changes.map((c) => [c.path, c]));
    expect(byPath.get("prose")!.lines).toEqual(diffLines(before.prose, after.prose));
    expect(byPath.get("style")!.lines).toEqual([
      { op: "removed", text: longStyle },
      { op: "added", text: `${longStyle}!` },
    ]);
    expect(byPath.get("notes")!.lines).toBeNull();
  });
});

describe("diffLines", () => {
  it("keeps equal lines and shows a rewritten line as removed then added", () => {
    // given a paragraph with its middle line rewritten and a line appended
    const before = "The lamp was lit.\nMara climbed.\nThe sea spoke.";
    const after = "The lamp was lit.\nMara ran.\nThe sea spoke.\nShe listened.";
    // when diffed
    // then
    expect(diffLines(before, after)).toEqual([
      { op: "equal", text: "The lamp was lit." },
      { op: "removed", text: "Mara climbed." },
      { op: "added", text: "Mara ran." },
      { op: "equal", text: "The sea spoke." },
      { op: "added", text: "She listened." },
    ]);
  });

  it("treats an empty string as no lines", () => {
    expect(diffLines("", "a\nb")).toEqual([
      { op: "added", text: "a" },
      { op: "added", text: "b" },
    ]);
    expect(diffLines("a", "")).toEqual([{ op: "removed", text: "a" }]);
    expect(diffLines("", "")).toEqual([]);
  });

  it("finds a longest common subsequence on random small inputs", () => {
    // given many random pairs over a tiny alphabet, so lines repeat a lot
    let seed = 42;
    const random = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const lines = (n: number) => Array.from({ length: n }, () => "abcd"[Math.floor(random() * 4)]!);
    for (let round = 0; round < 500; round++) {
      const a = lines(Math.floor(random() * 14));
      const b = lines(Math.floor(random() * 14));
      // when diffed
      const changes = diffLines(a.join("\n"), b.join("\n"));
      // then both sides are reproduced and the equal lines are as many as an LCS has
      expect(sides(changes)).toEqual({ before: a, after: b });
      expect(changes.filter((c) => c.op === "equal").length).toBe(lcsLength(a, b));
    }
  });

  it("diffs a 5,000-line text with one changed line quickly", () => {
    // given a long draft and a copy with one line changed
    const before = Array.from({ length: 5_000 }, (_, i) => `Line ${i} of the draft.`);
    const after = [...before];
    after[2_500] = "A line rewritten.";
    // when diffed
    const started = performance.now();
    const changes = diffLines(before.join("\n"), after.join("\n"));
    const elapsed = performance.now() - started;
    // then only that line differs, and it took well under the sanity bound
    expect(changes.filter((c) => c.op !== "equal")).toEqual([
      { op: "removed", text: "Line 2500 of the draft." },
      { op: "added", text: "A line rewritten." },
    ]);
    expect(changes).toHaveLength(5_001);
    expect(elapsed).toBeLessThan(2_000);
  });

  it("stays bounded on two long texts that share only repeated lines", () => {
    // given two 20,000-line texts built from the same two lines in different rhythms
    const before = Array.from({ length: 20_000 }, (_, i) => (i % 3 === 0 ? "x" : "y")).join("\n");
    const after = Array.from({ length: 20_000 }, (_, i) => (i % 5 === 0 ? "y" : "x")).join("\n");
    // when diffed
    const started = performance.now();
    const changes = diffLines(before, after);
    const elapsed = performance.now() - started;
    // then the result still reproduces both texts (past its search budget the diff need not be the shortest)
    const { before: left, after: right } = sides(changes);
    expect(left.join("\n")).toBe(before);
    expect(right.join("\n")).toBe(after);
    expect(elapsed).toBeLessThan(2_000);
  });
});
