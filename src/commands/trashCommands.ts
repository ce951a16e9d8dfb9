// The trash: deleting a story moves it there (an event: rebuild and verify keep it), where it is
// a missing story to everyone until its owner restores it as it was, or purges it for good; the
// sweep purges what stayed there longer than TRASH_DAYS. A story moves with the stories
// `storiesMovedWith` names, all in one transaction.
import { badInput, notFound } from "../domain/errors.ts";
import { authorize } from "../domain/membership.ts";
import type { DbClient } from "../database/types.ts";
import { publishStoryDeleted } from "../live/publish.ts";
import { loadCommandState } from "../projection/loadStoryState.ts";
import { forgetState } from "./recentStates.ts";
import { announceCommitted, eraseStory, executeInTransaction, type CommandServices, type StoryCommandResult } from "./storyCommands.ts";

/** Long enough for many writers queued on one story's lock. */
const TRANSACTION_OPTIONS = { maxWait: 30_000, timeout: 60_000 } as const;

/**
 * The stories that go to the trash, come back and are purged together with `storyId`, itself
 * first: its branches, and theirs, as far down as they are its owner's. A branch someone else made
 * is theirs: it stays where it is (its `branchOf.story` reads null while the story is away), and
 * so does what hangs under it.
 */
export async function storiesMovedWith(tx: DbClient, storyId: string): Promise<string[]> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    WITH RECURSIVE family(id, owner) AS (
      SELECT id, user_id FROM stories WHERE id = ${storyId}::uuid
      UNION
      SELECT s.id, s.user_id FROM family f
        JOIN story_branches b ON b.branch_parent_id = f.id
        JOIN stories s ON s.id = b.story_id AND s.user_id = f.owner
    )
    SELECT id FROM family ORDER BY id = ${storyId}::uuid DESC, id`;
  return rows.map((row) => row.id);
}

/**
 * Moves the story to the trash with those that move with it (deleteStory): its owner only; one
 * already in the trash is a missing story. Its subscriptions end as on a deleted story.
 */
export async function trashStory(services: CommandServices, storyId: string, actorId: string): Promise<StoryCommandResult> {
  const results = await moveStories(services, storyId, actorId, "TrashStory");
  for (const result of results) {
    announceCommitted(services, result);
    publishStoryDeleted(services.pubsub, result.storyId);
  }
  return results[0]!;
}

/** Brings the story back from the trash as it was, with those that move with it: its owner only. */
export async function restoreStory(services: CommandServices, storyId: string, actorId: string): Promise<StoryCommandResult> {
  const results = await moveStories(services, storyId, actorId, "RestoreFromTrash");
  for (const result of results) announceCommitted(services, result);
  return results[0]!;
}

/**
 * The command on the story, authorized for the actor, then on each story that moves with it whose
 * place differs (a branch already in the trash stays there), under each one's lock, in one transaction.
 */
async function moveStories(
  services: CommandServices,
  storyId: string,
  actorId: string,
  type: "TrashStory" | "RestoreFromTrash",
): Promise<StoryCommandResult[]> {
  return services.db.prisma.$transaction(async (tx) => {
    // a branch that went to the trash before the story did stays there when the story comes back
    const [was] = await tx.$queryRaw<{ trashedAt: Date | null }[]>`SELECT trashed_at AS "trashedAt" FROM stories WHERE id = ${storyId}::uuid`;
    const lead = await executeInTransaction(tx, { storyId, actorId, command: { type } }, { authorize: true });
    const results = [lead];
    for (const id of await storiesMovedWith(tx, storyId)) {
      if (id === storyId) continue;
      const loaded = await loadCommandState(tx, id, { lock: true });
      if (!loaded || (loaded.state.trashedAt !== null) === (type === "TrashStory")) continue;
      if (type === "RestoreFromTrash" && was?.trashedAt && loaded.state.trashedAt! < was.trashedAt) continue;
      results.push(await executeInTransaction(tx, { storyId: id, actorId, command: { type } }, { authorize: false }));
    }
    return results;
  }, TRANSACTION_OPTIONS);
}

/**
 * Erases for good a story in the trash, with those that move with it: its owner only (a stranger
 * gets NOT_FOUND, a member FORBIDDEN); a story not in the trash is refused (deleteStory first).
 * Returns the ids erased.
 */
export async function purgeStory(services: CommandServices, storyId: string, actorId: string): Promise<string[]> {
  const erased = await services.db.prisma.$transaction(async (tx) => {
    const loaded = await loadCommandState(tx, storyId, { lock: true });
    if (!loaded) throw notFound("story");
    authorize(loaded.state, actorId, "PurgeStory");
    if (loaded.state.trashedAt === null) throw badInput("id", "the story is not in the trash: deleteStory moves it there first");
    return eraseMoved(tx, storyId);
  }, TRANSACTION_OPTIONS);
  forgotten(services, erased);
  return erased;
}

/** How many stories one pass of the sweep looks at; it carries on while it finds that many. */
const SWEEP_BATCH = 100;

/**
 * Erases the stories in the trash since `cutoff` or before, with those that move with them; each
 * under its lock, taken with SKIP LOCKED, so that instances sweeping at once share the work and no
 * writer waits on the sweep. Returns the ids erased.
 */
export async function purgeTrashedBefore(services: CommandServices, cutoff: Date): Promise<string[]> {
  const erased: string[] = [];
  for (;;) {
    const due = await services.db.prisma.$queryRaw<{ id: string }[]>`
      SELECT id FROM stories WHERE trashed_at <= ${cutoff} ORDER BY trashed_at, id LIMIT ${SWEEP_BATCH}`;
    let purged = 0;
    for (const { id } of due) {
      const ids = await services.db.prisma.$transaction(async (tx) => {
        // restored meanwhile, or another instance has it
        const [held] = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM stories WHERE id = ${id}::uuid AND trashed_at <= ${cutoff} FOR UPDATE SKIP LOCKED`;
        return held ? eraseMoved(tx, id) : [];
      }, TRANSACTION_OPTIONS);
      forgotten(services, ids);
      erased.push(...ids);
      if (ids.length > 0) purged++;
    }
    if (due.length < SWEEP_BATCH || purged === 0) return erased;
  }
}

/**
 * Erases the story and those that move with it and went to the trash with it or after it (a branch
 * restored on its own stays, and one trashed on its own before keeps its own time there), each
 * under its lock; the caller holds the first one's.
 */
async function eraseMoved(tx: DbClient, storyId: string): Promise<string[]> {
  const erased: string[] = [];
  const [lead] = await tx.$queryRaw<{ trashedAt: Date }[]>`SELECT trashed_at AS "trashedAt" FROM stories WHERE id = ${storyId}::uuid`;
  if (!lead) return erased;
  for (const id of await storiesMovedWith(tx, storyId)) {
    const [held] = await tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM stories WHERE id = ${id}::uuid AND trashed_at >= ${lead.trashedAt} FOR UPDATE`;
    if (!held) continue;
    await eraseStory(tx, id);
    erased.push(id);
  }
  return erased;
}

function forgotten(services: CommandServices, storyIds: readonly string[]): void {
  for (const id of storyIds) {
    forgetState(services.db, id);
    // its subscriptions ended when it went to the trash; any opened since are told too
    publishStoryDeleted(services.pubsub, id);
  }
}
