// The module catalogue: the one definition of Story Spark's five modules.
// Names, order, snapshot keys, output schemas and size limits all derive from here.
import { z } from "zod";

const text = (max: number) => z.string().max(max);
const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).max(max);

const ideaSpark = z.object({
  logline: text(1_000).describe("One sentence: protagonist, goal, obstacle and stakes."),
  one_liner: text(300).describe("The story pitched in a dozen words."),
  premise: text(4_000).describe("What the story is about, in a short paragraph."),
  themes: list(text(200), 12).describe("The questions the story keeps asking."),
});

const worldSeed = z.object({
  setting: text(8_000).describe("Where and when the story takes place, and how it feels to be there."),
  time_period: text(300),
  locations: list(z.object({ name: text(200), description: text(2_000) }), 50),
  rules: list(text(1_000), 50).describe("How the world works: its laws, magic, technology, customs."),
  tone: text(500),
});

const characterForge = z.object({
  characters: list(
    z.object({
      name: text(200),
      role: text(200).describe("protagonist, antagonist, mentor, ..."),
      want: text(1_000).describe("What they pursue."),
      need: text(1_000).describe("What they must learn or become."),
      flaw: text(1_000),
      arc: text(2_000),
      description: text(4_000),
    }),
    100,
  ),
});

const plotSkeleton = z.object({
  structure: text(200).describe("The shape chosen, e.g. three-act, Save the Cat, hero's journey."),
  beats: list(z.object({ name: text(200), summary: text(4_000) }), 200),
});

const wordsmithLab = z.object({
  prose: text(150_000).describe("Draft prose."),
  style: text(2_000).describe("Voice, point of view, tense and diction."),
  notes: text(8_000),
});

/** The catalogue in story order. `as const` keeps each entry's literal types. */
export const MODULES = [
  { name: "IDEA_SPARK", moduleName: "idea-spark", snapshotKey: "idea_spark", order: 1, title: "Idea Spark", outputSchema: ideaSpark },
  { name: "WORLD_SEED", moduleName: "world-seed", snapshotKey: "world_seed", order: 2, title: "World Seed", outputSchema: worldSeed },
  { name: "CHARACTER_FORGE", moduleName: "character-forge", snapshotKey: "character_forge", order: 3, title: "Character Forge", outputSchema: characterForge },
  { name: "PLOT_SKELETON", moduleName: "plot-skeleton", snapshotKey: "plot_skeleton", order: 4, title: "Plot Skeleton", outputSchema: plotSkeleton },
  { name: "WORDSMITH_LAB", moduleName: "wordsmith-lab", snapshotKey: "wordsmith_lab", order: 5, title: "Wordsmith Lab", outputSchema: wordsmithLab },
] as const;

export type ModuleDefinition = (typeof MODULES)[number];
export type ModuleName = ModuleDefinition["name"];
export type SnapshotKey = ModuleDefinition["snapshotKey"];

/** Size limits, in bytes of UTF-8 (JSON is measured serialised). */
export const LIMITS = {
  outputBytes: 200 * 1024,
  inputTextBytes: 100 * 1024,
  titleChars: 200,
  loglineChars: 1_000,
  genreChars: 100,
  labelChars: 100,
  metadataKeyChars: 200,
  metadataValueBytes: 64 * 1024,
  /** entries under one story, module or version */
  metadataKeysPerParent: 100,
  /** nesting of any JSON value a client sends (module output, metadata values, imports) */
  jsonDepth: 64,
} as const;

export const SNAPSHOT_KEYS: readonly SnapshotKey[] = MODULES.map((m) => m.snapshotKey);

const byName = new Map<string, ModuleDefinition>(MODULES.map((m) => [m.name, m]));
const bySnapshotKey = new Map<string, ModuleDefinition>(MODULES.map((m) => [m.snapshotKey, m]));

export function moduleByName(name: string): ModuleDefinition | undefined {
  return byName.get(name);
}

export function moduleBySnapshotKey(key: string): ModuleDefinition | undefined {
  return bySnapshotKey.get(key);
}

/** What a module holds: its output object and the writer's input text, each or both absent. */
export type JsonObject = { readonly [key: string]: unknown };
export type ModuleOutputs = { readonly [K in SnapshotKey]: JsonObject | null };
export type ModuleInputs = { readonly [K in SnapshotKey]: string | null };

export const EMPTY_OUTPUTS: ModuleOutputs = Object.freeze(
  Object.fromEntries(SNAPSHOT_KEYS.map((k) => [k, null])) as Record<SnapshotKey, null>,
);
export const EMPTY_INPUTS: ModuleInputs = EMPTY_OUTPUTS as ModuleInputs;

/**
 * A hand-written output is the writer's work in progress, checked leniently: any subset of
 * the module's fields at every level (a character with only a name, a beat with only a
 * summary), each present field of the right type and within its limits, plus fields of the
 * writer's own. Generated output must match the full schema (see the AI module).
 */
export function manualOutputSchema(module: ModuleDefinition): z.ZodType {
  let schema = manualSchemas.get(module.name);
  if (!schema) {
    schema = workInProgress(module.outputSchema);
    manualSchemas.set(module.name, schema);
  }
  return schema;
}

/** Every object's fields optional and open to others, down through arrays and nested objects. */
function workInProgress(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodObject) {
    const shape = schema.shape as Record<string, z.ZodType>;
    return z.looseObject(Object.fromEntries(Object.entries(shape).map(([key, field]) => [key, workInProgress(field).optional()])));
  }
  // a clone keeps the array's own checks (its maximum length)
  if (schema instanceof z.ZodArray) return schema.clone({ ...schema.def, element: workInProgress(schema.element as z.ZodType) });
  return schema;
}

/** Built once: zod compiles a schema on first use. */
const manualSchemas = new Map<ModuleName, z.ZodType>();

/** A snapshot-shaped object with its keys in story order (jsonb stores keys in its own order). */
export function inStoryOrder(snapshot: unknown): { [K in SnapshotKey]: unknown } {
  const source = (typeof snapshot === "object" && snapshot !== null ? snapshot : {}) as Record<string, unknown>;
  return Object.fromEntries(SNAPSHOT_KEYS.map((key) => [key, source[key] ?? null])) as { [K in SnapshotKey]: unknown };
}
