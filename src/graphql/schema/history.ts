// Reading history: a story as of any revision, what changed between versions, and
// exporting and importing a whole story.
import { builder } from "../builder.ts";
import { orNotFound, versionKey } from "../loaders.ts";
import { idOf } from "../globalIds.ts";
import { StorySparkError, notFound } from "../../domain/errors.ts";
import { EMPTY_INPUTS, EMPTY_OUTPUTS, inStoryOrder, type ModuleInputs, type ModuleName, type ModuleOutputs } from "../../domain/catalogue.ts";
import { readStream } from "../../eventstore/eventStore.ts";
import { storyAtRevision, type StoryAtRevision } from "../../history/storyAt.ts";
import { diffVersions, type FieldChange, type LineChange, type ModuleDiff } from "../../history/versionDiff.ts";
import { buildStoryExport } from "../../history/exportStory.ts";
import { storyToMarkdown } from "../../history/storyMarkdown.ts";
import { importStory } from "../../commands/importStory.ts";
import type { StoryVersion } from "../../generated/prisma/client.ts";
import { ModuleNameEnum } from "./storyModule.ts";
import { StoryType, StoryChangePayload, type StoryChange } from "./story.ts";
import { StoryVersionType } from "./storyVersion.ts";

// ------------------------------------------------------------------ story.at(revision)

const ModuleAtRevision = builder
  .objectRef<StoryAtRevision["modules"][number]>("ModuleAtRevision")
  .implement({
    fields: (t) => ({
      name: t.field({ type: ModuleNameEnum, resolve: (m) => m.name as ModuleName }),
      order: t.exposeInt("order"),
      inputText: t.exposeString("inputText", { nullable: true }),
      output: t.field({ type: "JSON", nullable: true, resolve: (m) => m.output }),
    }),
  });

const StoryRevision = builder.objectRef<StoryAtRevision>("StoryRevision").implement({
  description: "The story as it was right after one event of its log.",
  fields: (t) => ({
    revision: t.exposeInt("revision"),
    title: t.exposeString("title"),
    logline: t.exposeString("logline", { nullable: true }),
    genre: t.exposeString("genre", { nullable: true }),
    isComplete: t.exposeBoolean("isComplete"),
    activeVersionNumber: t.exposeInt("activeVersionNumber"),
    activeVersion: t.field({
      type: StoryVersionType,
      resolve: async (at, _args, context) =>
        orNotFound(await context.loaders.versionByNumber.load(versionKey(at.storyId, at.activeVersionNumber)), "version"),
    }),
    canUndo: t.exposeBoolean("canUndo"),
    canRedo: t.exposeBoolean("canRedo"),
    modules: t.field({ type: [ModuleAtRevision], resolve: (at) => at.modules }),
  }),
});

builder.objectField(StoryType, "at", (t) =>
  t.field({
    type: StoryRevision,
    description: "The story as of `revision` (1 … revision): its log replayed up to that event.",
    args: { revision: t.arg.int({ required: true }) },
    resolve: async (story, { revision }, context) => {
      if (revision < 1 || revision > story.revision) throw notFound(`revision ${revision}`);
      return storyAtRevision(story.id, await readStream(context.reader, story.id, { limit: revision }));
    },
  }),
);

// ------------------------------------------------------------------ version.diff(against)

const LineChangeType = builder.objectRef<LineChange>("LineChange").implement({
  fields: (t) => ({
    op: t.exposeString("op", { description: "equal, added or removed" }),
    text: t.exposeString("text"),
  }),
});

const FieldChangeType = builder.objectRef<FieldChange>("FieldChange").implement({
  fields: (t) => ({
    path: t.exposeString("path", { description: 'e.g. "logline", "characters[2].name"; "" for the whole output' }),
    kind: t.exposeString("kind", { description: "added, removed or changed" }),
    before: t.field({ type: "JSON", nullable: true, resolve: (c) => c.before ?? null }),
    after: t.field({ type: "JSON", nullable: true, resolve: (c) => c.after ?? null }),
    lines: t.field({
      type: [LineChangeType],
      nullable: true,
      description: "For long or multi-line strings: a line diff.",
      resolve: (c) => c.lines,
    }),
  }),
});

const ModuleDiffType = builder.objectRef<ModuleDiff>("ModuleDiff").implement({
  fields: (t) => ({
    module: t.field({ type: ModuleNameEnum, resolve: (d) => d.module }),
    status: t.exposeString("status", { description: "added, removed, changed or unchanged" }),
    inputText: t.field({ type: FieldChangeType, nullable: true, resolve: (d) => d.inputText }),
    changes: t.field({ type: [FieldChangeType], resolve: (d) => d.changes }),
  }),
});

const VersionDiff = builder.objectRef<{ against: number | null; modules: ModuleDiff[] }>("VersionDiff").implement({
  fields: (t) => ({
    against: t.exposeInt("against", { nullable: true, description: "The version compared with; null: the empty story." }),
    modules: t.field({ type: [ModuleDiffType], description: "All five modules, in order.", resolve: (d) => d.modules }),
  }),
});

const contentOf = (version: StoryVersion) => ({
  outputs: inStoryOrder(version.fullSnapshot) as ModuleOutputs,
  inputs: inStoryOrder(version.inputs) as ModuleInputs,
});

builder.objectField(StoryVersionType, "diff", (t) =>
  t.field({
    type: VersionDiff,
    description: "What changed from version `against` (default: this version's parent) to this one.",
    args: { against: t.arg.int() },
    resolve: async (version, { against }, context) => {
      const base =
        against === null || against === undefined
          ? version.parentVersionId
            ? await context.loaders.version.load(version.parentVersionId)
            : null
          : orNotFound(await context.loaders.versionByNumber.load(versionKey(version.storyId, against)), `version ${against}`);
      const from = base ? contentOf(base) : { outputs: EMPTY_OUTPUTS, inputs: EMPTY_INPUTS };
      return { against: base?.versionNumber ?? null, modules: diffVersions(from, contentOf(version)) };
    },
  }),
);

// ------------------------------------------------------------------ export and import

const ExportFormat = builder.enumType("ExportFormat", {
  values: { JSON: { value: "JSON" }, MARKDOWN: { value: "MARKDOWN", description: "A readable story bible." } } as const,
});

const StoryExportType = builder
  .objectRef<{ format: "JSON" | "MARKDOWN"; filename: string; mimeType: string; content: string; data: unknown }>("StoryExport")
  .implement({
    fields: (t) => ({
      format: t.field({ type: ExportFormat, resolve: (e) => e.format }),
      filename: t.exposeString("filename"),
      mimeType: t.exposeString("mimeType"),
      content: t.exposeString("content", { description: "The file's text." }),
      data: t.field({
        type: "JSON",
        nullable: true,
        description: "The JSON export as a value (JSON format only), ready for importStory.",
        resolve: (e) => e.data,
      }),
    }),
  });

builder.queryField("exportStory", (t) =>
  t.field({
    type: StoryExportType,
    authScopes: { signedIn: true },
    description: "The whole story: JSON holds its details, current modules, every version and the full event log.",
    args: { id: t.arg.id({ required: true }), format: t.arg({ type: ExportFormat, required: true }) },
    resolve: async (_root, { id, format }, context) => {
      const data = orNotFound(await buildStoryExport(context.reader, idOf("Story", id), context.viewer!.id), "story");
      const base = data.story.title.replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "").toLowerCase() || "story";
      return format === "JSON"
        ? { format, filename: `${base}.json`, mimeType: "application/json", content: JSON.stringify(data, null, 2), data }
        : { format, filename: `${base}.md`, mimeType: "text/markdown", content: storyToMarkdown(data), data: null };
    },
  }),
);

const ImportStoryInput = builder.inputType("ImportStoryInput", {
  fields: (t) => ({
    data: t.field({ type: "JSON", description: "A JSON export (exportStory with format JSON: its `data`, or its `content` parsed)." }),
    content: t.string({ description: "The JSON export as text, instead of data." }),
  }),
});

builder.mutationField("importStory", (t) =>
  t.field({
    type: StoryChangePayload,
    authScopes: { signedIn: true },
    description: "Makes a new story of the viewer from a JSON export: the same history under new ids.",
    args: { input: t.arg({ type: ImportStoryInput, required: true }) },
    resolve: async (_root, { input }, context): Promise<StoryChange> => {
      let data = input.data;
      if (data === undefined || data === null) {
        if (!input.content) throw new StorySparkError("BAD_USER_INPUT", "input: give data or content", { field: "input" });
        try {
          data = JSON.parse(input.content);
        } catch {
          throw new StorySparkError("BAD_USER_INPUT", "content: is not JSON", { field: "content" });
        }
      }
      const { storyId, event } = await importStory(context, context.viewer!.id, data);
      return { storyId, eventId: event.id, activeVersionNumber: event.activeVersionNumber, replayed: false };
    },
  }),
);
