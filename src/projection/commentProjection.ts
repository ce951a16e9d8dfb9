// The replay tools' part for comments: story_comments rebuilt from story_comment_events, and
// compared with them row for row, through the comment decider's one fold (foldComments).
//
// Rebuild: comments are few beside the stories' content, so story_comments is rebuilt in place,
// in one transaction, after the stories' tables are swapped: the table is locked against
// comment writers only (SHARE ROW EXCLUSIVE: readers go on and read the old rows until the commit;
// a comment being written waits, whole, since its statement writes its event and its row together).
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { foldComments, type RecordedCommentEvent } from "../domain/comments.ts";
import { readCommentStream, readEveryCommentStream } from "../eventstore/commentStream.ts";
import { COMMENT_COLUMNS, commentRow, type StoryCommentRow } from "./commentRows.ts";
import { insertRows } from "./tableColumns.ts";
import { compareRows, type Difference } from "./verify.ts";

/** Rows per INSERT while rebuilding. */
const ROWS_PER_STATEMENT = 1_000;

export async function rebuildCommentTable(db: Database): Promise<{ streams: number; events: number }> {
  return db.prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`LOCK TABLE story_comments IN SHARE ROW EXCLUSIVE MODE`;
      await tx.$executeRaw`DELETE FROM story_comments`;
      const done = { streams: 0, events: 0 };
      let rows: StoryCommentRow[] = [];
      const flush = async () => {
        if (rows.length > 0) await tx.$executeRaw(insertRows("story_comments", COMMENT_COLUMNS, rows));
        rows = [];
      };
      for await (const [storyId, events] of readEveryCommentStream(tx)) {
        for (const comment of foldComments(storyId, events).comments.values()) rows.push(commentRow(comment));
        done.streams++;
        done.events += events.length;
        if (rows.length >= ROWS_PER_STATEMENT) await flush();
      }
      await flush();
      return done;
    },
    { maxWait: 60_000, timeout: 60 * 60_000 },
  );
}

/** Every story's comment rows against the fold of its comment stream. */
export async function verifyCommentTables(db: Database): Promise<Difference[]> {
  const differences: Difference[] = [];
  const seen = new Set<string>();
  for await (const [storyId, events] of readEveryCommentStream(db.prisma)) {
    seen.add(storyId);
    let found = await compareStoryComments(db.prisma, storyId, events);
    // commented on since its stream was read: look again at the stream and the rows in one snapshot
    if (found.length > 0) found = await verifyStoryComments(db, storyId);
    differences.push(...found);
  }
  const orphans = await db.prisma.storyComment.findMany({ where: { storyId: { notIn: [...seen] } }, select: { storyId: true }, distinct: ["storyId"] });
  for (const { storyId } of orphans) differences.push(...(await verifyStoryComments(db, storyId)));
  return differences;
}

/** One story's comment rows against its comment stream, read in one snapshot. */
export async function verifyStoryComments(db: Database, storyId: string): Promise<Difference[]> {
  return db.prisma.$transaction(async (tx) => compareStoryComments(tx, storyId, await readCommentStream(tx, storyId)), {
    isolationLevel: "RepeatableRead",
    timeout: 60_000,
  });
}

export async function compareStoryComments(db: DbClient, storyId: string, events: readonly RecordedCommentEvent[]): Promise<Difference[]> {
  const differences: Difference[] = [];
  const expected = [...foldComments(storyId, events).comments.values()].map(commentRow);
  const actual = await db.storyComment.findMany({ where: { storyId } });
  compareRows(differences, storyId, "story_comments", expected, actual);
  return differences;
}
