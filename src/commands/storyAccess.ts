// The viewer's role in a story, read from the database: null for a stranger (who gets what a
// missing id gets), and for everyone while the story is in the trash. The one place a command
// outside the story's own stream asks who may act.
import type { DbClient } from "../database/types.ts";
import { notFound } from "../domain/errors.ts";
import { isRole, requireRole, type Role } from "../domain/roles.ts";

export async function roleInStory(db: DbClient, storyId: string, userId: string): Promise<Role | null> {
  const member = await db.collaborator.findFirst({ where: { storyId, userId, story: { trashedAt: null } }, select: { role: true } });
  return member && isRole(member.role) ? member.role : null;
}

/**
 * The viewer's role when it allows `needed`: NOT_FOUND for a stranger (as for a missing story),
 * FORBIDDEN naming the role needed for a member whose role is lower.
 */
export async function requireStoryRole(db: DbClient, storyId: string, userId: string, needed: Role, action: string): Promise<Role> {
  const role = await roleInStory(db, storyId, userId);
  if (role === null) throw notFound("story");
  requireRole(role, needed, action);
  return role;
}
