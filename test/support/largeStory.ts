// A story export with a long history over a large module, generated: a Wordsmith Lab draft of
// `proseBytes`, then `versions` − 2 small Idea Spark edits, so that every version's snapshot holds
// the large draft (the shape that makes exports big). Imported through importStory in seconds.
const CREATED_AT = "2026-01-01T00:00:00.000Z";

export function largeStoryExport(versions: number, proseBytes: number) {
  const prose = "The keeper climbs the stair and trims the wick. ".repeat(Math.ceil(proseBytes / 48)).slice(0, proseBytes);
  const events = [
    { seq: 1, type: "StoryCreated", schemaVersion: 1, payload: { title: "A long history", version: { number: 1 } }, createdAt: CREATED_AT },
    {
      seq: 2,
      type: "ModuleWritten",
      schemaVersion: 1,
      payload: { module: "WORDSMITH_LAB", inputText: null, output: { prose, style: "close third, past tense", notes: "" }, version: { number: 2 } },
      createdAt: CREATED_AT,
    },
    ...Array.from({ length: versions - 2 }, (_, i) => ({
      seq: i + 3,
      type: "ModuleWritten",
      schemaVersion: 1,
      payload: {
        module: "IDEA_SPARK",
        inputText: `edit ${i + 1}`,
        output: { logline: `A keeper bargains with the sea, take ${i + 1}.`, one_liner: "Grief and tides.", premise: "", themes: [] },
        version: { number: i + 3 },
      },
      createdAt: CREATED_AT,
    })),
  ];
  return { format: "story-spark.story", formatVersion: 1, events };
}
