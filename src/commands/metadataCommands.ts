// The metadata layer: free key/value data on a story, a module or a version. Any member reads it
// (through the loaders); an editor or the owner writes it.
import { Prisma } from "../generated/prisma/client.ts";
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { LIMITS } from "../domain/catalogue.ts";
import { badInput, notFound } from "../domain/errors.ts";
import { checkJson, checkText } from "../domain/text.ts";
import { requireStoryRole } from "./storyAccess.ts";

export type MetadataParentType = "story" | "module" | "version";
export type MetadataTarget = { parentType: MetadataParentType; parentId: string; key: string };

/**
 * The story a parent belongs to, when the viewer may write its metadata: a stranger gets what a
 * missing parent gets (NOT_FOUND), a member below editor FORBIDDEN.
 */
async function owningStory(db: DbClient, parentType: MetadataParentType, parentId: string, actorId: string): Promise<string> {
  const where = { id: parentId };
  const ownStory = { story: { trashedAt: null, collaborators: { some: { userId: actorId } } } };
  const found =
    parentType === "story"
      ? await db.story.findFirst({ where: { ...where, ...ownStory.story }, select: { id: true } }).then((s) => s && { storyId: s.id })
      : parentType === "module"
        ? await db.storyModule.findFirst({ where: { ...where, ...ownStory }, select: { storyId: true } })
        : await db.storyVersion.findFirst({ where: { ...where, ...ownStory }, select: { storyId: true } });
  if (!found) throw notFound(parentType);
  await requireStoryRole(db, found.storyId, actorId, "editor", "changing metadata");
  return found.storyId;
}

function checkKey(key: string): string {
  checkText("key", key);
  if (key.length === 0) throw badInput("key", "must not be empty");
  if (key.length > LIMITS.metadataKeyChars) throw badInput("key", `must be at most ${LIMITS.metadataKeyChars} characters`);
  return key;
}

export async function setMetadata(db: Database, ownerId: string, target: MetadataTarget, value: unknown) {
  const key = checkKey(target.key);
  // before measuring it: serialising a value nested 100,000 deep would overflow the stack
  if (value !== undefined) checkJson("value", value);
  if (value === undefined || Buffer.byteLength(JSON.stringify(value), "utf8") > LIMITS.metadataValueBytes) {
    throw badInput("value", `must be JSON of at most ${LIMITS.metadataValueBytes} bytes`);
  }
  const json = value === null ? Prisma.JsonNull : (value as Prisma.InputJsonValue);
  return db.prisma.$transaction(async (tx) => {
    const storyId = await owningStory(tx, target.parentType, target.parentId, ownerId);
    await checkRoomForKey(tx, target, key);
    return tx.metadata.upsert({
      where: { parentType_parentId_key: { parentType: target.parentType, parentId: target.parentId, key } },
      create: { parentType: target.parentType, parentId: target.parentId, storyId, key, value: json },
      update: { value: json },
    });
  });
}

/**
 * A new key needs room under its parent. Sets on one parent take turns (a transaction-scoped
 * lock), so two at once cannot both see room for the last key.
 */
async function checkRoomForKey(tx: DbClient, target: MetadataTarget, key: string): Promise<void> {
  await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`metadata:${target.parentType}:${target.parentId}`}))::text AS locked`;
  const where = { parentType: target.parentType, parentId: target.parentId };
  const existing = await tx.metadata.findUnique({ where: { parentType_parentId_key: { ...where, key } }, select: { id: true } });
  if (existing) return;
  const count = await tx.metadata.count({ where });
  if (count >= LIMITS.metadataKeysPerParent) {
    throw badInput("key", `a ${target.parentType} has at most ${LIMITS.metadataKeysPerParent} keys: delete one first`);
  }
}

/** Deletes one entry; returns it, or null when there was none. */
export async function deleteMetadata(db: Database, ownerId: string, target: MetadataTarget) {
  checkText("key", target.key);
  return db.prisma.$transaction(async (tx) => {
    await owningStory(tx, target.parentType, target.parentId, ownerId);
    const where = { parentType_parentId_key: { parentType: target.parentType, parentId: target.parentId, key: target.key } };
    const existing = await tx.metadata.findUnique({ where });
    if (existing) await tx.metadata.delete({ where });
    return existing;
  });
}
