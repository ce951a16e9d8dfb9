// Scenario "fold": evolve over 1,000,000 synthetic events in process (no database).
import { foldEvents } from "../src/domain/story.ts";
import { fmt, report } from "./lib.ts";
import { random, storyHistory } from "./synthetic.ts";

const STORIES = 1_000;
const EVENTS_PER_STORY = 1_000;

async function main() {
  const next = random(1125);
  const generationStarted = performance.now();
  const histories = Array.from({ length: STORIES }, () => storyHistory("00000000-0000-4000-8000-000000000001", EVENTS_PER_STORY, next));
  const generationSeconds = (performance.now() - generationStarted) / 1000;
  const total = histories.reduce((n, h) => n + h.length, 0);

  let best = Infinity;
  let versions = 0;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    versions = 0;
    for (const events of histories) versions += foldEvents(events[0]!.storyId, events).versions.latestNumber;
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  const perSecond = total / best;
  await report(
    "fold",
    `\`evolve\` over ${fmt.n(total)} synthetic events (${fmt.n(STORIES)} stories × ${fmt.n(EVENTS_PER_STORY)}: writes, clears, undos, redos, restores, detail changes) in process, best of 3; no baseline.`,
    [
      { metric: "events/s", value: fmt.n(perSecond), target: "≥ 1,000,000", met: perSecond >= 1_000_000 },
      { metric: "fold time", value: `${best.toFixed(2)} s`, },
      { metric: "versions made", value: fmt.n(versions) },
      { metric: "generating the events (decide + evolve, not timed above)", value: `${generationSeconds.toFixed(1)} s` },
      { metric: "memory (bench process RSS)", value: fmt.mb(process.memoryUsage().rss / 2 ** 20) },
    ],
  );
}

await main();
