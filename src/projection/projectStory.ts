// The projector: what the read tables must change between two states of a story, and
// writing it. Commands write the plan together with their events in one statement
// (commands/commitStoryChange.ts); rebuild applies it from the empty state, in batches.
import { MODULES } from "../domain/catalogue.ts";
import type { StoryState } from "../domain/story.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "../database/types.ts";
import { moduleRows, newVersions, storyRow, versionRow, type StoryModuleRow, type StoryRow, type StoryVersionRow } from "./storyRows.ts";

const VERSION_BATCH = 500;

export type ProjectionPlan = {
  /** the story row, inserted when the story is new, else updated */
  story: StoryRow | null;
  storyIsNew: boolean;
  /** all five when the story is new, else the ones whose content changed */
  modules: StoryModuleRow[];
  versions: StoryVersionRow[];
  labels: { storyId: string; versionNumber: number; label: string | null }[];
};

export function planProjection(before: StoryState, after: StoryState): ProjectionPlan {
  if (!after.exists) return { story: null, storyIsNew: false, modules: [], versions: [], labels: [] };
  const rows = moduleRows(after);
  const labels: ProjectionPlan["labels"] = [];
  if (before.exists && before.labels !== after.labels) {
    for (const number of new Set([...before.labels.keys(), ...after.labels.keys()])) {
      const label = after.labels.get(number) ?? null;
      if (number > before.versions.latestNumber || label === (before.labels.get(number) ?? null)) continue;
      labels.push({ storyId: after.id, versionNumber: number, label });
    }
  }
  return {
    story: storyRow(after),
    storyIsNew: !before.exists,
    modules: before.exists
      ? rows.filter((_, i) => before.moduleUpdatedAt[MODULES[i]!.snapshotKey] !== after.moduleUpdatedAt[MODULES[i]!.snapshotKey])
      : rows,
    versions: newVersions(before, after).map((v) => versionRow(after, v)),
    labels,
  };
}

/** Applies the difference with Prisma's batch writes (rebuild, import). */
export async function projectStory(db: DbClient, before: StoryState, after: StoryState): Promise<void> {
  const plan = planProjection(before, after);
  if (!plan.story) return;
  if (plan.storyIsNew) {
    await db.story.create({ data: plan.story });
    await db.storyModule.createMany({ data: plan.modules.map((row) => ({ ...row, outputText: jsonOrDbNull(row.outputText) })) });
  } else {
    const { id, ...changes } = plan.story;
    await db.story.update({ where: { id }, data: changes });
    for (const row of plan.modules) {
      await db.storyModule.update({
        where: { id: row.id },
        data: { inputText: row.inputText, outputText: jsonOrDbNull(row.outputText), updatedAt: row.updatedAt },
      });
    }
  }
  for (const { storyId, versionNumber, label } of plan.labels) {
    await db.storyVersion.update({ where: { storyId_versionNumber: { storyId, versionNumber } }, data: { label } });
  }
  for (let i = 0; i < plan.versions.length; i += VERSION_BATCH) {
    await db.storyVersion.createMany({
      data: plan.versions.slice(i, i + VERSION_BATCH).map((row) => ({
        ...row,
        fullSnapshot: row.fullSnapshot as Prisma.InputJsonObject,
        inputs: row.inputs as Prisma.InputJsonObject,
      })),
    });
  }
}

function jsonOrDbNull(value: object | null): Prisma.InputJsonObject | typeof Prisma.DbNull {
  return value === null ? Prisma.DbNull : (value as Prisma.InputJsonObject);
}
