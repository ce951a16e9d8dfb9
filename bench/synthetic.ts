// Synthetic story histories for the benchmarks, made by the domain's own decide and evolve.
import { randomUUID } from "node:crypto";
import { MODULES } from "../src/domain/catalogue.ts";
import { EVENT_SCHEMA_VERSION, decide, evolve, initialState, type ModuleIds, type RecordedStoryEvent, type StoryCommand } from "../src/domain/story.ts";

/** A seeded PRNG, so every run folds the same histories. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Realistic small outputs, 200 to 500 bytes of JSON each. */
const OUTPUTS = [
  {
    logline: "A grieving lighthouse keeper who hears the sea speak must win back her drowned brother before the spring tide claims her island.",
    one_liner: "Grief, tides and a bargain.",
    premise: "Mara keeps the Skerry light alone since Ewan drowned; the sea offers him back, for a price she cannot see.",
    themes: ["Can grief be bargained with?", "What do we owe the dead?"],
  },
  {
    setting: "A storm-lashed North Sea island in 1893, one granite tower and a harbour of three boats.",
    time_period: "Late autumn, 1893",
    tone: "Quiet dread with warmth",
    rules: ["The sea keeps every promise made to it.", "It takes a life for each one broken."],
  },
  {
    characters: [
      { name: "Mara", role: "protagonist", want: "her brother back", need: "to let go", flaw: "pride", arc: "from bargaining to grief", description: "Keeper of the light." },
      { name: "Ewan", role: "the drowned brother", want: "to come home", need: "to be mourned", flaw: "recklessness", arc: "", description: "" },
    ],
  },
  {
    structure: "three-act",
    beats: [
      { name: "Inciting incident", summary: "The sea speaks Mara's name on the night of the storm." },
      { name: "Midpoint", summary: "The bargain is struck; the tide turns against the island." },
    ],
  },
  {
    prose: "The lamp turned. Somewhere below, the water said her name, the way Ewan used to, half a laugh and half a warning.",
    style: "close third, past tense",
    notes: "Tighten the second paragraph.",
  },
];

/** One story's history of `length` events: mostly writes, with clears, undos, redos, restores and detail changes. */
export type SyntheticEvent = RecordedStoryEvent & { activeVersionNumber: number };

export function storyHistory(ownerId: string, length: number, next: () => number): SyntheticEvent[] {
  const storyId = randomUUID();
  const moduleIds = Object.fromEntries(MODULES.map((m) => [m.snapshotKey, randomUUID()])) as unknown as ModuleIds;
  let state = initialState(storyId);
  const events: SyntheticEvent[] = [];
  const started = Date.UTC(2026, 0, 1);
  const record = (command: StoryCommand) => {
    for (const data of decide(command, state)) {
      const event = {
        ...data,
        id: randomUUID(),
        storyId,
        seq: state.revision + 1,
        schemaVersion: EVENT_SCHEMA_VERSION,
        actorId: ownerId,
        createdAt: new Date(started + events.length * 1000),
      } as RecordedStoryEvent;
      state = evolve(state, event);
      // what the command path stores beside each event
      events.push({ ...event, activeVersionNumber: state.activeVersionNumber });
    }
  };
  record({ type: "CreateStory", ownerId, title: "Synthetic", logline: null, genre: null, versionId: randomUUID(), moduleIds });
  while (events.length < length) {
    const roll = next();
    const module = MODULES[Math.floor(next() * MODULES.length)]!;
    try {
      if (roll < 0.6) {
        record({ type: "WriteModule", module: module.name, output: { ...OUTPUTS[module.order - 1], n: events.length }, inputText: `notes ${events.length}`, versionId: randomUUID() });
      } else if (roll < 0.68) record({ type: "ClearModule", module: module.name, versionId: randomUUID() });
      else if (roll < 0.8) record({ type: "Undo", actorId: ownerId, versionId: randomUUID() });
      else if (roll < 0.9) record({ type: "Redo", actorId: ownerId, versionId: randomUUID() });
      else if (roll < 0.95) record({ type: "RestoreVersion", number: 1 + Math.floor(next() * state.versions.latestNumber), versionId: randomUUID() });
      else record({ type: "ChangeStoryDetails", details: { title: `Title ${events.length}` } });
    } catch {
      // nothing to undo or redo: try another command
    }
  }
  return events;
}
