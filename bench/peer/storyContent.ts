// Realistic module outputs for the peer scenario: each module about the size a writer's draft
// reaches (about 25 KB of JSON for all five), the same for a given story and draft number.
import type { ModuleName } from "../../src/domain/catalogue.ts";
import { random } from "../synthetic.ts";

const WORDS = (
  "the sea light keeper island storm tide harbour boat brother sister night winter granite tower lamp oil bargain " +
  "grief promise village letter shore fog bell rope net salt wind rain house door window fire bread silence voice " +
  "memory dream morning evening stranger friend mother father debt secret map chart compass wreck lantern gull " +
  "cliff stone path church fisherman widow child song prayer ledger clock kettle blanket coat boots her his they " +
  "walks waits listens remembers hides finds loses keeps breaks burns climbs falls answers refuses returns leaves " +
  "slowly quietly again always never almost before after under over through against beyond within cold bright dark"
).split(" ");

/** `length` characters of sentences, the same for the same seed. */
function prose(seed: number, length: number): string {
  const next = random(seed);
  let text = "";
  while (text.length < length) {
    const words = Array.from({ length: 6 + Math.floor(next() * 12) }, () => WORDS[Math.floor(next() * WORDS.length)]!);
    const sentence = words.join(" ");
    text += `${sentence[0]!.toUpperCase()}${sentence.slice(1)}. `;
  }
  return text.slice(0, length).trimEnd();
}

/** The module's output as the writer's draft number `draft` of story `story` has it. */
export function moduleOutput(module: ModuleName, story: number, draft: number): Record<string, unknown> {
  const seed = story * 1_000_003 + draft * 101;
  switch (module) {
    case "IDEA_SPARK":
      return {
        logline: prose(seed + 1, 180),
        one_liner: prose(seed + 2, 60),
        premise: prose(seed + 3, 700),
        themes: [1, 2, 3, 4].map((i) => prose(seed + 10 + i, 60)),
      };
    case "WORLD_SEED":
      return {
        setting: prose(seed + 1, 1_200),
        time_period: prose(seed + 2, 40),
        locations: [1, 2, 3, 4, 5].map((i) => ({ name: prose(seed + 10 + i, 24), description: prose(seed + 20 + i, 360) })),
        rules: [1, 2, 3, 4, 5, 6].map((i) => prose(seed + 30 + i, 150)),
        tone: prose(seed + 3, 120),
      };
    case "CHARACTER_FORGE":
      return {
        characters: [1, 2, 3, 4, 5].map((i) => ({
          name: prose(seed + 10 * i, 16),
          role: prose(seed + 10 * i + 1, 20),
          want: prose(seed + 10 * i + 2, 120),
          need: prose(seed + 10 * i + 3, 120),
          flaw: prose(seed + 10 * i + 4, 80),
          arc: prose(seed + 10 * i + 5, 260),
          description: prose(seed + 10 * i + 6, 420),
        })),
      };
    case "PLOT_SKELETON":
      return {
        structure: "three-act",
        beats: Array.from({ length: 15 }, (_, i) => ({ name: prose(seed + 10 + i, 24), summary: prose(seed + 40 + i, 330) })),
      };
    case "WORDSMITH_LAB":
      return { prose: prose(seed + 1, 8_000), style: prose(seed + 2, 240), notes: prose(seed + 3, 600) };
  }
}

/** The writer's notes that go with a draft. */
export function moduleNotes(module: ModuleName, story: number, draft: number): string {
  return `${module.toLowerCase()} draft ${draft}: ${prose(story * 7_919 + draft, 120)}`;
}
