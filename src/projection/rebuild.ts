// rebuild: projects every story again from its log into new read tables beside the live
// ones, catches up with what was appended meanwhile, and swaps the new tables in under a
// short lock. Readers and writers go on throughout; the lock is held only for the last
// catch-up and the renames, and given up and retried whenever it can't be had quickly.
import type { Database } from "../database/connect.ts";
import { isLockTimeout } from "../database/connectionErrors.ts";
import { foldEvents } from "../domain/story.ts";
import { countEvents, type StoredEvent } from "../eventstore/eventStore.ts";
import { withBulkConnection, type BulkStatements } from "./bulkConnection.ts";
import { addNewStory, loadNewStories, noLines } from "./bulkInsert.ts";
import { readStreamsInBulk } from "./logReader.ts";
import { planNewStory } from "./projectionPlan.ts";
import { createNewTables, dropNewTables, finishNewTables, NEW_READ_TABLES, swapInNewTables } from "./shadowTables.ts";

export type Progress = (done: { streams: number; events: number }, total: { streams: number; events: number }) => void;

export type RebuildOptions = {
  /** the longest readers and writers may queue behind the swap's lock before it gives way (default 200 ms) */
  lockTimeoutMs?: number;
  /** swaps tried before rebuild gives up, leaving the live tables as they were (default 100) */
  swapAttempts?: number;
};

export type RebuildResult = {
  streams: number;
  events: number;
  /** stories projected again because events were appended to them during the rebuild */
  caughtUp: number;
  /** how many times the swap gave way to readers or writers before it took its lock */
  swapRetries: number;
};

/** Rows per COPY: large enough to amortise round trips, small enough for memory. */
const ROWS_PER_LOAD = 10_000;
/** Catch-up rounds before the swap: each one shorter than the last while writers go on. */
const CATCH_UP_ROUNDS = 5;
/** A round that found this few stories leaves the rest to the swap. */
const FEW_STORIES = 20;
/**
 * The most stories the swap projects under its lock at its first try (about a tenth of a second
 * of work), and one more such share at each next try; with more, it gives the lock up, catches up
 * outside it and tries again at once.
 */
const MOST_CAUGHT_UP_UNDER_LOCK = 50;

/** The swap found more to catch up than it may while readers and writers wait. */
class TooMuchToCatchUp extends Error {}

export async function rebuildReadTables(db: Database, onProgress: Progress = () => {}, options: RebuildOptions = {}): Promise<RebuildResult> {
  return holdingRebuildLease(db, () =>
    withBulkConnection(db, async (connection) => {
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
            projectStreams([connection, secondLoader], readStreamsInBulk(reader), (done) => onProgress(done, total)),
          ),
        );
        await finishNewTables(connection);

        let caughtUp = 0;
        for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
          const next = await oldestRunningTransaction(connection);
          const stories = await catchUp(connection, horizon);
          caughtUp += stories;
          horizon = next;
          if (stories <= FEW_STORIES) break;
        }

        const attempts = options.swapAttempts ?? 100;
        for (let attempt = 1; ; attempt++) {
          try {
            await connection.transaction((tx) =>
              swapInNewTables(tx, options.lockTimeoutMs ?? 200, async () => {
                // under the lock no writer is between appending and projecting: everything is committed
                const touched = await storiesTouchedSince(tx, horizon);
                // readers and writers queue behind the lock: a long catch-up is done outside it
                // (more with each try, so that writers faster than the catch-up can't hold it off for ever)
                if (touched.length > MOST_CAUGHT_UP_UNDER_LOCK * attempt && attempt < attempts) throw new TooMuchToCatchUp();
                caughtUp += await catchUpStories(tx, touched);
                await forgetDeletedStories(tx);
              }),
            );
            return { ...built, caughtUp, swapRetries: attempt - 1 };
          } catch (error) {
            const tooMuch = error instanceof TooMuchToCatchUp;
            if (!isLockTimeout(error) && !tooMuch) throw error;
            if (attempt >= attempts) {
              throw new Error(`rebuild could not take the read tables' lock in ${attempts} attempts; the live tables are unchanged`, { cause: error });
            }
            if (!tooMuch) await sleep(Math.min(2_000, 50 * attempt) * (0.5 + Math.random()));
            const next = await oldestRunningTransaction(connection);
            caughtUp += await catchUp(connection, horizon);
            horizon = next;
          }
        }
      } catch (error) {
        await dropNewTables(connection).catch(() => {});
        throw error;
      }
    }),
  );
}

/**
 * Folds each stream and loads its rows into the new tables, batch after batch, each batch on
 * the next of `loaders`. Loading overlaps folding: at most one load per loader is in flight.
 * Returns how many streams and events it projected.
 */
async function projectStreams(
  loaders: readonly BulkStatements[],
  streams: AsyncIterable<[string, StoredEvent[]]>,
  onLoaded: (done: { streams: number; events: number }) => void = () => {},
): Promise<{ streams: number; events: number }> {
  const done = { streams: 0, events: 0 };
  let lines = noLines();
  const loading = loaders.map(() => Promise.resolve());
  let batches = 0;
  // progress is reported in the order batches were read, whichever loader finishes first
  let reported = Promise.resolve();
  const load = async () => {
    const batch = lines;
    const counted = { ...done };
    lines = noLines();
    const turn = batches++ % loaders.length;
    await loading[turn];
    const loaded = loadNewStories(loaders[turn]!, batch, NEW_READ_TABLES);
    loading[turn] = loaded;
    reported = reported.then(() => loaded).then(() => onLoaded(counted));
    // a failed load is reported by the awaits below, not as an unhandled rejection
    loaded.catch(() => {});
    reported.catch(() => {});
  };
  for await (const [storyId, events] of streams) {
    addNewStory(lines, planNewStory(foldEvents(storyId, events)));
    done.streams++;
    done.events += events.length;
    if (lines.rows >= ROWS_PER_LOAD) await load();
  }
  await load();
  await Promise.all(loading);
  await reported;
  return done;
}

/**
 * Projects again, from their whole logs, the stories that events of transactions at or after
 * `horizon` touched. Returns how many.
 */
async function catchUp(db: BulkStatements, horizon: string): Promise<number> {
  return catchUpStories(db, await storiesTouchedSince(db, horizon));
}

async function storiesTouchedSince(db: BulkStatements, horizon: string): Promise<string[]> {
  const touched = await db.query<{ story_id: string }>("SELECT DISTINCT story_id FROM story_events WHERE transaction_id >= $1::xid8", [horizon]);
  return touched.map((row) => row.story_id);
}

async function catchUpStories(db: BulkStatements, storyIds: readonly string[]): Promise<number> {
  if (storyIds.length === 0) return 0;
  // deleting the story row deletes its modules and versions (the foreign keys cascade)
  await db.query("DELETE FROM stories_rebuild WHERE id = ANY($1::uuid[])", [storyIds]);
  await projectStreams([db], readStreamsInBulk(db, storyIds));
  return storyIds.length;
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
