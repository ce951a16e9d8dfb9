// The event store: the log's rows, the stamps an append puts on events, and reading a stream
// from a position. Appending is ./append.ts. Knows nothing of the story's rules.
import { randomUUID } from "node:crypto";
import { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "../database/types.ts";
import { EVENT_SCHEMA_VERSION, type RecordedStoryEvent, type StoryEventData } from "../domain/story.ts";
import { upcast } from "./upcast.ts";

/** A stored event with what the log keeps beside it. */
export type StoredEvent = RecordedStoryEvent & {
  readonly activeVersionNumber: number;
  readonly idempotencyKey: string | null;
};

/** A row of story_events as the write path inserts it. */
export type StoryEventRow = {
  id: string;
  storyId: string;
  seq: number;
  type: string;
  schemaVersion: number;
  payload: object;
  actorId: string | null;
  createdAt: Date;
  activeVersionNumber: number;
  idempotencyKey: string | null;
  /** fingerprint of the request that carried the idempotency key */
  requestHash: string | null;
};

export type RecordOptions = {
  /** the stream's revision as the caller read it under the stream's lock */
  currentRevision: number;
  actorId: string | null;
  now?: Date;
};

/** Stamps events for a stream: ids, sequence numbers and time. */
export function recordEvents(storyId: string, events: readonly StoryEventData[], options: RecordOptions): RecordedStoryEvent[] {
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

/** The seq of the stream's last committed event: its revision. */
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

/** A row of story_events as replay reads it (its global position is the feed's, not replay's). */
export type EventRow = Omit<Prisma.StoryEventGetPayload<object>, "position">;

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
