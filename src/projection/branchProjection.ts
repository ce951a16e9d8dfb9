// The replay tools' part for branches: story_branches rebuilt from the BranchCreated events that
// begin branches' logs, through the story's one fold (a branch's row is what its first event makes).
//
// Rebuild: branches are few, and their rows never change, so story_branches is rebuilt in place,
// in one transaction, after the stories' tables are swapped: the table is locked against writers
// only (a branch being created waits, whole, since its statement writes its event and its row together).
import type { Database } from "../database/connect.ts";
import { foldEvents } from "../domain/story.ts";
import { toStoredEvents } from "../eventstore/eventStore.ts";
import { branchRows, type StoryBranchRow } from "./storyRows.ts";
import { BRANCH_COLUMNS, insertRows } from "./tableColumns.ts";

/** Rows per INSERT while rebuilding. */
const ROWS_PER_STATEMENT = 1_000;

export async function rebuildBranchTable(db: Database): Promise<{ branches: number }> {
  return db.prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`LOCK TABLE story_branches IN SHARE ROW EXCLUSIVE MODE`;
      await tx.$executeRaw`DELETE FROM story_branches`;
      let branches = 0;
      let after = "00000000-0000-0000-0000-000000000000";
      for (;;) {
        // a branch's first event, in batches by story id; read by reference (its content is not needed)
        const rows = await tx.storyEvent.findMany({
          where: { type: "BranchCreated", seq: 1, storyId: { gt: after } },
          orderBy: { storyId: "asc" },
          take: ROWS_PER_STATEMENT,
        });
        if (rows.length === 0) break;
        const images: StoryBranchRow[] = (await toStoredEvents(tx, rows, "references")).flatMap((event) => branchRows(foldEvents(event.storyId, [event])));
        await tx.$executeRaw(insertRows("story_branches", BRANCH_COLUMNS, images));
        branches += images.length;
        after = rows.at(-1)!.storyId;
        if (rows.length < ROWS_PER_STATEMENT) break;
      }
      return { branches };
    },
    { maxWait: 60_000, timeout: 60 * 60_000 },
  );
}
