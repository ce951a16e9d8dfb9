// rebuild: empties the read tables and projects every story again from its log.
import type { Database } from "../database/connect.ts";
import { foldEvents, initialState } from "../domain/story.ts";
import { countEvents, readEveryStream } from "../eventstore/eventStore.ts";
import { projectStory } from "./projectStory.ts";

export type Progress = (done: { streams: number; events: number }, total: { streams: number; events: number }) => void;

/** In one transaction: readers see the old tables until the new ones are complete. */
export async function rebuildReadTables(db: Database, onProgress: Progress = () => {}): Promise<{ streams: number; events: number }> {
  return db.prisma.$transaction(
    async (tx) => {
      const total = await countEvents(tx);
      await tx.$executeRawUnsafe("TRUNCATE stories, story_modules, story_versions");
      const done = { streams: 0, events: 0 };
      onProgress(done, total);
      for await (const [storyId, events] of readEveryStream(tx)) {
        await projectStory(tx, initialState(storyId), foldEvents(storyId, events));
        done.streams++;
        done.events += events.length;
        onProgress(done, total);
      }
      return done;
    },
    { maxWait: 60_000, timeout: 24 * 60 * 60 * 1000 },
  );
}
