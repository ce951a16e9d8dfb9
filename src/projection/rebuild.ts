// rebuild: projects every story again from its log into new read tables beside the live
// ones, catches up with what was appended meanwhile, and swaps the new tables in under a
// short lock. Readers and writers go on throughout; the lock is held only for the last
// catch-up and the renames, and given up and retried whenever it can't be had quickly.
import type { Database } from "../database/connect.ts";
import { isLockTimeout } from "../database/connectionErrors.ts";
import { countEvents } from "../eventstore/eventStore.ts";
import { withBulkConnection, type BulkStatements } from "./bulkConnection.ts";
import { projectStreams } from "./bulkInsert.ts";
import { StoryCatchUp } from "./catchUp.ts";
import { readStreamsInBulk } from "./logReader.ts";
import { rebuildCommentTable } from "./commentProjection.ts";
import { rebuildBranchTable } from "./branchProjection.ts";
import { createNewTables, dropNewTables, finishNewTables, NEW_READ_TABLES, swapInNewTables } from "./shadowTables.ts";

export type Progress = (done: { streams: number; events: number }, total: { streams: number; events: number }) => void;

export type RebuildOptions = {
  /** the longest readers and writers may queue behind the swap's lock before it gives way (default 200 ms) */
  lockTimeoutMs?: number;
  /** swaps tried before rebuild gives up, leaving the live tables as they were (default 100) */
  swapAttempts?: number;
  /** for tests: what writers do at these points of a rebuild */
  during?: { built?: () => Promise<void>; swapping?: (attempt: number) => Promise<void> };
};

export type RebuildResult = {
  streams: number;
  events: number;
  /** stories projected again because events were appended to them during the rebuild */
  caughtUp: number;
  /** of those catch-ups, how many folded the story's whole log; the others folded only the events since the last */
  refolded: number;
  /** how many times the swap gave way to readers or writers before it took its lock */
  swapRetries: number;
  /** the comment streams folded into story_comments */
  comments: { streams: number; events: number };
  /** the branches' rows (story_branches) projected again from their BranchCreated events */
  branches: number;
};

/** Catch-up rounds before the swap: each one shorter than the last while writers go on. */
const CATCH_UP_ROUNDS = 5;
/** A round that found this few stories leaves the rest to the swap. */
const FEW_STORIES = 20;
/**
 * The most whole stories the swap may fold under its lock at its first try (about a tenth of a
 * second of work; a story brought forward by a few events counts as a fraction of one), and one
 * more such share at each next try; with more, it gives the lock up, catches up outside it and
 * tries again at once.
 */
const MOST_CAUGHT_UP_UNDER_LOCK = 50;

/** The swap found more to catch up than it may while readers and writers wait. */
class TooMuchToCatchUp extends Error {}

export async function rebuildReadTables(db: Database, onProgress: Progress = () => {}, options: RebuildOptions = {}): Promise<RebuildResult> {
  return holdingRebuildLease(db, async () => {
    const result = await rebuildStoryTables(db, onProgress, options);
    // comments live in streams of their own (./commentProjection.ts): their table after the stories'
    const comments = await rebuildCommentTable(db);
    // branches' rows: in place too, from their first events (./branchProjection.ts)
    const { branches } = await rebuildBranchTable(db);
    return { ...result, comments, branches };
  });
}

async function rebuildStoryTables(db: Database, onProgress: Progress, options: RebuildOptions): Promise<Omit<RebuildResult, "comments" | "branches">> {
  return withBulkConnection(db, async (connection) => {
      await createNewTables(connection);
      try {
        // every event of a transaction older than this is visible to the build that follows
        let horizon = await oldestRunningTransaction(connection);
        const total = await countEvents(db.prisma);
        onProgress({ streams: 0, events: 0 }, total);
        // the log is read on a connection of its own, so that reading goes on while rows load,
        // and rows load on two, so that PostgreSQL parses and stores them on two cores
        const built = await withBulkConnection(db, (reader) =>
          withBulkConnection(db, (secondLoader) =>
            projectStreams([connection, secondLoader], NEW_READ_TABLES, readStreamsInBulk(reader), { onLoaded: (done) => onProgress(done, total) }),
          ),
        );
        await finishNewTables(connection);
        await options.during?.built?.();

        const catchUp = new StoryCatchUp(NEW_READ_TABLES);
        const catchUpSince = async (since: string) => catchUp.stories(connection, await storiesTouchedSince(connection, since));

        let caughtUp = 0;
        for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
          const next = await oldestRunningTransaction(connection);
          const stories = await catchUpSince(horizon);
          caughtUp += stories;
          horizon = next;
          if (stories <= FEW_STORIES) break;
        }

        const attempts = options.swapAttempts ?? 100;
        for (let attempt = 1; ; attempt++) {
          let caughtUpUnderLock: string[] = [];
          try {
            await options.during?.swapping?.(attempt);
            await connection.transaction((tx) =>
              swapInNewTables(tx, options.lockTimeoutMs ?? 200, async () => {
                // under the lock no writer is between appending and projecting: everything is committed
                const touched = await storiesTouchedSince(tx, horizon);
                // readers and writers queue behind the lock: a long catch-up is done outside it
                // (more with each try, so that writers faster than the catch-up can't hold it off for ever)
                if (catchUp.costOf(touched) > MOST_CAUGHT_UP_UNDER_LOCK * attempt && attempt < attempts) throw new TooMuchToCatchUp();
                caughtUpUnderLock = touched;
                caughtUp += await catchUp.stories(tx, touched);
                await forgetDeletedStories(tx);
              }),
            );
            return { ...built, caughtUp, refolded: catchUp.refolded, swapRetries: attempt - 1 };
          } catch (error) {
            // rolled back: what the attempt caught up is gone from the tables, so its states are no guide
            catchUp.forget(caughtUpUnderLock);
            const tooMuch = error instanceof TooMuchToCatchUp;
            if (!isLockTimeout(error) && !tooMuch) throw error;
            if (attempt >= attempts) {
              throw new Error(`rebuild could not take the read tables' lock in ${attempts} attempts; the live tables are unchanged`, { cause: error });
            }
            if (!tooMuch) await sleep(Math.min(2_000, 50 * attempt) * (0.5 + Math.random()));
            const next = await oldestRunningTransaction(connection);
            caughtUp += await catchUpSince(horizon);
            horizon = next;
          }
        }
      } catch (error) {
        await dropNewTables(connection).catch(() => {});
        throw error;
      }
    });
}

async function storiesTouchedSince(db: BulkStatements, horizon: string): Promise<string[]> {
  const touched = await db.query<{ story_id: string }>("SELECT DISTINCT story_id FROM story_events WHERE transaction_id >= $1::xid8", [horizon]);
  return touched.map((row) => row.story_id);
}

/** Stories deleted during the rebuild took their events with them: their rows go too. */
async function forgetDeletedStories(db: BulkStatements): Promise<void> {
  await db.query("DELETE FROM stories_rebuild s WHERE NOT EXISTS (SELECT 1 FROM story_events e WHERE e.story_id = s.id)");
}

/** The oldest transaction still running, as text (xid8): older ones have all ended. */
async function oldestRunningTransaction(db: BulkStatements): Promise<string> {
  const rows = await db.query<{ xmin: string }>("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin");
  return rows[0]!.xmin;
}

const LEASE_KEY = "story-spark rebuild";
const rebuildingHere = new WeakSet<Database>();

/**
 * One rebuild at a time. On PostgreSQL another process may try: a transaction-scoped advisory
 * lock, held by a transaction that writes nothing (so it holds back neither the global feed
 * nor vacuum), keeps it out. The embedded database is one process's, so a flag suffices.
 */
async function holdingRebuildLease<T>(db: Database, work: () => Promise<T>): Promise<T> {
  if (rebuildingHere.has(db)) throw alreadyRebuilding();
  rebuildingHere.add(db);
  try {
    if (db.kind !== "postgres") return await work();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let leased!: (held: boolean) => void;
    const lease = new Promise<boolean>((resolve) => (leased = resolve));
    const holder = db.prisma
      .$transaction(
        async (tx) => {
          const rows = await tx.$queryRaw<{ held: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext(${LEASE_KEY})) AS held`;
          leased(rows[0]!.held);
          if (rows[0]!.held) await released;
        },
        { maxWait: 60_000, timeout: 7 * 24 * 60 * 60 * 1000 },
      )
      .catch((error: unknown) => {
        leased(false);
        throw error;
      });
    if (!(await lease)) {
      await holder;
      throw alreadyRebuilding();
    }
    try {
      return await work();
    } finally {
      release();
      await holder.catch(() => {});
    }
  } finally {
    rebuildingHere.delete(db);
  }
}

function alreadyRebuilding(): Error {
  return new Error("another rebuild of the read tables is running; try again when it has finished");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
