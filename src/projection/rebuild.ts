// rebuild: empties the read tables and projects every story again from its log.
import type { Database } from "../database/connect.ts";
import { foldEvents, initialState } from "../domain/story.ts";
import { countEvents, readEveryStream } from "../eventstore/eventStore.ts";
import { insertNewStories } from "./bulkInsert.ts";
import { planProjection, type ProjectionPlan } from "./projectStory.ts";

export type Progress = (done: { streams: number; events: number }, total: { streams: number; events: number }) => void;

/** Rows per insert statement: large enough to amortise round trips, small enough for memory. */
const ROWS_PER_BATCH = 5_000;

/** In one transaction: readers see the old tables until the new ones are complete. */
export async function rebuildReadTables(db: Database, onProgress: Progress = () => {}): Promise<{ streams: number; events: number }> {
  return db.prisma.$transaction(
    async (tx) => {
      const total = await countEvents(tx);
      await tx.$executeRawUnsafe("TRUNCATE stories, story_modules, story_versions");
      const done = { streams: 0, events: 0 };
      onProgress(done, total);
      let batch: ProjectionPlan[] = [];
      let rows = 0;
      const flush = async () => {
        await insertNewStories(tx, batch);
        onProgress(done, total);
        batch = [];
        rows = 0;
      };
      for await (const [storyId, events] of readEveryStream(tx)) {
        const plan = planProjection(initialState(storyId), foldEvents(storyId, events));
        batch.push(plan);
        rows += 1 + plan.modules.length + plan.versions.length;
        done.streams++;
        done.events += events.length;
        if (rows >= ROWS_PER_BATCH) await flush();
      }
      await flush();
      return done;
    },
    { maxWait: 60_000, timeout: 24 * 60 * 60 * 1000 },
  );
}
