// The viewer's role in a story, read from the database: null for a stranger (who gets what a
// missing id gets). The one place a command outside the story's own stream asks who may act.
import type { DbClient } from "../database/types.ts";
import type { Role } from "../domain/roles.ts";

export async function roleInStory(db: DbClient, storyId: string, userId: string): Promise<Role | null> {
  // until membership lands, the owner is the only member
  const story = await db.story.findFirst({ where: { id: storyId, userId }, select: { id: true } });
  return story ? "owner" : null;
}
