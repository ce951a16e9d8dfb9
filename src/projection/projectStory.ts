// The projector: writes the difference between two states of a story to the read
// tables, inside the caller's transaction. Rebuild is the same call from the empty state.
import { MODULES } from "../domain/catalogue.ts";
import type { StoryState } from "../domain/story.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "../database/types.ts";
import { moduleRows, newVersions, storyRow, versionRow } from "./storyRows.ts";

const VERSION_BATCH = 500;

export async function projectStory(db: DbClient, before: StoryState, after: StoryState): Promise<void> {
  if (!after.exists) return;
  const story = storyRow(after);
  if (!before.exists) {
    await db.story.create({ data: story });
    await db.storyModule.createMany({
      data: moduleRows(after).map((row) => ({ ...row, outputText: jsonOrDbNull(row.outputText) })),
    });
  } else {
    const { id, ...changes } = story;
    await db.story.update({ where: { id }, data: changes });
    const rows = moduleRows(after);
    for (const [i, m] of MODULES.entries()) {
      if (before.moduleUpdatedAt[m.snapshotKey] === after.moduleUpdatedAt[m.snapshotKey]) continue;
      const row = rows[i]!;
      await db.storyModule.update({
        where: { id: row.id },
        data: { inputText: row.inputText, outputText: jsonOrDbNull(row.outputText), updatedAt: row.updatedAt },
      });
    }
  }
  if (before.exists && before.labels !== after.labels) {
    for (const number of new Set([...before.labels.keys(), ...after.labels.keys()])) {
      const label = after.labels.get(number) ?? null;
      if (number > before.versions.latestNumber || label === (before.labels.get(number) ?? null)) continue;
      await db.storyVersion.update({ where: { storyId_versionNumber: { storyId: after.id, versionNumber: number } }, data: { label } });
    }
  }
  const added = newVersions(before, after).map((v) => versionRow(after, v));
  for (let i = 0; i < added.length; i += VERSION_BATCH) {
    await db.storyVersion.createMany({
      data: added.slice(i, i + VERSION_BATCH).map((row) => ({
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
