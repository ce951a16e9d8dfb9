// The log as rebuild reads it: every stream, or some, each whole and in order, in large
// batches through the driver. The next batch is asked for before the current one is handed
// on, so that PostgreSQL reads while the caller folds.
import { EVENT_COLUMNS, fieldsOf } from "./tableColumns.ts";
import { toStoredEvent, type EventRow, type StoredEvent } from "../eventstore/eventStore.ts";
import type { BulkStatements } from "./bulkConnection.ts";

/** Events per statement: large enough to amortise the round trip, small enough for memory. */
const EVENTS_PER_BATCH = 10_000;
/** Streams per statement when some are read by id. */
const STREAMS_PER_BATCH = 500;

const EVENT_FIELDS = fieldsOf(EVENT_COLUMNS)
  .map(([field, column]) => `"${column}" AS "${field}"`)
  .join(", ");
const FIRST_BATCH = `SELECT ${EVENT_FIELDS} FROM story_events ORDER BY story_id, seq LIMIT $1`;
const NEXT_BATCH = `SELECT ${EVENT_FIELDS} FROM story_events WHERE (story_id, seq) > ($2::uuid, $3::int) ORDER BY story_id, seq LIMIT $1`;
const OF_STREAMS = `SELECT ${EVENT_FIELDS} FROM story_events WHERE story_id = ANY($1::uuid[]) ORDER BY story_id, seq`;

const AFTER_POSITIONS = `SELECT ${EVENT_FIELDS} FROM story_events
  WHERE EXISTS (SELECT 1 FROM unnest($1::uuid[], $2::int[]) AS p(story_id, after) WHERE p.story_id = story_events.story_id AND story_events.seq > p.after)
  ORDER BY story_id, seq`;

/** A stream and the last of its events already read. */
export type StreamPosition = { storyId: string; after: number };

/** Every stream (or those of `storyIds`), each with all its events in order. */
export function readStreamsInBulk(db: BulkStatements, storyIds?: readonly string[]): AsyncGenerator<[string, StoredEvent[]]> {
  return byStream(storyIds ? batchesOf(db, storyIds) : batchesOfEverything(db));
}

/** The events of each stream after its position, in order; streams with none are left out. */
export function readStreamsAfter(db: BulkStatements, positions: readonly StreamPosition[]): AsyncGenerator<[string, StoredEvent[]]> {
  return byStream(batchesAfter(db, positions));
}

async function* byStream(batches: AsyncIterable<EventRow[]>): AsyncGenerator<[string, StoredEvent[]]> {
  let current: { storyId: string; events: StoredEvent[] } | null = null;
  for await (const rows of batches) {
    for (const row of rows) {
      if (current && current.storyId !== row.storyId) {
        yield [current.storyId, current.events];
        current = null;
      }
      current ??= { storyId: row.storyId, events: [] };
      current.events.push(toStoredEvent(row));
    }
  }
  if (current) yield [current.storyId, current.events];
}

async function* batchesOfEverything(db: BulkStatements): AsyncGenerator<EventRow[]> {
  let next = prefetch(db.query<EventRow>(FIRST_BATCH, [EVENTS_PER_BATCH]));
  for (;;) {
    const rows = await next;
    const last = rows.at(-1);
    if (rows.length < EVENTS_PER_BATCH || !last) {
      yield rows;
      return;
    }
    next = prefetch(db.query<EventRow>(NEXT_BATCH, [EVENTS_PER_BATCH, last.storyId, last.seq]));
    yield rows;
  }
}

async function* batchesOf(db: BulkStatements, storyIds: readonly string[]): AsyncGenerator<EventRow[]> {
  for (let i = 0; i < storyIds.length; i += STREAMS_PER_BATCH) {
    yield await db.query<EventRow>(OF_STREAMS, [storyIds.slice(i, i + STREAMS_PER_BATCH)]);
  }
}

async function* batchesAfter(db: BulkStatements, positions: readonly StreamPosition[]): AsyncGenerator<EventRow[]> {
  for (let i = 0; i < positions.length; i += STREAMS_PER_BATCH) {
    const some = positions.slice(i, i + STREAMS_PER_BATCH);
    yield await db.query<EventRow>(AFTER_POSITIONS, [some.map((p) => p.storyId), some.map((p) => p.after)]);
  }
}

/** A batch asked for ahead: if the caller stops first, its failure is nobody's to report. */
function prefetch<T>(batch: Promise<T>): Promise<T> {
  batch.catch(() => {});
  return batch;
}
