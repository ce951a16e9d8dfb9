// The event store: the log's rows, the stamps an append puts on events, and reading a stream
// from a position. Appending is ./append.ts. Knows nothing of the story's rules.
import { randomUUID } from "node:crypto";
import { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "../database/types.ts";
import { StoredOutput, outputRefs, type OutputContent, type OutputRefs } from "../domain/content.ts";
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
  return row ? { event: (await toStoredEvents(db, [row]))[0]!, requestHash: row.requestHash } : null;
}

/**
 * How events are read. `content`: as decided, a ModuleWritten's output whole — for anything that
 * shows or replays content. `references`: its output as a StoredOutput, nothing read from
 * story_contents — for folds that only write the read tables (rebuild, verify).
 */
export type EventContent = "content" | "references";

/** Events of one stream with seq > after, oldest first. */
export async function readStream(
  db: DbClient,
  storyId: string,
  options: { after?: number; limit?: number; content?: EventContent } = {},
): Promise<StoredEvent[]> {
  const rows = await db.storyEvent.findMany({
    where: { storyId, seq: { gt: options.after ?? 0 } },
    orderBy: { seq: "asc" },
    ...(options.limit === undefined ? {} : { take: options.limit }),
  });
  return toStoredEvents(db, rows, options.content ?? "content");
}

/** The log's part of a stored event row: what decoding it needs. */
export type EventRow = Pick<
  Prisma.StoryEventGetPayload<object>,
  "id" | "storyId" | "seq" | "type" | "schemaVersion" | "payload" | "actorId" | "createdAt" | "activeVersionNumber" | "idempotencyKey"
>;

/** Rows of the log as events, their outputs read from story_contents in one statement when `content`. */
export async function toStoredEvents(db: DbClient, rows: readonly EventRow[], content: EventContent = "content"): Promise<StoredEvent[]> {
  const events = rows.map(toStoredEvent);
  if (content === "references") return events;
  const stored = events.flatMap((event) => (event.type === "ModuleWritten" && event.payload.output instanceof StoredOutput ? [event.payload.output.refs] : []));
  if (stored.length === 0) return events;
  const hashes = [...new Set(stored.flatMap((refs) => Object.values(refs)))];
  const storyIds = [...new Set(events.map((event) => event.storyId))];
  const contents = await db.$queryRaw<{ story_id: string; hash: string; value: unknown }[]>`
    SELECT story_id, hash, value FROM story_contents WHERE story_id = ANY(${storyIds}::uuid[]) AND hash = ANY(${hashes}::text[])`;
  const values = new Map(contents.map((row) => [`${row.story_id}:${row.hash}`, row.value]));
  const contentOf = (event: StoredEvent, refs: OutputRefs) =>
    Object.fromEntries(
      Object.entries(refs).map(([field, hash]) => {
        const value = values.get(`${event.storyId}:${hash}`);
        if (value === undefined) throw new Error(`story ${event.storyId}: content ${hash} of event ${event.seq} is missing`);
        return [field, value];
      }),
    );
  return events.map((event) =>
    event.type === "ModuleWritten" && event.payload.output instanceof StoredOutput
      ? { ...event, payload: { ...event.payload, output: contentOf(event, event.payload.output.refs) } }
      : event,
  );
}

/** A row of the log as an event, a ModuleWritten's output as its references if that is how it is stored. */
export function toStoredEvent(row: EventRow): StoredEvent {
  const data = upcast({ type: row.type, schemaVersion: row.schemaVersion, payload: decodePayload(row.payload) });
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

/**
 * A payload as the log keeps it: a ModuleWritten's output as `outputRefs`, its content going to
 * story_contents in the same statement (the version it makes brings it). Other payloads as they are.
 */
export function storedPayload(event: { type: string; payload: object }): object {
  if (event.type !== "ModuleWritten") return event.payload;
  const { output, ...rest } = event.payload as { output: OutputContent };
  return { ...rest, outputRefs: outputRefs(output) };
}

function decodePayload(payload: unknown): unknown {
  if (typeof payload !== "object" || payload === null || !("outputRefs" in payload)) return payload;
  const { outputRefs: refs, ...rest } = payload as { outputRefs: OutputRefs };
  return { ...rest, output: new StoredOutput(refs) };
}

/** Every stream, one at a time, each with all its events in order: for replay tools. */
export async function* readEveryStream(
  db: DbClient,
  options: { batchSize?: number; content?: EventContent } = {},
): AsyncGenerator<[string, StoredEvent[]]> {
  const batchSize = options.batchSize ?? 5_000;
  let after: { storyId: string; seq: number } | null = null;
  let current: { storyId: string; events: StoredEvent[] } | null = null;
  for (;;) {
    const rows: EventRow[] = await db.storyEvent.findMany({
      where: after ? { OR: [{ storyId: { gt: after.storyId } }, { storyId: after.storyId, seq: { gt: after.seq } }] } : {},
      orderBy: [{ storyId: "asc" }, { seq: "asc" }],
      take: batchSize,
    });
    for (const event of await toStoredEvents(db, rows, options.content ?? "content")) {
      if (current && current.storyId !== event.storyId) {
        yield [current.storyId, current.events];
        current = null;
      }
      current ??= { storyId: event.storyId, events: [] };
      current.events.push(event);
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
