// Per-request loaders for comments, part of createLoaders (./loaders.ts): every comment is read
// through the story's access check (`visibleRows`), so a stranger's comment loads as missing.
import DataLoader from "dataloader";
import type { DbClient } from "../database/types.ts";
import type { StoryComment, User } from "../generated/prisma/client.ts";

export function createCommentLoaders(prisma: DbClient, visibleRows: <T extends { storyId: string }>(rows: T[]) => Promise<T[]>) {
  const comment = new DataLoader<string, StoryComment | null>(async (ids) => {
    const rows = await visibleRows(await prisma.storyComment.findMany({ where: { id: { in: [...ids] } } }));
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  });
  return {
    comment,
    /** a thread's replies that are not deleted, oldest first (at most COMMENT_LIMITS.repliesPerThread) */
    repliesOf: new DataLoader<string, StoryComment[]>(async (parentIds) => {
      const rows = await visibleRows(
        await prisma.storyComment.findMany({
          where: { parentId: { in: [...parentIds] }, deletedAt: null },
          orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        }),
      );
      for (const row of rows) comment.prime(row.id, row);
      const grouped = new Map<string, StoryComment[]>(parentIds.map((id) => [id, []]));
      for (const row of rows) grouped.get(row.parentId!)?.push(row);
      return parentIds.map((id) => grouped.get(id) ?? []);
    }),
    /**
     * Users reached through something of a story the viewer may read (a comment's author, an
     * activity's actor): they share the story, so their username shows (the email stays theirs).
     * Never a way to look a user up by id: only resolvers of such objects use it.
     */
    storyPeer: new DataLoader<string, User | null>(async (ids) => {
      const rows = await prisma.user.findMany({ where: { id: { in: [...ids] } } });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
