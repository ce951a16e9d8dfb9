// The event store: append to a story's stream with an expected revision and an
// idempotency key, read a stream from a position. Knows nothing of the story's rules.
import { randomUUID } from "node:crypto";
import { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "../database/types.ts";
import { StorySparkError } from "../domain/errors.ts";
import { EVENT_SCHEMA_VERSION, type RecordedStoryEvent, type StoryEventData } from "../domain/story.ts";
import { upcast } from "./upcast.ts";

/** A stored event with what the log keeps beside it. */
export type StoredEvent = RecordedStoryEvent & {
  readonly activeVersionNumber: number;
  readonly idempotencyKey: string | null;
};

export type AppendOptions = {
  /** the stream's revision as the caller read it under the stream's lock */
  currentRevision: number;
  actorId: string | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  now?: Date;
};

/** Stamps events for a stream: ids, sequence numbers and time. */
export function recordEvents(storyId: string, events: readonly StoryEventData[], options: AppendOptions): RecordedStoryEvent[] {
  const createdAt = options.now ?? new Date();
  return events.map((event, i) => ({
    ...event,
    id: randomUUID(),
    storyId,
    seq: options.currentRevision + i + 1,
    schemaVersion: EVENT_SCHEMA_VERSION,
    actorId: options.actorId,
    createdAt,
  }));
}

/**
 * Appends recorded events. The caller holds the stream's lock; the unique
 * (story_id, seq) index is the last guard against a lost update.
 */
export async function appendToStream(
  db: DbClient,
  events: readonly RecordedStoryEvent[],
  activeVersionNumbers: readonly number[],
  options: Pick<AppendOptions, "idempotencyKey" | "requestHash">,
): Promise<StoredEvent[]> {
  try {
    await db.storyEvent.createMany({
      data: events.map((event, i) => ({
        id: event.id,
        storyId: event.storyId,
        seq: event.seq,
        type: event.type,
        schemaVersion: event.schemaVersion,
        payload: event.payload as Prisma.InputJsonObject,
        actorId: event.actorId,
        createdAt: event.createdAt,
        activeVersionNumber: activeVersionNumbers[i] ?? 0,
        // the key marks the command's last event, which carries its answer
        idempotencyKey: i === events.length - 1 ? (options.idempotencyKey ?? null) : null,
        requestHash: i === events.length - 1 ? (options.requestHash ?? null) : null,
      })),
    });
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
      const latest = events[0] ? await streamRevision(db, events[0].storyId) : 0;
      throw new StorySparkError("REVISION_CONFLICT", `the story is at revision ${latest}`, { actualRevision: latest });
    }
    throw error;
  }
  return events.map((event, i) => ({
    ...event,
    activeVersionNumber: activeVersionNumbers[i] ?? 0,
    idempotencyKey: i === events.length - 1 ? (options.idempotencyKey ?? null) : null,
  }));
}

export async function streamRevision(db: DbClient, storyId: string): Promise<number> {
  const result = await db.storyEvent.aggregate({ where: { storyId }, _max: { seq: true } });
  return result._max.seq ?? 0;
}

/** The event an earlier request with this idempotency key appended, and that request's fingerprint. */
export async function findByIdempotencyKey(
  db: DbClient,
  storyId: string,
  idempotencyKey: string,
): Promise<{ event: StoredEvent; requestHash: string | null } | null> {
  const row = await db.storyEvent.findUnique({ where: { storyId_idempotencyKey: { storyId, idempotencyKey } } });
  return row ? { event: toStoredEvent(row), requestHash: row.requestHash } : null;
}

/** Events of one stream with seq > after, oldest first. */
export async function readStream(
  db: DbClient,
  storyId: string,
  options: { after?: number; limit?: number } = {},
): Promise<StoredEvent[]> {
  const rows = await db.storyEvent.findMany({
    where: { storyId, seq: { gt: options.after ?? 0 } },
    orderBy: { seq: "asc" },
    ...(options.limit === undefined ? {} : { take: options.limit }),
  });
  return rows.map(toStoredEvent);
}

type EventRow = Prisma.StoryEventGetPayload<object>;

export function toStoredEvent(row: EventRow): StoredEvent {
  const data = upcast({ type: row.type, schemaVersion: row.schemaVersion, payload: row.payload });
  return {
    ...data,
    id: row.id,
    storyId: row.storyId,
    seq: row.seq,
    schemaVersion: EVENT_SCHEMA_VERSION,
    actorId: row.actorId,
    createdAt: row.createdAt,
    activeVersionNumber: row.activeVersionNumber,
    idempotencyKey: row.idempotencyKey,
  };
}

/** Every stream, one at a time, each with all its events in order: for replay tools. */
export async function* readEveryStream(db: DbClient, options: { batchSize?: number } = {}): AsyncGenerator<[string, StoredEvent[]]> {
  const batchSize = options.batchSize ?? 5_000;
  let after: { storyId: string; seq: number } | null = null;
  let current: { storyId: string; events: StoredEvent[] } | null = null;
  for (;;) {
    const rows: EventRow[] = await db.storyEvent.findMany({
      where: after ? { OR: [{ storyId: { gt: after.storyId } }, { storyId: after.storyId, seq: { gt: after.seq } }] } : {},
      orderBy: [{ storyId: "asc" }, { seq: "asc" }],
      take: batchSize,
    });
    for (const row of rows) {
      if (current && current.storyId !== row.storyId) {
        yield [current.storyId, current.events];
        current = null;
      }
      current ??= { storyId: row.storyId, events: [] };
      current.events.push(toStoredEvent(row));
    }
    if (rows.length < batchSize) break;
    const last = rows.at(-1)!;
    after = { storyId: last.storyId, seq: last.seq };
  }
  if (current) yield [current.storyId, current.events];
}

export async function countEvents(db: DbClient): Promise<{ streams: number; events: number }> {
  const rows = await db.$queryRaw<{ streams: bigint; events: bigint }[]>`
    SELECT count(DISTINCT story_id) AS streams, count(*) AS events FROM story_events`;
  return { streams: Number(rows[0]?.streams ?? 0), events: Number(rows[0]?.events ?? 0) };
}
