// Prompt building: which modules a prompt sees, what each message carries, and that every module's brief covers its schema.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { MODULES, moduleByName, type ModuleDefinition, type ModuleName } from "../src/domain/catalogue.ts";
import { buildPromptMessages, PROMPT_VERSION, repairMessage, upstreamModulesOf, type PromptInput } from "../src/ai/prompts.ts";

function mod(name: ModuleName): ModuleDefinition {
  const found = moduleByName(name);
  if (!found) throw new Error(`no module ${name}`);
  return found;
}

/** Every field name of a schema, nested ones included (locations[].name, characters[].want, ...). */
function fieldNames(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape).flatMap(([key, child]) => [key, ...fieldNames(child as z.ZodType)]);
  }
  if (schema instanceof z.ZodArray) return fieldNames(schema.element as z.ZodType);
  return [];
}

const idea = {
  logline: "A grieving lighthouse keeper discovers the sea is bargaining for her brother's soul and must outwit it before the spring tide.",
  one_liner: "Grief, tides and a bargain.",
  premise: "Mara keeps the light alone.",
  themes: ["Can grief be bargained with?"],
};

function input(module: ModuleDefinition, overrides: Partial<PromptInput> = {}): PromptInput {
  return {
    module,
    inputText: "",
    story: { title: "The Lighthouse Keeper", logline: null, genre: "mystery" },
    upstream: upstreamModulesOf(module).map((m) => ({ module: m, inputText: null, output: null })),
    ...overrides,
  };
}

function messages(module: ModuleDefinition, overrides: Partial<PromptInput> = {}) {
  const [system, user, ...rest] = buildPromptMessages(input(module, overrides));
  if (!system || !user) throw new Error("expected a system and a user message");
  return { system, user, rest };
}

describe("upstreamModulesOf", () => {
  it("gives Idea Spark no upstream", () => {
    expect(upstreamModulesOf(mod("IDEA_SPARK"))).toEqual([]);
  });

  it("gives World Seed Idea Spark", () => {
    expect(upstreamModulesOf(mod("WORLD_SEED")).map((m) => m.name)).toEqual(["IDEA_SPARK"]);
  });

  it("gives each module every earlier module in story order; Wordsmith Lab sees four", () => {
    expect(upstreamModulesOf(mod("CHARACTER_FORGE")).map((m) => m.name)).toEqual(["IDEA_SPARK", "WORLD_SEED"]);
    expect(upstreamModulesOf(mod("PLOT_SKELETON")).map((m) => m.name)).toEqual(["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE"]);
    expect(upstreamModulesOf(mod("WORDSMITH_LAB")).map((m) => m.name)).toEqual(["IDEA_SPARK", "WORLD_SEED", "CHARACTER_FORGE", "PLOT_SKELETON"]);
  });
});

describe("buildPromptMessages", () => {
  it("returns a system message then a user message", () => {
    const { system, user, rest } = messages(mod("IDEA_SPARK"));
    expect(system.role).toBe("system");
    expect(user.role).toBe("user");
    expect(rest).toEqual([]);
  });

  it.each(MODULES.map((m) => [m.title, m] as const))("names %s and every output field of its schema in the system message", (_title, module) => {
    const { system } = messages(module);
    expect(system.content).toContain(module.title);
    for (const field of fieldNames(module.outputSchema)) expect(system.content).toContain(`\`${field}\``);
  });

  it.each(MODULES.map((m) => [m.title, m] as const))("gives %s instructions of a usable length", (_title, module) => {
    const { system } = messages(module);
    const brief = system.content.split(`# This module: ${module.title}`)[1] ?? "";
    const words = brief.split(/\s+/).filter(Boolean).length;
    expect(words).toBeGreaterThanOrEqual(150);
    expect(words).toBeLessThanOrEqual(380);
  });

  it("states the output rules in the system message", () => {
    const { system } = messages(mod("WORLD_SEED"));
    expect(system.content).toMatch(/JSON object that matches the schema/);
    expect(system.content).toMatch(/never contradict/);
    expect(system.content).toMatch(/No meta commentary/);
    expect(system.content).toMatch(/same language as the writer's notes/);
  });

  it("puts the story's title, logline and genre in the user message", () => {
    const { user } = messages(mod("IDEA_SPARK"), { story: { title: "The Lighthouse Keeper", logline: "A keeper hears the sea.", genre: "mystery" } });
    expect(user.content).toContain("# Story\nTitle: The Lighthouse Keeper\nLogline: A keeper hears the sea.\nGenre: mystery");
  });

  it("marks a missing logline and genre as not set", () => {
    const { user } = messages(mod("IDEA_SPARK"), { story: { title: "Untitled draft", logline: null, genre: null } });
    expect(user.content).toContain("Logline: not set\nGenre: not set");
  });

  it("tells Idea Spark it has no upstream modules", () => {
    const { user } = messages(mod("IDEA_SPARK"));
    expect(user.content).toContain("# Upstream modules\nNone: Idea Spark is the first module.");
  });

  it("includes upstream outputs as labelled JSON and 'not written yet' for empty modules", () => {
    const module = mod("PLOT_SKELETON");
    const { user } = messages(module, {
      upstream: [
        { module: mod("IDEA_SPARK"), inputText: "a keeper who hears the sea", output: idea },
        { module: mod("WORLD_SEED"), inputText: null, output: null },
        { module: mod("CHARACTER_FORGE"), inputText: null, output: null },
      ],
    });
    expect(user.content).toContain(idea.logline);
    expect(user.content).toContain(`## Idea Spark (idea_spark)\n${JSON.stringify(idea)}`);
    expect(user.content).toContain("## World Seed (world_seed)\nnot written yet");
    expect(user.content).toContain("## Character Forge (character_forge)\nnot written yet");
  });

  it("lists upstream modules in story order whatever order they were passed in, and never a later module", () => {
    const module = mod("CHARACTER_FORGE");
    const { user } = messages(module, {
      upstream: [
        { module: mod("PLOT_SKELETON"), inputText: null, output: { structure: "three-act", beats: [] } },
        { module: mod("WORLD_SEED"), inputText: null, output: { setting: "A storm-lashed island" } },
        { module: mod("IDEA_SPARK"), inputText: null, output: idea },
      ],
    });
    expect(user.content.indexOf("## Idea Spark")).toBeLessThan(user.content.indexOf("## World Seed"));
    expect(user.content).toContain("A storm-lashed island");
    expect(user.content).not.toContain("Plot Skeleton");
    expect(user.content).not.toContain("three-act");
  });

  it("shows 'not written yet' for an upstream module the caller left out", () => {
    const { user } = messages(mod("WORLD_SEED"), { upstream: [] });
    expect(user.content).toContain("## Idea Spark (idea_spark)\nnot written yet");
  });

  it("passes on the writer's notes for an upstream module that is not written yet", () => {
    const { user } = messages(mod("WORLD_SEED"), { upstream: [{ module: mod("IDEA_SPARK"), inputText: "a keeper who hears the sea", output: null }] });
    expect(user.content).toContain('not written yet (the writer\'s notes for it: "a keeper who hears the sea")');
  });

  it("includes the writer's notes under their own heading", () => {
    const notes = "Make the sea the antagonist.\nKeep it quiet and eerie.";
    const { user } = messages(mod("WORLD_SEED"), { inputText: notes });
    expect(user.content).toContain(`# Writer's notes for World Seed\n"""\n${notes}\n"""`);
  });

  it("says there are no notes when the writer left none", () => {
    for (const inputText of ["", "  \n "]) {
      const { user } = messages(mod("WORLD_SEED"), { inputText });
      expect(user.content).toMatch(/# Writer's notes for World Seed\nNone for this run\. Work from what exists/);
    }
  });

  it("ends with the task, naming the module and its fields", () => {
    const { user } = messages(mod("PLOT_SKELETON"));
    expect(user.content).toMatch(/# Task\nWrite the Plot Skeleton module for "The Lighthouse Keeper": one JSON object with `structure` and `beats`\.$/);
  });

  it("keeps the sections in a stable order", () => {
    const { user } = messages(mod("WORDSMITH_LAB"), { inputText: "Draft the opening." });
    const headings = user.content.split("\n").filter((line) => line.startsWith("# "));
    expect(headings).toEqual(["# Story", "# Upstream modules", "# Writer's notes for Wordsmith Lab", "# Task"]);
  });

  it("is pure: the same input gives the same messages", () => {
    const module = mod("CHARACTER_FORGE");
    expect(buildPromptMessages(input(module))).toEqual(buildPromptMessages(input(module)));
  });
});

describe("PROMPT_VERSION", () => {
  it("is a non-empty string", () => {
    expect(PROMPT_VERSION.trim()).not.toBe("");
  });
});

describe("repairMessage", () => {
  it("is a user message quoting the problem and asking for the full corrected JSON only", () => {
    const problem = "beats: expected array, received string";
    const message = repairMessage(problem);
    expect(message.role).toBe("user");
    expect(message.content).toContain(`"""\n${problem}\n"""`);
    expect(message.content).toMatch(/full corrected JSON object/);
    expect(message.content).toMatch(/nothing else/);
  });
});
