// Reading history: a story as of any revision, what changed between versions, and
// exporting and importing a whole story.
import { builder } from "../builder.ts";
import { orNotFound, versionKey, outsideTrash } from "../loaders.ts";
import { idOf } from "../globalIds.ts";
import { StorySparkError, notFound } from "../../domain/errors.ts";
import { EMPTY_INPUTS, EMPTY_OUTPUTS, type ModuleName } from "../../domain/catalogue.ts";
import { readStream } from "../../eventstore/eventStore.ts";
import { storyAtRevision, type StoryAtRevision } from "../../history/storyAt.ts";
import { diffVersions, type FieldChange, type LineChange, type ModuleDiff } from "../../history/versionDiff.ts";
import { buildStoryExport } from "../../history/exportStory.ts";
import { exportFileName } from "../../history/exportFormat.ts";
import { storyToMarkdown } from "../../history/storyMarkdown.ts";
import { importStory } from "../../commands/importStory.ts";
import { ModuleNameEnum } from "./storyModule.ts";
import { StoryType, StoryChangePayload, type StoryChange } from "./story.ts";
import { StoryVersionType, versionContent } from "./storyVersion.ts";

// ------------------------------------------------------------------ story.at(revision)

const ModuleAtRevision = builder
  .objectRef<StoryAtRevision["modules"][number]>("ModuleAtRevision")
  .implement({
    description: "A module as it was at a revision.",
    fields: (t) => ({
      name: t.field({ type: ModuleNameEnum, description: "Which module.", resolve: (m) => m.name as ModuleName }),
      order: t.exposeInt("order", { description: "Its place in the story's development: 1 to 5." }),
      inputText: t.exposeString("inputText", { nullable: true, description: "The writer's notes or prompt then; null when there were none." }),
      output: t.field({ type: "JSON", nullable: true, description: "The module's output then; null when empty.", resolve: (m) => m.output }),
    }),
  });

const StoryRevision = builder.objectRef<StoryAtRevision>("StoryRevision").implement({
  description: "The story as it was right after one event of its log.",
  fields: (t) => ({
    revision: t.exposeInt("revision", { description: "The seq of the event the story is shown after." }),
    title: t.exposeString("title", { description: "The title then." }),
    logline: t.exposeString("logline", { nullable: true, description: "The logline then." }),
    genre: t.exposeString("genre", { nullable: true, description: "The genre then." }),
    isComplete: t.exposeBoolean("isComplete", { description: "Whether the story was marked complete then." }),
    activeVersionNumber: t.exposeInt("activeVersionNumber", { description: "The number of the version active then." }),
    activeVersion: t.field({
      type: StoryVersionType,
      description: "The version active then (versions never change).",
      resolve: async (at, _args, context) =>
        orNotFound(await context.loaders.versionByNumber.load(versionKey(at.storyId, at.activeVersionNumber)), "version"),
    }),
    canUndo: t.exposeBoolean("canUndo", { description: "Whether an undo was possible then." }),
    canRedo: t.exposeBoolean("canRedo", { description: "Whether a redo was possible then." }),
    modules: t.field({ type: [ModuleAtRevision], description: "All five modules as they were then, in order.", resolve: (at) => at.modules }),
  }),
});

builder.objectField(StoryType, "at", (t) =>
  t.field({
    type: StoryRevision,
    description: "The story as of `revision` (1 … revision): its log replayed up to that event.",
    args: { revision: t.arg.int({ required: true, description: "A seq of the story's log, 1 to the story's revision." }) },
    resolve: async (story, { revision }, context) => {
      if (revision < 1 || revision > story.revision) throw notFound(`revision ${revision}`);
      return storyAtRevision(story.id, await readStream(context.reader, outsideTrash(story).id, { limit: revision }));
    },
  }),
);

// ------------------------------------------------------------------ version.diff(against)

const LineChangeOp = builder.enumType("LineChangeOp", {
  description: "Where a line of a line diff stands.",
  values: {
    equal: { description: "In both texts." },
    added: { description: "Only in the newer text." },
    removed: { description: "Only in the older text." },
  } satisfies Record<LineChange["op"], { description: string }>,
});

const LineChangeType = builder.objectRef<LineChange>("LineChange").implement({
  description: "One line of a line diff.",
  fields: (t) => ({
    op: t.expose("op", { type: LineChangeOp, description: "Whether the line is in both texts, or only in one." }),
    text: t.exposeString("text", { description: "The line, without its line break." }),
  }),
});

const FieldChangeKind = builder.enumType("FieldChangeKind", {
  description: "How a value changed.",
  values: {
    added: { description: "Absent before, present now." },
    removed: { description: "Present before, absent now." },
    changed: { description: "Present in both, with other values." },
  } satisfies Record<FieldChange["kind"], { description: string }>,
});

const FieldChangeType = builder.objectRef<FieldChange>("FieldChange").implement({
  description: "A value of a module that differs between the two versions.",
  fields: (t) => ({
    path: t.exposeString("path", { description: 'e.g. "logline", "characters[2].name"; "" for the whole output' }),
    kind: t.expose("kind", { type: FieldChangeKind, description: "Whether the value was added, removed or changed." }),
    before: t.field({
      type: "JSON",
      nullable: true,
      description: "The value in the older version; null when absent.",
      resolve: (c) => c.before ?? null,
    }),
    after: t.field({
      type: "JSON",
      nullable: true,
      description: "The value in the newer version; null when absent.",
      resolve: (c) => c.after ?? null,
    }),
    lines: t.field({
      type: [LineChangeType],
      nullable: true,
      description: "For long or multi-line strings: a line diff.",
      resolve: (c) => c.lines,
    }),
  }),
});

const ModuleDiffStatus = builder.enumType("ModuleDiffStatus", {
  description: "How a module changed between two versions.",
  values: {
    added: { description: "Empty before, with an output now." },
    removed: { description: "With an output before, empty now." },
    changed: { description: "Its output or its input text differs." },
    unchanged: { description: "The same in both." },
  } satisfies Record<ModuleDiff["status"], { description: string }>,
});

export const ModuleDiffType = builder.objectRef<ModuleDiff>("ModuleDiff").implement({
  description: "What changed in one module between two versions.",
  fields: (t) => ({
    module: t.field({ type: ModuleNameEnum, description: "Which module.", resolve: (d) => d.module }),
    status: t.expose("status", { type: ModuleDiffStatus, description: "How the module changed, as a whole." }),
    inputText: t.field({
      type: FieldChangeType,
      nullable: true,
      description: 'The change of the writer\'s input text (path "inputText"); null when it is the same.',
      resolve: (d) => d.inputText,
    }),
    changes: t.field({
      type: [FieldChangeType],
      description: "The output's changes, each at the deepest level that tells it.",
      resolve: (d) => d.changes,
    }),
  }),
});

const VersionDiff = builder.objectRef<{ against: number | null; modules: ModuleDiff[] }>("VersionDiff").implement({
  description: "What changed from one version of a story to another.",
  fields: (t) => ({
    against: t.exposeInt("against", { nullable: true, description: "The version compared with; null: the empty story." }),
    modules: t.field({ type: [ModuleDiffType], description: "All five modules, in order.", resolve: (d) => d.modules }),
  }),
});

builder.objectField(StoryVersionType, "diff", (t) =>
  t.field({
    type: VersionDiff,
    description: "What changed from version `against` (default: this version's parent) to this one.",
    args: { against: t.arg.int({ description: "The number of the version to compare with; default: this version's parent." }) },
    resolve: async (version, { against }, context) => {
      const base =
        against === null || against === undefined
          ? version.parentVersionId
            ? await context.loaders.version.load(version.parentVersionId)
            : null
          : orNotFound(await context.loaders.versionByNumber.load(versionKey(version.storyId, against)), `version ${against}`);
      const [from, to] = await Promise.all([
        base ? versionContent(base, context) : { outputs: EMPTY_OUTPUTS, inputs: EMPTY_INPUTS },
        versionContent(version, context),
      ]);
      return { against: base?.versionNumber ?? null, modules: diffVersions(from, to) };
    },
  }),
);

// ------------------------------------------------------------------ export and import

const ExportFormat = builder.enumType("ExportFormat", {
  description: "What a story is exported as.",
  values: {
    JSON: { value: "JSON", description: "Everything, for importStory or another program: details, modules, versions and the event log." },
    MARKDOWN: { value: "MARKDOWN", description: "A readable story bible." },
  } as const,
});

const StoryExportType = builder
  .objectRef<{ format: "JSON" | "MARKDOWN"; filename: string; mimeType: string; content: string; data: unknown }>("StoryExport")
  .implement({
    description: "A story exported as a file.",
    fields: (t) => ({
      format: t.field({ type: ExportFormat, description: "The format asked for.", resolve: (e) => e.format }),
      filename: t.exposeString("filename", { description: "A file name made from the title, e.g. `the-lighthouse-keeper.json`." }),
      mimeType: t.exposeString("mimeType", { description: "The file's media type: application/json or text/markdown." }),
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
  t.withAuth({ signedIn: true }).field({
    type: StoryExportType,
    description: "The whole story: JSON holds its details, current modules, every version, the full event log and the comment log.",
    args: {
      id: t.arg.id({ required: true, description: "The story's global id." }),
      format: t.arg({ type: ExportFormat, required: true, description: "What to export it as." }),
    },
    resolve: async (_root, { id, format }, context) => {
      const data = orNotFound(await buildStoryExport(context.reader, idOf("Story", id), context.viewer.id), "story");
      return format === "JSON"
        ? { format, filename: exportFileName(data.story.title, "json"), mimeType: "application/json", content: JSON.stringify(data, null, 2), data }
        : { format, filename: exportFileName(data.story.title, "md"), mimeType: "text/markdown", content: storyToMarkdown(data), data: null };
    },
  }),
);

const ImportStoryInput = builder.inputType("ImportStoryInput", {
  description: "A JSON export, as a value or as text: one of the two.",
  fields: (t) => ({
    data: t.field({ type: "JSON", description: "A JSON export (exportStory with format JSON: its `data`, or its `content` parsed)." }),
    content: t.string({ description: "The JSON export as text, instead of data." }),
  }),
});

builder.mutationField("importStory", (t) =>
  t.withAuth({ signedIn: true }).field({
    type: StoryChangePayload,
    description: "Makes a new story of the viewer from a JSON export: the same history under new ids.",
    args: { input: t.arg({ type: ImportStoryInput, required: true, description: "The export to import." }) },
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
      const { storyId, event } = await importStory(context, context.viewer.id, data);
      return { storyId, eventId: event.id, activeVersionNumber: event.activeVersionNumber, replayed: false };
    },
  }),
);
