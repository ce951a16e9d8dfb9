// Per-request DataLoaders. Every lookup is scoped to the viewer's membership: the objects of a
// story the viewer is not a member of, or of a story in the trash, load as missing, so no
// resolver can leak them.
import DataLoader from "dataloader";
import { notFound } from "../domain/errors.ts";
import type { Database } from "../database/connect.ts";
import type { DbClient } from "../database/types.ts";
import { retryingLostConnections } from "../database/connectionErrors.ts";
import type { AiGeneration, Metadata, Story, StoryBranch, StoryModule, StoryVersion, User } from "../generated/prisma/client.ts";
import { toStoredEvents, type StoredEvent } from "../eventstore/eventStore.ts";
import { readVersionContents } from "../history/versionContent.ts";
import type { VersionContent } from "../history/versionDiff.ts";
import type { Viewer } from "./context.ts";
import type { StoryState } from "../domain/story.ts";
import { storyRow, versionRow } from "../projection/storyRows.ts";
import type { MetadataParentType } from "../commands/metadataCommands.ts";
import { createCommentLoaders } from "./commentLoaders.ts";
import { isRole, type Role } from "../domain/roles.ts";

export type VersionsPageKey = { storyId: string; first: number; beforeNumber: number | null; labeledOnly: boolean };

export type Loaders = ReturnType<typeof createLoaders>;

export function createLoaders(prisma: DbClient, viewer: Viewer | null) {
  const member = viewer?.id ?? "00000000-0000-0000-0000-000000000000";
  /** a story the viewer is a member of, in any role, and not in the trash */
  const shared = { trashedAt: null, collaborators: { some: { userId: member } } };
  const ownStory = { story: shared };

  const byKey = <T, K>(keys: readonly K[], rows: T[], keyOf: (row: T) => K): (T | null)[] => {
    const map = new Map(rows.map((row) => [keyOf(row), row]));
    return keys.map((k) => map.get(k) ?? null);
  };
  const grouped = <T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] => {
    const map = new Map<string, T[]>(keys.map((k) => [k, []]));
    for (const row of rows) map.get(keyOf(row))?.push(row);
    return keys.map((k) => map.get(k) ?? []);
  };

  const story = new DataLoader<string, Story | null>(async (ids) =>
    byKey(ids, await prisma.story.findMany({ where: { id: { in: [...ids] }, ...shared } }), (s) => s.id),
  );
  /** the viewer's role in each story; null where the viewer is not a member */
  const storyRole = new DataLoader<string, Role | null>(async (ids) =>
    byKey(
      ids,
      (
        await prisma.collaborator.findMany({ where: { storyId: { in: [...ids] }, userId: member, story: { trashedAt: null } }, select: { storyId: true, role: true } })
      ).flatMap((row) =>
        isRole(row.role) ? [{ storyId: row.storyId, role: row.role }] : [],
      ),
      (row) => row.storyId,
    ).map((row) => row?.role ?? null),
  );

  /** Loads rows that name their story, keeping only the viewer's. */
  const ownedRows = async <T extends { storyId: string }>(rows: T[]): Promise<T[]> => {
    const stories = await story.loadMany([...new Set(rows.map((r) => r.storyId))]);
    // a story that failed to load (a lost connection) is not a story that isn't the viewer's
    const failed = stories.find((s): s is Error => s instanceof Error);
    if (failed) throw failed;
    const visible = new Set(stories.flatMap((s) => (s && !(s instanceof Error) ? [s.id] : [])));
    return rows.filter((r) => visible.has(r.storyId));
  };

  return {
    /** users: the viewer, and the members of stories the viewer is a member of (their email only to themselves) */
    user: new DataLoader<string, User | null>(async (ids) =>
      byKey(
        ids,
        await prisma.user.findMany({ where: { id: { in: [...ids] }, OR: [{ id: member }, { memberships: { some: { story: shared } } }] } }),
        (u) => u.id,
      ),
    ),
    story,
    storyRole,
    modulesOfStory: new DataLoader<string, StoryModule[]>(async (storyIds) =>
      grouped(
        storyIds,
        await prisma.storyModule.findMany({ where: { storyId: { in: [...storyIds] }, ...ownStory }, orderBy: { moduleOrder: "asc" } }),
        (m) => m.storyId,
      ),
    ),
    module: new DataLoader<string, StoryModule | null>(async (ids) =>
      byKey(ids, await prisma.storyModule.findMany({ where: { id: { in: [...ids] }, ...ownStory } }), (m) => m.id),
    ),
    version: new DataLoader<string, StoryVersion | null>(async (ids) =>
      byKey(ids, await prisma.storyVersion.findMany({ where: { id: { in: [...ids] }, ...ownStory } }), (v) => v.id),
    ),
    versionByNumber: new DataLoader<string, StoryVersion | null>(async (keys) => {
      const pairs = keys.map((k) => JSON.parse(k) as [string, number]);
      const rows = await prisma.storyVersion.findMany({
        where: { OR: pairs.map(([storyId, versionNumber]) => ({ storyId, versionNumber })), ...ownStory },
      });
      return byKey(keys, rows, (v) => JSON.stringify([v.storyId, v.versionNumber]));
    }),
    /**
     * Newest first, `first` of them, numbered below `beforeNumber`: read from the index with a
     * LIMIT per story, however long the history, and without the versions' content (a snapshot
     * is read by `versionContent`, only when asked for).
     */
    versionsPage: new DataLoader<VersionsPageKey, VersionSummary[], string>(
      async (keys) => {
        const results = new Map<string, VersionSummary[]>();
        // one statement per distinct page shape
        const shapes = new Map<string, VersionsPageKey[]>();
        for (const key of keys) {
          const shape = JSON.stringify([key.first, key.beforeNumber, key.labeledOnly]);
          shapes.set(shape, [...(shapes.get(shape) ?? []), key]);
        }
        for (const group of shapes.values()) {
          const { first, beforeNumber, labeledOnly } = group[0]!;
          const storyIds = group.map((k) => k.storyId);
          const rows = await prisma.$queryRaw<VersionSummaryRow[]>`
            SELECT v.id, v.story_id, v.version_number, v.parent_version_id, v.event_seq, v.created_at, v.label, v.generation_id, v.author_id
              FROM stories s
              CROSS JOIN LATERAL (
                SELECT id, story_id, version_number, parent_version_id, event_seq, created_at, label, generation_id, author_id
                  FROM story_versions
                 WHERE story_id = s.id
                   AND (${beforeNumber}::int IS NULL OR version_number < ${beforeNumber}::int)
                   AND (NOT ${labeledOnly}::boolean OR label IS NOT NULL)
                 ORDER BY version_number DESC
                 LIMIT ${first}) v
             WHERE s.id = ANY(${storyIds}::uuid[]) AND s.trashed_at IS NULL
               AND EXISTS (SELECT 1 FROM collaborators c WHERE c.story_id = s.id AND c.user_id = ${member}::uuid)
             ORDER BY v.story_id, v.version_number DESC`;
          const byStory = grouped(storyIds, rows.map(versionSummaryFromRow), (v) => v.storyId);
          group.forEach((key, i) => results.set(JSON.stringify(key), byStory[i]!));
        }
        return keys.map((key) => results.get(JSON.stringify(key)) ?? []);
      },
      { cacheKeyFn: (key) => JSON.stringify(key) },
    ),
    /** A version's snapshot and inputs, for versions loaded without them. */
    versionContent: new DataLoader<string, VersionContent | null>(async (ids) => {
      const contents = await readVersionContents(prisma, ids, member);
      return ids.map((id) => contents.get(id) ?? null);
    }),
    event: new DataLoader<string, StoredEvent | null>(async (ids) => {
      const rows = await ownedRows(await prisma.storyEvent.findMany({ where: { id: { in: [...ids] } } }));
      return byKey(ids, await toStoredEvents(prisma, rows), (e) => e.id);
    }),
    eventBySeq: new DataLoader<string, StoredEvent | null>(async (keys) => {
      const pairs = keys.map((k) => JSON.parse(k) as [string, number]);
      const rows = await ownedRows(await prisma.storyEvent.findMany({ where: { OR: pairs.map(([storyId, seq]) => ({ storyId, seq })) } }));
      return byKey(keys, await toStoredEvents(prisma, rows), (e) => JSON.stringify([e.storyId, e.seq]));
    }),
    /** a generation is seen by the members of its story, whoever ran it */
    generation: new DataLoader<string, AiGeneration | null>(async (ids) =>
      byKey(ids, await ownedRows(await prisma.aiGeneration.findMany({ where: { id: { in: [...ids] } } })), (g) => g.id),
    ),
    metadata: new DataLoader<string, Metadata | null>(async (ids) =>
      byKey(ids, await ownedRows(await prisma.metadata.findMany({ where: { id: { in: [...ids] } } })), (m) => m.id),
    ),
    metadataOf: new DataLoader<string, Metadata[]>(async (keys) => {
      const pairs = keys.map((k) => JSON.parse(k) as [MetadataParentType, string]);
      const rows = await ownedRows(
        await prisma.metadata.findMany({
          where: { OR: pairs.map(([parentType, parentId]) => ({ parentType, parentId })) },
          orderBy: { key: "asc" },
        }),
      );
      return grouped(keys, rows, (m) => JSON.stringify([m.parentType, m.parentId]));
    }),
    ...createCommentLoaders(prisma, ownedRows),
    /** where each of the viewer's stories was branched from; null for a story that is no branch */
    branchOrigin: new DataLoader<string, StoryBranch | null>(async (ids) =>
      byKey(ids, await ownedRows(await prisma.storyBranch.findMany({ where: { storyId: { in: [...ids] } } })), (b) => b.storyId),
    ),
    /** each story's direct branches the viewer is a member of, oldest first */
    branchesOf: new DataLoader<string, StoryBranch[]>(async (ids) =>
      grouped(
        ids,
        await ownedRows(await prisma.storyBranch.findMany({ where: { branchParentId: { in: [...ids] } }, orderBy: [{ createdAt: "asc" }, { storyId: "asc" }] })),
        (b) => b.branchParentId,
      ),
    ),
  };
}

/** A version without its content: what a page of versions lists. */
export type VersionSummary = Omit<StoryVersion, "outputRefs" | "inputRefs" | "writtenIn">;

type VersionSummaryRow = {
  id: string;
  story_id: string;
  version_number: number;
  parent_version_id: string | null;
  event_seq: number;
  created_at: Date;
  label: string | null;
  generation_id: string | null;
  author_id: string;
};

function versionSummaryFromRow(row: VersionSummaryRow): VersionSummary {
  return {
    id: row.id,
    storyId: row.story_id,
    versionNumber: row.version_number,
    parentVersionId: row.parent_version_id,
    eventSeq: row.event_seq,
    createdAt: row.created_at,
    label: row.label,
    generationId: row.generation_id,
    authorId: row.author_id,
  };
}

export const versionKey = (storyId: string, number: number) => JSON.stringify([storyId, number]);
export const eventKey = (storyId: string, seq: number) => JSON.stringify([storyId, seq]);
export const metadataKey = (parentType: MetadataParentType, parentId: string) => JSON.stringify([parentType, parentId]);

/** Forgets everything loaded so far: after a write, this request reads afresh. */
export function clearLoaders(loaders: Loaders): void {
  for (const loader of Object.values(loaders)) loader.clearAll();
}

/** Loads many keys as values or nulls (a failed batch fails the field). */
export function loadAll<K, V>(loader: DataLoader<K, V | null, unknown>, keys: readonly K[]): Promise<(V | null)[]> {
  return Promise.all(keys.map((key) => loader.load(key)));
}

/**
 * The story, when it is not in the trash: a story that User.trash lists shows its details only;
 * what it holds is a missing story's until it is restored.
 */
export function outsideTrash<T extends { trashedAt: Date | null }>(story: T): T {
  if (story.trashedAt !== null) throw notFound("story");
  return story;
}

export function orNotFound<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw notFound(what);
  return value;
}

/** What a command just wrote is what this request reads next: no need to ask the database. */
export function primeFromCommand(loaders: Loaders, after: StoryState, events: readonly StoredEvent[]): void {
  loaders.story.prime(after.id, storyRow(after) as Story);
  for (const version of after.versions) {
    if (version.parentNumber !== null && !after.versions.get(version.parentNumber)) continue;
    const row = versionRow(after, version) as unknown as StoryVersion;
    loaders.version.prime(row.id, row);
    loaders.versionByNumber.prime(versionKey(after.id, row.versionNumber), row);
  }
  for (const event of events) loaders.event.prime(event.id, event);
}

/**
 * Loaders for one live message, shared by all of a viewer's subscriptions that resolve it:
 * each message reads afresh, but a thousand subscribers read once, not a thousand times.
 */
const perMessage = new Map<string, { loaders: Loaders; expires: number }>();
const PER_MESSAGE_TTL_MS = 5_000;

export function loadersForMessage(db: Database, viewer: Viewer | null, messageId: string): Loaders {
  const key = `${viewer?.id ?? ""}:${messageId}`;
  const now = Date.now();
  const cached = perMessage.get(key);
  if (cached && cached.expires > now) return cached.loaders;
  if (perMessage.size > 1_000) {
    for (const [k, v] of perMessage) if (v.expires <= now) perMessage.delete(k);
  }
  // a live message has no client to resend it: its reads are retried when a connection is lost
  const loaders = createLoaders(retryingLostConnections(db.prisma), viewer);
  perMessage.set(key, { loaders, expires: now + PER_MESSAGE_TTL_MS });
  return loaders;
}

/** Whom a live feed is for: it ends when they are removed from the story (src/live/storyEventFeed.ts). */
export function viewerOf(context: { readonly viewer: Viewer | null }): { userId: string } | undefined {
  return context.viewer ? { userId: context.viewer.id } : undefined;
}
