// What a module's output may hold: a writer's work in progress by hand, the full schema from the AI.
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { outputJsonSchema } from "../../src/ai/outputSchema.ts";
import { MODULES, manualOutputSchema, moduleByName } from "../../src/domain/catalogue.ts";

const characterForge = moduleByName("CHARACTER_FORGE")!;
const plotSkeleton = moduleByName("PLOT_SKELETON")!;
const worldSeed = moduleByName("WORLD_SEED")!;

/** The path and message of the first problem, or null when the output is accepted. */
function problem(schema: z.ZodType, output: unknown): string | null {
  const checked = schema.safeParse(output);
  if (checked.success) return null;
  const issue = checked.error.issues[0]!;
  return `${issue.path.join(".")}: ${issue.message}`;
}

describe("a hand-written output", () => {
  it("may be empty, for every module", () => {
    for (const module of MODULES) expect(problem(manualOutputSchema(module), {}), module.name).toBeNull();
  });

  it("may hold a character with only a name and a role", () => {
    expect(problem(manualOutputSchema(characterForge), { characters: [{ name: "Mara", role: "protagonist" }] })).toBeNull();
  });

  it("may hold a beat with only a summary, and a location with only a name", () => {
    expect(problem(manualOutputSchema(plotSkeleton), { beats: [{ summary: "The storm." }] })).toBeNull();
    expect(problem(manualOutputSchema(worldSeed), { locations: [{ name: "The quay" }] })).toBeNull();
  });

  it("may hold fields of the writer's own, at every level", () => {
    const output = { mood: "dread", characters: [{ name: "Mara", secret: { kept: true } }] };
    expect(problem(manualOutputSchema(characterForge), output)).toBeNull();
  });

  it("must give each present field its type, at every level", () => {
    expect(problem(manualOutputSchema(characterForge), { characters: [{ name: 7 }] })).toMatch(/^characters\.0\.name: .*expected string/);
    expect(problem(manualOutputSchema(characterForge), { characters: ["Mara"] })).toMatch(/^characters\.0: .*expected object/);
    expect(problem(manualOutputSchema(characterForge), { characters: { name: "Mara" } })).toMatch(/^characters: .*expected array/);
    expect(problem(manualOutputSchema(plotSkeleton), { beats: [{}, { summary: ["a"] }] })).toMatch(/^beats\.1\.summary: /);
    expect(problem(manualOutputSchema(moduleByName("IDEA_SPARK")!), { themes: ["grief", 2] })).toMatch(/^themes\.1: /);
  });

  it("must keep within the limits of each field, at every level", () => {
    const cast = (n: number) => ({ characters: Array.from({ length: n }, () => ({})) });
    expect(problem(manualOutputSchema(characterForge), cast(100))).toBeNull();
    expect(problem(manualOutputSchema(characterForge), cast(101))).toMatch(/^characters: .*<=100/);
    expect(problem(manualOutputSchema(characterForge), { characters: [{ name: "n".repeat(201) }] })).toMatch(/^characters\.0\.name: .*<=200/);
  });
});

describe("a generated output", () => {
  it("must hold every field of the module, at every level", () => {
    const character = { name: "Mara", role: "protagonist", want: "w", need: "n", flaw: "f", arc: "a", description: "d" };
    expect(problem(characterForge.outputSchema, { characters: [character] })).toBeNull();
    expect(problem(characterForge.outputSchema, { characters: [{ name: "Mara", role: "protagonist" }] })).toMatch(/^characters\.0\.want: /);
  });

  it("is asked of the model with every field required, at every level", () => {
    const schema = outputJsonSchema(characterForge) as { properties: { characters: { items: { required: string[] } } } };
    expect(schema.properties.characters.items.required).toEqual(["name", "role", "want", "need", "flaw", "arc", "description"]);
  });
});
