// rebuild: projects every story again from its log into new read tables beside the live
// ones, catches up with what was appended meanwhile, and swaps the new tables in under a
// short lock. Readers and writers go on throughout; the lock is held only for the last
// catch-up and the renames, and given up and retried whenever it can't be had quickly.
import type { Database } from "../database/connect.ts";
import { isLockTimeout } from "../database/connectionErrors.ts";
import type { DbClient } from "../database/types.ts";
import { foldEvents } from "../domain/story.ts";
import { countEvents, readEveryStream, toStoredEvent, type StoredEvent } from "../eventstore/eventStore.ts";
import { insertNewStories } from "./bulkInsert.ts";
import { planNewStory, type NewStoryPlan } from "./projectionPlan.ts";
import { addForeignKeys, createNewTables, dropNewTables, NEW_READ_TABLES, swapInNewTables } from "./shadowTables.ts";

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

/** Rows per insert statement: large enough to amortise round trips, small enough for memory. */
const ROWS_PER_BATCH = 5_000;
/** Stories projected again per catch-up statement. */
const CATCH_UP_BATCH = 100;
/** Catch-up rounds before the swap: each one shorter than the last while writers go on. */
const CATCH_UP_ROUNDS = 5;
/** A round that found this few stories leaves the rest to the swap. */
const FEW_STORIES = 20;

export async function rebuildReadTables(db: Database, onProgress: Progress = () => {}, options: RebuildOptions = {}): Promise<RebuildResult> {
  const prisma = db.prisma;
  return holdingRebuildLease(db, async () => {
    await createNewTables(prisma);
    try {
      // every event of a transaction older than this is visible to the build that follows
      let horizon = await oldestRunningTransaction(prisma);
      const built = await fillNewTables(prisma, onProgress);
      await addForeignKeys(prisma);

      let caughtUp = 0;
      for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
        const next = await oldestRunningTransaction(prisma);
        const stories = await catchUp(prisma, horizon);
        caughtUp += stories;
        horizon = next;
        if (stories <= FEW_STORIES) break;
      }

      const attempts = options.swapAttempts ?? 100;
      for (let attempt = 1; ; attempt++) {
        try {
          await prisma.$transaction(
            (tx) =>
              swapInNewTables(tx, options.lockTimeoutMs ?? 200, async () => {
                // under the lock no writer is between appending and projecting: everything is committed
                caughtUp += await catchUp(tx, horizon);
                await forgetDeletedStories(tx);
              }),
            { maxWait: 60_000, timeout: 10 * 60_000 },
          );
          return { ...built, caughtUp, swapRetries: attempt - 1 };
        } catch (error) {
          if (!isLockTimeout(error)) throw error;
          if (attempt >= attempts) {
            throw new Error(`rebuild could not take the read tables' lock in ${attempts} attempts; the live tables are unchanged`, { cause: error });
          }
          await sleep(Math.min(2_000, 50 * attempt) * (0.5 + Math.random()));
          const next = await oldestRunningTransaction(prisma);
          caughtUp += await catchUp(prisma, horizon);
          horizon = next;
        }
      }
    } catch (error) {
      await dropNewTables(prisma).catch(() => {});
      throw error;
    }
  });
}

/** Every story's log, folded and written to the new tables in batches. */
async function fillNewTables(db: DbClient, onProgress: Progress): Promise<{ streams: number; events: number }> {
  const total = await countEvents(db);
  const done = { streams: 0, events: 0 };
  onProgress(done, total);
  let batch: NewStoryPlan[] = [];
  let rows = 0;
  const flush = async () => {
    await insertNewStories(db, batch, NEW_READ_TABLES);
    onProgress(done, total);
    batch = [];
    rows = 0;
  };
  for await (const [storyId, events] of readEveryStream(db, { content: "references" })) {
    const plan = planNewStory(foldEvents(storyId, events));
    batch.push(plan);
    rows += 1 + plan.modules.length + plan.versions.length;
    done.streams++;
    done.events += events.length;
    if (rows >= ROWS_PER_BATCH) await flush();
  }
  await flush();
  return done;
}

/**
 * Projects again, from their whole logs, the stories that events of transactions at or after
 * `horizon` touched. Returns how many.
 */
async function catchUp(db: DbClient, horizon: string): Promise<number> {
  const touched = await db.$queryRaw<{ story_id: string }[]>`
    SELECT DISTINCT story_id FROM story_events WHERE transaction_id >= ${horizon}::xid8`;
  const storyIds = touched.map((row) => row.story_id);
  for (let i = 0; i < storyIds.length; i += CATCH_UP_BATCH) {
    const chunk = storyIds.slice(i, i + CATCH_UP_BATCH);
    // deleting the story row deletes its modules and versions (the foreign keys cascade)
    await db.$executeRaw`DELETE FROM stories_rebuild WHERE id = ANY(${chunk}::uuid[])`;
    const rows = await db.storyEvent.findMany({ where: { storyId: { in: chunk } }, orderBy: [{ storyId: "asc" }, { seq: "asc" }] });
    const streams = new Map<string, StoredEvent[]>();
    for (const row of rows) streams.set(row.storyId, [...(streams.get(row.storyId) ?? []), toStoredEvent(row)]);
    const plans = [...streams].map(([storyId, events]) => planNewStory(foldEvents(storyId, events)));
    await insertNewStories(db, plans, NEW_READ_TABLES);
  }
  return storyIds.length;
}

/** Stories deleted during the rebuild took their events with them: their rows go too. */
async function forgetDeletedStories(db: DbClient): Promise<void> {
  await db.$executeRaw`DELETE FROM stories_rebuild s WHERE NOT EXISTS (SELECT 1 FROM story_events e WHERE e.story_id = s.id)`;
}

/** The oldest transaction still running, as text (xid8): older ones have all ended. */
async function oldestRunningTransaction(db: DbClient): Promise<string> {
  const rows = await db.$queryRaw<{ xmin: string }[]>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`;
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
