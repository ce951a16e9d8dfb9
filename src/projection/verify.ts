// verify: replays every story's log through evolve and compares the result with the read tables.
import type { Database } from "../database/connect.ts";
import type { JsonObject } from "../domain/catalogue.ts";
import { outputRefs } from "../domain/content.ts";
import { jsonEqual } from "../domain/json.ts";
import { foldEvents } from "../domain/story.ts";
import type { DbClient } from "../database/types.ts";
import { countEvents, readEveryStream, readStream, type StoredEvent } from "../eventstore/eventStore.ts";
import type { Progress } from "./rebuild.ts";
import { compareStoryComments, verifyCommentTables } from "./commentProjection.ts";
import { readCommentStream } from "../eventstore/commentStream.ts";
import { branchRows, collaboratorRows, invitationRows, moduleRows, storyRow, versionRow } from "./storyRows.ts";

export type Difference = { storyId: string; table: string; rowId: string; field: string; expected: unknown; actual: unknown };

export async function verifyReadTables(db: Database, onProgress: Progress = () => {}): Promise<Difference[]> {
  const prisma = db.prisma;
  const differences: Difference[] = [];
  const total = await countEvents(prisma);
  const done = { streams: 0, events: 0 };
  const seen = new Set<string>();

  for await (const [storyId, events] of readEveryStream(prisma, { content: "references" })) {
    seen.add(storyId);
    let found = await compareStory(prisma, storyId, events);
    // written to since its log was read: look again at the log and the rows in one snapshot
    if (found.length > 0) {
      found = await prisma.$transaction(async (tx) => compareStory(tx, storyId, await readStream(tx, storyId, { content: "references" })), {
        isolationLevel: "RepeatableRead",
        timeout: 60_000,
      });
    }
    differences.push(...found);
    done.streams++;
    done.events += events.length;
    onProgress(done, total);
  }

  const orphans = await prisma.story.findMany({ where: { id: { notIn: [...seen] } }, select: { id: true } });
  for (const { id } of orphans) {
    // a story created since the logs were read is no orphan
    if (await prisma.storyEvent.findFirst({ where: { storyId: id }, select: { id: true } })) continue;
    differences.push({ storyId: id, table: "stories", rowId: id, field: "(row)", expected: "no row: the story has no events", actual: "a row" });
  }
  // a branch's row outlives nothing: its story's log must be there
  const orphanBranches = await prisma.storyBranch.findMany({ where: { storyId: { notIn: [...seen] } }, select: { storyId: true } });
  for (const { storyId } of orphanBranches) {
    if (await prisma.storyEvent.findFirst({ where: { storyId }, select: { id: true } })) continue;
    differences.push({ storyId, table: "story_branches", rowId: storyId, field: "(row)", expected: "no row: the story has no events", actual: "a row" });
  }
  // comments: a stream of their own per story, and story_comments
  differences.push(...(await verifyCommentTables(db)));
  return differences;
}

/**
 * One story's log against its rows, read in one snapshot; null when there is no such story (no
 * log and no row).
 */
export async function verifyStory(db: Database, storyId: string): Promise<Difference[] | null> {
  return db.prisma.$transaction(
    async (tx) => {
      const events = await readStream(tx, storyId, { content: "references" });
      if (events.length === 0 && !(await tx.story.findUnique({ where: { id: storyId }, select: { id: true } }))) return null;
      const comments = await compareStoryComments(tx, storyId, await readCommentStream(tx, storyId));
      return [...(await compareStory(tx, storyId, events)), ...comments];
    },
    { isolationLevel: "RepeatableRead", timeout: 60_000 },
  );
}

async function compareStory(db: DbClient, storyId: string, events: StoredEvent[]): Promise<Difference[]> {
  const differences: Difference[] = [];
  const state = foldEvents(storyId, events);
  const [story, modules, versions, collaborators, invitations, branches] = await Promise.all([
    db.story.findUnique({ where: { id: storyId } }),
    db.storyModule.findMany({ where: { storyId } }),
    db.storyVersion.findMany({ where: { storyId }, orderBy: { versionNumber: "asc" } }),
    db.collaborator.findMany({ where: { storyId } }),
    db.storyInvitation.findMany({ where: { storyId } }),
    db.storyBranch.findMany({ where: { storyId } }),
  ]);
  compareRows(differences, storyId, "stories", state.exists ? [storyRow(state)] : [], story ? [story] : []);
  // outputs compared by their references: the fold may hold them as references only
  const expectedModules = (state.exists ? moduleRows(state) : []).map(({ outputRefs: refs, outputText, ...row }) => ({
    ...row,
    outputText: refs ?? (outputText && outputRefs(outputText)),
  }));
  const actualModules = modules.map((row) => ({ ...row, outputText: row.outputText && outputRefs(row.outputText as JsonObject) }));
  const found = differences.length;
  compareRows(differences, storyId, "story_modules", expectedModules, actualModules);
  // an operator reads the content a row holds, not its hashes
  for (const difference of differences.slice(found)) {
    if (difference.field === "outputText") difference.actual = modules.find((row) => row.id === difference.rowId)?.outputText;
  }
  compareRows(differences, storyId, "story_versions", [...state.versions].map((v) => versionRow(state, v)), versions);
  // a member's row is known by its user
  const byUser = <T extends { userId: string }>(rows: readonly T[]) => rows.map((row) => ({ id: row.userId, ...row }));
  compareRows(differences, storyId, "collaborators", byUser(state.exists ? collaboratorRows(state) : []), byUser(collaborators));
  compareRows(differences, storyId, "story_invitations", state.exists ? invitationRows(state) : [], invitations);
  // a branch's row is known by its story
  const byStory = <T extends { storyId: string }>(rows: readonly T[]) => rows.map((row) => ({ id: row.storyId, ...row }));
  compareRows(differences, storyId, "story_branches", byStory(branchRows(state)), byStory(branches));
  return differences;
}

export function compareRows(
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
