// The metadata layer: free key/value data on a story, a module or a version the viewer owns.
import { Prisma } from "../generated/prisma/client.ts";
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { LIMITS } from "../domain/catalogue.ts";
import { badInput, notFound } from "../domain/errors.ts";

export type MetadataParentType = "story" | "module" | "version";
export type MetadataTarget = { parentType: MetadataParentType; parentId: string; key: string };

/** The story a parent belongs to, when the viewer owns it. */
async function owningStory(db: DbClient, parentType: MetadataParentType, parentId: string, ownerId: string): Promise<string> {
  const where = { id: parentId };
  const ownStory = { story: { userId: ownerId } };
  const found =
    parentType === "story"
      ? await db.story.findFirst({ where: { ...where, userId: ownerId }, select: { id: true } }).then((s) => s && { storyId: s.id })
      : parentType === "module"
        ? await db.storyModule.findFirst({ where: { ...where, ...ownStory }, select: { storyId: true } })
        : await db.storyVersion.findFirst({ where: { ...where, ...ownStory }, select: { storyId: true } });
  if (!found) throw notFound(parentType);
  return found.storyId;
}

function checkKey(key: string): string {
  if (key.length === 0) throw badInput("key", "must not be empty");
  if (key.length > LIMITS.metadataKeyChars) throw badInput("key", `must be at most ${LIMITS.metadataKeyChars} characters`);
  return key;
}

export async function setMetadata(db: Database, ownerId: string, target: MetadataTarget, value: unknown) {
  const key = checkKey(target.key);
  if (value === undefined || Buffer.byteLength(JSON.stringify(value), "utf8") > LIMITS.metadataValueBytes) {
    throw badInput("value", `must be JSON of at most ${LIMITS.metadataValueBytes} bytes`);
  }
  const json = value === null ? Prisma.JsonNull : (value as Prisma.InputJsonValue);
  return db.prisma.$transaction(async (tx) => {
    const storyId = await owningStory(tx, target.parentType, target.parentId, ownerId);
    return tx.metadata.upsert({
      where: { parentType_parentId_key: { parentType: target.parentType, parentId: target.parentId, key } },
      create: { parentType: target.parentType, parentId: target.parentId, storyId, key, value: json },
      update: { value: json },
    });
  });
}

/** Deletes one entry; returns it, or null when there was none. */
export async function deleteMetadata(db: Database, ownerId: string, target: MetadataTarget) {
  return db.prisma.$transaction(async (tx) => {
    await owningStory(tx, target.parentType, target.parentId, ownerId);
    const where = { parentType_parentId_key: { parentType: target.parentType, parentId: target.parentId, key: target.key } };
    const existing = await tx.metadata.findUnique({ where });
    if (existing) await tx.metadata.delete({ where });
    return existing;
  });
}
