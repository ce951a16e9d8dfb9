// Renders an exported story as a readable Markdown "story bible": the modules, then the version history.
// Everything the writer typed is escaped (see `literal`): it reads as typed and never becomes
// markup of its own — no HTML, links, images, headings, lists or code.
import { z } from "zod";
import { moduleByName } from "../domain/catalogue.ts";
import type { StoryExport } from "./exportFormat.ts";

type JsonRecord = { readonly [key: string]: unknown };

/** Markdown has six heading levels; anything nested deeper stays at the last one. */
const DEEPEST_HEADING = 6;

export function storyToMarkdown(story: StoryExport): string {
  const blocks: string[] = [`# ${literal(oneLine(story.story.title))}`, storyLine(story)];

  for (const module of story.modules) {
    blocks.push(`## ${module.order}. ${oneLine(module.title)}`);
    if (module.inputText !== null && module.inputText.trim() !== "") blocks.push(blockquote(module.inputText));
    if (module.output === null) {
      blocks.push("_Empty._");
    } else {
      const fields = renderFields(module.output, moduleByName(module.name)?.outputSchema, 3);
      blocks.push(...(fields.length > 0 ? fields : ["_Empty._"]));
    }
  }

  blocks.push("## Version history", versionTable(story));
  blocks.push(`_Exported from Story Spark at ${story.exportedAt}._`);
  return `${blocks.join("\n\n")}\n`;
}

function storyLine(story: StoryExport): string {
  const parts: string[] = [];
  if (story.story.genre) parts.push(`**Genre:** ${literal(oneLine(story.story.genre))}`);
  if (story.story.logline) parts.push(`**Logline:** ${literal(oneLine(story.story.logline))}`);
  parts.push(story.story.isComplete ? "**Complete**" : "**In progress**");
  return parts.join(" · ");
}

// ---------------------------------------------------------------- module output

/**
 * `headingLevel` is the level a sub-section at this depth gets. Fields that open sub-sections come
 * after the plain ones: a paragraph after a heading would read as part of that heading's section.
 */
function renderFields(object: JsonRecord, schema: z.ZodType | undefined, headingLevel: number): string[] {
  const shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : undefined;
  const keys = keysInFieldOrder(object, shape);
  const opensSections = (key: string) => rendersAsSections(object[key]);
  return [...keys.filter((key) => !opensSections(key)), ...keys.filter(opensSections)].flatMap((key) =>
    renderField(literal(humanise(key)), object[key], shape?.[key], headingLevel),
  );
}

function rendersAsSections(value: unknown): boolean {
  return isRecord(value) || (Array.isArray(value) && !value.every(isScalar));
}

function renderField(label: string, value: unknown, schema: z.ZodType | undefined, headingLevel: number): string[] {
  if (value === null || value === undefined || value === "") return [];
  if (typeof value === "string") return [`**${label}**`, literal(value)];
  if (Array.isArray(value)) {
    if (value.length === 0) return [];
    const element = schema instanceof z.ZodArray ? (schema.element as z.ZodType) : undefined;
    if (!rendersAsSections(value)) return [`**${label}**`, bulletList(value)];
    return [`**${label}**`, ...value.flatMap((item, index) => renderSubsection(item, index, element, headingLevel))];
  }
  if (isRecord(value)) {
    const fields = renderFields(value, schema, Math.min(headingLevel + 1, DEEPEST_HEADING));
    return fields.length > 0 ? [heading(headingLevel, label), ...fields] : [];
  }
  return [`**${label}:** ${literal(String(value))}`];
}

/** An array element that is not a plain string: a section of its own, titled by its name when it has one. */
function renderSubsection(item: unknown, index: number, schema: z.ZodType | undefined, headingLevel: number): string[] {
  const name = isRecord(item) && typeof item["name"] === "string" && item["name"].trim() !== "" ? item["name"] : null;
  const title = heading(headingLevel, name === null ? `${index + 1}.` : literal(oneLine(name)));
  const deeper = Math.min(headingLevel + 1, DEEPEST_HEADING);
  if (isRecord(item)) {
    const rest = Object.fromEntries(Object.entries(item).filter(([key]) => !(key === "name" && name !== null)));
    const fields = renderFields(rest, schema, deeper);
    return [title, ...(fields.length > 0 ? fields : ["_Empty._"])];
  }
  if (Array.isArray(item)) return [title, ...renderField("Items", item, schema, deeper)];
  return [title, item === null ? "_Empty._" : literal(String(item))];
}

function bulletList(items: readonly unknown[]): string {
  // Continuation lines are indented so a multi-line item stays one bullet.
  return items.map((item) => `- ${literal(String(item)).split("\n").join("\n  ")}`).join("\n");
}

function blockquote(text: string): string {
  return literal(text)
    .split("\n")
    .map((line) => (line === "" ? ">" : `> ${line}`))
    .join("\n");
}

function heading(level: number, text: string): string {
  return `${"#".repeat(level)} ${text}`;
}

/** The catalogue's fields first, in its order; then the writer's own fields in the order stored. */
function keysInFieldOrder(object: JsonRecord, shape: Record<string, z.ZodType> | undefined): string[] {
  const known = shape ? Object.keys(shape).filter((key) => Object.hasOwn(object, key)) : [];
  const knownSet = new Set(known);
  return [...known, ...Object.keys(object).filter((key) => !knownSet.has(key))];
}

/** `one_liner` → "One liner", `timePeriod` → "Time period". */
function humanise(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .trim()
    .toLowerCase();
  return words === "" ? key : words.charAt(0).toUpperCase() + words.slice(1);
}

function isScalar(value: unknown): boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Headings and the summary line are single lines; a stray newline would end them early. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

// ---------------------------------------------------------------- version history

function versionTable(story: StoryExport): string {
  const eventsBySeq = new Map(story.events.map((event) => [event.seq, event]));
  const active = story.story.activeVersionNumber;
  const rows = story.versions.map((version) => [
    String(version.number),
    isoDateTime(version.createdAt),
    describeEvent(eventsBySeq.get(version.eventSeq)),
    version.parentNumber === null ? "—" : String(version.parentNumber),
    literal(oneLine(version.label ?? "")),
    version.number === active ? "**active**" : "",
  ]);
  const header = ["#", "Created", "Made by", "Parent", "Label", "Active"];
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.map(oneLine).join(" | ")} |`).join("\n");
}

function describeEvent(event: StoryExport["events"][number] | undefined): string {
  if (event === undefined) return "—";
  const payload = event.payload;
  const moduleTitle = () => {
    const name = payload["module"];
    return typeof name === "string" ? (moduleByName(name)?.title ?? literal(oneLine(name))) : "a module";
  };
  switch (event.type) {
    case "StoryCreated":
      return "Story created";
    case "ModuleWritten":
      return `Wrote ${moduleTitle()}`;
    case "ModuleCleared":
      return `Cleared ${moduleTitle()}`;
    case "VersionRestored":
      return typeof payload["restoredNumber"] === "number" ? `Restored version ${payload["restoredNumber"]}` : "Restored a version";
    case "BranchCreated": {
      const parent = payload["parent"] as { versionNumber?: unknown } | undefined;
      const label = typeof payload["label"] === "string" ? ` “${literal(oneLine(payload["label"]))}”` : "";
      return typeof parent?.versionNumber === "number" ? `Branch${label} made from version ${parent.versionNumber} of another story` : `Branch${label} made`;
    }
    case "BranchMerged": {
      const branch = payload["branch"] as { versionNumber?: unknown } | undefined;
      const modules = Array.isArray(payload["modules"]) ? payload["modules"].length : 0;
      return `Merged version ${typeof branch?.versionNumber === "number" ? branch.versionNumber : "?"} of a branch (${modules} module${modules === 1 ? "" : "s"} changed)`;
    }
    default:
      return literal(oneLine(event.type));
  }
}

function isoDateTime(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}

// ---------------------------------------------------------------- the writer's text

/** Characters that start markup anywhere in a line: emphasis, code, links, images, HTML, headings, tables. */
const INLINE_MARKUP = /[\\`*_[\]<>()!#|~]/g;

/**
 * The writer's text as Markdown that renders exactly as typed. Inline markup characters are
 * backslash-escaped wherever they are; at a line's start, list markers (`-`, `+`, `1.`) and
 * setext underlines (`=`) are too. Letters, digits and ordinary punctuation stay as they are,
 * so the source still reads as prose.
 */
export function literal(text: string): string {
  return text
    .replace(INLINE_MARKUP, "\\$&")
    .split("\n")
    .map((line) => line.replace(/^(\s*)([-+=])/, "$1\\$2").replace(/^(\s*\d+)\./, "$1\\."))
    .join("\n");
}
