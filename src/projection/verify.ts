// verify: replays every story's log through evolve and compares the result with the read tables.
import type { Database } from "../database/connect.ts";
import { jsonEqual } from "../domain/json.ts";
import { foldEvents } from "../domain/story.ts";
import { countEvents, readEveryStream } from "../eventstore/eventStore.ts";
import type { Progress } from "./rebuild.ts";
import { moduleRows, storyRow, versionRow } from "./storyRows.ts";

export type Difference = { storyId: string; table: string; rowId: string; field: string; expected: unknown; actual: unknown };

export async function verifyReadTables(db: Database, onProgress: Progress = () => {}): Promise<Difference[]> {
  const prisma = db.prisma;
  const differences: Difference[] = [];
  const total = await countEvents(prisma);
  const done = { streams: 0, events: 0 };
  const seen = new Set<string>();

  for await (const [storyId, events] of readEveryStream(prisma)) {
    seen.add(storyId);
    const state = foldEvents(storyId, events);
    const [story, modules, versions] = await Promise.all([
      prisma.story.findUnique({ where: { id: storyId } }),
      prisma.storyModule.findMany({ where: { storyId } }),
      prisma.storyVersion.findMany({ where: { storyId }, orderBy: { versionNumber: "asc" } }),
    ]);
    compareRows(differences, storyId, "stories", [storyRow(state)], story ? [story] : []);
    compareRows(differences, storyId, "story_modules", moduleRows(state), modules);
    compareRows(differences, storyId, "story_versions", [...state.versions].map((v) => versionRow(state, v)), versions);
    done.streams++;
    done.events += events.length;
    onProgress(done, total);
  }

  const orphans = await prisma.story.findMany({ where: { id: { notIn: [...seen] } }, select: { id: true } });
  for (const { id } of orphans) {
    differences.push({ storyId: id, table: "stories", rowId: id, field: "(row)", expected: "no row: the story has no events", actual: "a row" });
  }
  return differences;
}

function compareRows(
  differences: Difference[],
  storyId: string,
  table: string,
  expected: readonly { id: string }[],
  actual: readonly { id: string }[],
): void {
  const actualById = new Map(actual.map((row) => [row.id, row as Record<string, unknown>]));
  for (const want of expected as readonly Record<string, unknown>[]) {
    const rowId = want.id as string;
    const have = actualById.get(rowId);
    actualById.delete(rowId);
    if (!have) {
      differences.push({ storyId, table, rowId, field: "(row)", expected: "a row", actual: "missing" });
      continue;
    }
    for (const [field, value] of Object.entries(want)) {
      if (!sameValue(value, have[field])) differences.push({ storyId, table, rowId, field, expected: value, actual: have[field] });
    }
  }
  for (const rowId of actualById.keys()) {
    differences.push({ storyId, table, rowId, field: "(row)", expected: "no row", actual: "an extra row" });
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  return jsonEqual(a, b);
}
