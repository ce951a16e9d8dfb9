// All events of all stories in commit order, for tools that follow the whole log.
//
// Positions come from a sequence, and PostgreSQL transactions can commit in another
// order than they took positions: a reader that only remembers the last position would
// skip an event that commits late. As Emmett and Marten do, each event records the id
// of the transaction that appended it (pg_current_xact_id()), and a reader only reads
// events of transactions older than the oldest one still running
// (pg_snapshot_xmin(pg_current_snapshot())), ordered by (transaction, position); its
// checkpoint is that pair. Committed-but-not-yet-safe events simply wait for the next read.
// The order is the xid8 column's own, numeric: the id travels as text (Prisma has no xid8)
// under another name, since ORDER BY would bind to an output alias of the same name and
// sort as strings ('1000' < '999'), skipping events past the first page.
import type { DbClient } from "../database/types.ts";
import { toStoredEvent, type StoredEvent } from "./eventStore.ts";

export type GlobalCheckpoint = { transactionId: bigint; position: bigint };
export type GlobalEvent = StoredEvent & { position: bigint; checkpoint: string };

export const START: GlobalCheckpoint = { transactionId: 0n, position: 0n };

export function formatCheckpoint(checkpoint: GlobalCheckpoint): string {
  return `${checkpoint.transactionId}:${checkpoint.position}`;
}

/** "transaction:position" as printed by formatCheckpoint; a bare number is a position in transaction 0. */
export function parseCheckpoint(text: string): GlobalCheckpoint | null {
  const match = /^(?:(\d+):)?(\d+)$/.exec(text.trim());
  if (!match) return null;
  return { transactionId: BigInt(match[1] ?? "0"), position: BigInt(match[2]!) };
}

type GlobalRow = {
  id: string;
  story_id: string;
  seq: number;
  type: string;
  schema_version: number;
  payload: unknown;
  actor_id: string | null;
  created_at: Date;
  active_version_number: number;
  idempotency_key: string | null;
  position: bigint;
  transaction_text: string;
};

/** The next events after a checkpoint that no running transaction can precede any more. */
export async function readAllAfter(db: DbClient, after: GlobalCheckpoint, limit = 1_000): Promise<GlobalEvent[]> {
  const rows = await db.$queryRaw<GlobalRow[]>`
    SELECT id, story_id, seq, type, schema_version, payload, actor_id, created_at, active_version_number,
           idempotency_key, position, transaction_id::text AS transaction_text
      FROM story_events AS e
     WHERE (e.transaction_id, e.position) > (${after.transactionId.toString()}::xid8, ${after.position})
       AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     ORDER BY e.transaction_id, e.position
     LIMIT ${limit}`;
  return rows.map((row) => {
    const checkpoint = { transactionId: BigInt(row.transaction_text), position: BigInt(row.position) };
    return {
      ...toStoredEvent({
        id: row.id,
        storyId: row.story_id,
        seq: row.seq,
        type: row.type,
        schemaVersion: row.schema_version,
        payload: row.payload as never,
        actorId: row.actor_id,
        createdAt: row.created_at,
        activeVersionNumber: row.active_version_number,
        idempotencyKey: row.idempotency_key,
        requestHash: null,
      }),
      position: checkpoint.position,
      checkpoint: formatCheckpoint(checkpoint),
    };
  });
}
