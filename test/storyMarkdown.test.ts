// The Markdown story bible: module sections in order, readable fields, and the version history table.
import { describe, expect, it } from "vitest";
import { EMPTY_INPUTS, EMPTY_OUTPUTS } from "../src/domain/catalogue.ts";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type StoryExport } from "../src/history/exportFormat.ts";
import { storyToMarkdown } from "../src/history/storyMarkdown.ts";

const at = (minute: number) => `2025-03-01T10:${String(minute).padStart(2, "0")}:00.000Z`;
const ref = (number: number) => ({ id: `v${number}`, number });

const idea = {
  // stored out of catalogue order, as jsonb may return it
  themes: ["grief", "the sea"],
  logline: "A keeper hears the sea speak",
  one_liner: "The sea talks back",
};
const cast = {
  characters: [
    { role: "protagonist", name: "Mara", want: "Quiet" },
    { role: "witness", want: "To be heard" },
  ],
};

function sampleStory(): StoryExport {
  const modules = [
    { name: "IDEA_SPARK", title: "Idea Spark", order: 1, inputText: "lighthouse\n\ngrief", output: idea },
    { name: "WORLD_SEED", title: "World Seed", order: 2, inputText: null, output: null },
    { name: "CHARACTER_FORGE", title: "Character Forge", order: 3, inputText: null, output: cast },
    { name: "PLOT_SKELETON", title: "Plot Skeleton", order: 4, inputText: null, output: null },
    { name: "WORDSMITH_LAB", title: "Wordsmith Lab", order: 5, inputText: null, output: null },
  ] as const;
  return {
    format: EXPORT_FORMAT,
    formatVersion: EXPORT_FORMAT_VERSION,
    exportedAt: "2025-03-02T08:00:00.000Z",
    story: {
      id: "story-1",
      title: "Ash and Ember",
      logline: "A keeper hears the sea speak",
      genre: "fantasy",
      isComplete: false,
      createdAt: at(0),
      updatedAt: at(5),
      revision: 6,
      activeVersionNumber: 4,
    },
    modules: modules.map((m) => ({ ...m, updatedAt: at(5) })),
    versions: [
      { number: 1, parentNumber: null, label: null, snapshot: EMPTY_OUTPUTS, inputs: EMPTY_INPUTS, eventSeq: 1, createdAt: at(0) },
      { number: 2, parentNumber: 1, label: "first | rough", snapshot: EMPTY_OUTPUTS, inputs: EMPTY_INPUTS, eventSeq: 2, createdAt: at(1) },
      { number: 3, parentNumber: 2, label: null, snapshot: EMPTY_OUTPUTS, inputs: EMPTY_INPUTS, eventSeq: 3, createdAt: at(2) },
      { number: 4, parentNumber: 3, label: null, snapshot: EMPTY_OUTPUTS, inputs: EMPTY_INPUTS, eventSeq: 5, createdAt: at(4) },
    ],
    events: [
      { seq: 1, type: "StoryCreated", schemaVersion: 1, payload: { title: "Ash and Ember", version: ref(1) }, createdAt: at(0) },
      { seq: 2, type: "ModuleWritten", schemaVersion: 1, payload: { module: "IDEA_SPARK", inputText: null, output: idea, version: ref(2) }, createdAt: at(1) },
      { seq: 3, type: "ModuleCleared", schemaVersion: 1, payload: { module: "WORLD_SEED", version: ref(3) }, createdAt: at(2) },
      { seq: 4, type: "Undone", schemaVersion: 1, payload: { from: 3, to: 2 }, createdAt: at(3) },
      { seq: 5, type: "VersionRestored", schemaVersion: 1, payload: { restoredNumber: 2, version: ref(4) }, createdAt: at(4) },
    ],
  };
}

describe("storyToMarkdown", () => {
  // given a small story, rendered once
  const markdown = storyToMarkdown(sampleStory());
  const lines = markdown.split("\n");

  it("starts with the title and a line of genre, logline and progress", () => {
    expect(lines[0]).toBe("# Ash and Ember");
    expect(lines[2]).toBe("**Genre:** fantasy · **Logline:** A keeper hears the sea speak · **In progress**");
  });

  it("has one numbered section per module, in story order, then the version history", () => {
    const headings = lines.filter((line) => line.startsWith("## "));
    expect(headings).toEqual([
      "## 1. Idea Spark",
      "## 2. World Seed",
      "## 3. Character Forge",
      "## 4. Plot Skeleton",
      "## 5. Wordsmith Lab",
      "## Version history",
    ]);
  });

  it("quotes the writer's input text and marks an empty module", () => {
    expect(markdown).toContain("## 1. Idea Spark\n\n> lighthouse\n>\n> grief\n\n");
    expect(markdown).toContain("## 2. World Seed\n\n_Empty._\n\n## 3. Character Forge");
  });

  it("renders fields under humanised labels in catalogue order, and string lists as bullets", () => {
    expect(markdown).toContain(
      "**Logline**\n\nA keeper hears the sea speak\n\n**One liner**\n\nThe sea talks back\n\n**Themes**\n\n- grief\n- the sea",
    );
  });

  it("renders arrays of objects as sub-sections, named when they have a name and numbered otherwise", () => {
    expect(markdown).toContain("**Characters**\n\n### Mara\n\n**Role**\n\nprotagonist\n\n**Want**\n\nQuiet\n\n### 2.\n\n**Role**\n\nwitness");
  });

  it("lists every version in a table, with what made it, the escaped label and the active marker", () => {
    const table = markdown.slice(markdown.indexOf("## Version history"));
    expect(table).toContain("| # | Created | Made by | Parent | Label | Active |");
    expect(table).toContain("| 1 | 2025-03-01T10:00:00.000Z | Story created | — |  |  |");
    expect(table).toContain("| 2 | 2025-03-01T10:01:00.000Z | Wrote Idea Spark | 1 | first \\| rough |  |");
    expect(table).toContain("| 3 | 2025-03-01T10:02:00.000Z | Cleared World Seed | 2 |  |  |");
    expect(table).toContain("| 4 | 2025-03-01T10:04:00.000Z | Restored version 2 | 3 |  | **active** |");
    expect(markdown.match(/\*\*active\*\*/g)).toHaveLength(1);
  });

  it("puts plain fields before sub-sections, so none reads as part of the last sub-section", () => {
    // given a world whose locations come before its rules and tone in the catalogue
    const story = sampleStory();
    story.modules[1] = {
      ...story.modules[1]!,
      output: { setting: "A cold coast", locations: [{ name: "The Lighthouse", description: "Tall" }], rules: ["The sea remembers"], tone: "hushed" },
    };
    // when rendered
    const world = storyToMarkdown(story).split("## 2. World Seed")[1]!.split("## 3.")[0]!;
    // then the locations' sub-sections come last
    expect(world).toBe(
      "\n\n**Setting**\n\nA cold coast\n\n**Rules**\n\n- The sea remembers\n\n**Tone**\n\nhushed\n\n" +
        "**Locations**\n\n### The Lighthouse\n\n**Description**\n\nTall\n\n",
    );
  });

  it("escapes what the writer typed, so it cannot inject HTML, links, images, headings or lists", () => {
    // given a story whose every writer-typed field carries markup
    const story = sampleStory();
    story.story.title = "# <img src=x onerror=alert(1)>";
    story.story.genre = "[genre](javascript:alert(1))";
    story.modules[3] = {
      ...story.modules[3]!,
      inputText: "> quoted\n## heading",
      output: {
        structure: "three-act *bold* _em_ `code` ~~gone~~",
        beats: [{ name: "![img](https://evil.example/p.png)", summary: "<b>bold</b>\n- item\n2. second\n===\n+ plus" }],
        "<i>my_field</i>": "x | y",
      },
    };
    story.versions[2] = { ...story.versions[2]!, label: "<a href=x>| pipe" };
    // when rendered
    const rendered = storyToMarkdown(story);
    const plot = rendered.split("## 4. Plot Skeleton")[1]!.split("## 5.")[0]!;
    // then it reads as typed, with markup characters escaped
    expect(rendered.split("\n")[0]).toBe("# \\# \\<img src=x onerror=alert\\(1\\)\\>");
    expect(rendered.split("\n")[2]).toBe("**Genre:** \\[genre\\]\\(javascript:alert\\(1\\)\\) · **Logline:** A keeper hears the sea speak · **In progress**");
    expect(plot).toBe(
      "\n\n> \\> quoted\n> \\#\\# heading\n\n" +
        "**Structure**\n\nthree-act \\*bold\\* \\_em\\_ \\`code\\` \\~\\~gone\\~\\~\n\n" +
        "**\\<i\\>my field\\</i\\>**\n\nx \\| y\n\n" +
        "**Beats**\n\n### \\!\\[img\\]\\(https://evil.example/p.png\\)\n\n" +
        "**Summary**\n\n\\<b\\>bold\\</b\\>\n\\- item\n2\\. second\n\\===\n\\+ plus\n\n",
    );
    expect(rendered).toContain("| 3 | 2025-03-01T10:02:00.000Z | Cleared World Seed | 2 | \\<a href=x\\>\\| pipe |  |");
    // no unescaped markup character is left anywhere a writer's text went
    expect(rendered).not.toMatch(/(^|[^\\])[<[`]/m);
  });

  it("is deterministic, ending with the export time", () => {
    expect(storyToMarkdown(sampleStory())).toBe(markdown);
    expect(markdown.endsWith("_Exported from Story Spark at 2025-03-02T08:00:00.000Z._\n")).toBe(true);
  });
});
