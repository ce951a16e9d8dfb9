// Builds a story's export: its details, current modules, every version and the full log.
import { MODULES, type JsonObject } from "../domain/catalogue.ts";
import type { DbClient } from "../database/types.ts";
import { readStream } from "../eventstore/eventStore.ts";
import { readStoryVersionContents } from "./versionContent.ts";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type StoryExport } from "./exportFormat.ts";

/** null when there is no such story of this owner (ownerId null: any owner, for operators). */
export async function buildStoryExport(db: DbClient, storyId: string, ownerId: string | null): Promise<StoryExport | null> {
  const story = await db.story.findFirst({ where: { id: storyId, ...(ownerId === null ? {} : { userId: ownerId }) } });
  if (!story) return null;
  const [modules, versions, contents, events] = await Promise.all([
    db.storyModule.findMany({ where: { storyId }, orderBy: { moduleOrder: "asc" } }),
    db.storyVersion.findMany({ where: { storyId }, orderBy: { versionNumber: "asc" } }),
    readStoryVersionContents(db, storyId),
    readStream(db, storyId),
  ]);
  const numberOf = new Map(versions.map((v) => [v.id, v.versionNumber]));
  const active = versions.find((v) => v.id === story.activeVersionId);
  return {
    format: EXPORT_FORMAT,
    formatVersion: EXPORT_FORMAT_VERSION,
    exportedAt: new Date().toISOString(),
    story: {
      id: story.id,
      title: story.title,
      logline: story.logline,
      genre: story.genre,
      isComplete: story.isComplete,
      createdAt: story.createdAt.toISOString(),
      updatedAt: story.updatedAt.toISOString(),
      revision: story.revision,
      activeVersionNumber: active?.versionNumber ?? 1,
    },
    modules: MODULES.map((m) => {
      const row = modules.find((r) => r.moduleName === m.moduleName);
      return {
        name: m.name,
        title: m.title,
        order: m.order,
        inputText: row?.inputText ?? null,
        output: (row?.outputText ?? null) as JsonObject | null,
        updatedAt: (row?.updatedAt ?? story.createdAt).toISOString(),
      };
    }),
    versions: versions.map((v) => ({
      number: v.versionNumber,
      parentNumber: v.parentVersionId ? (numberOf.get(v.parentVersionId) ?? null) : null,
      label: v.label,
      snapshot: contents.get(v.id)!.outputs,
      inputs: contents.get(v.id)!.inputs,
      eventSeq: v.eventSeq,
      createdAt: v.createdAt.toISOString(),
    })),
    events: events.map((e) => ({
      seq: e.seq,
      type: e.type,
      schemaVersion: e.schemaVersion,
      payload: e.payload as JsonObject,
      createdAt: e.createdAt.toISOString(),
    })),
  };
}
