// Rebuild's connections beneath Prisma: the log read in large batches and the read rows loaded
// with COPY, on PostgreSQL (a pooled `pg` client, COPY … FROM STDIN) and on PGlite (its own
// COPY from a blob) alike. Every statement is constant text with bound values.
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import type { PGlite, Transaction } from "@electric-sql/pglite";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { Database } from "../database/connect.ts";

/** What rebuild sends: statements, and COPY. */
export type BulkStatements = {
  query<Row>(text: string, values?: readonly unknown[]): Promise<Row[]>;
  /** `COPY ${into} FROM …` in text format, where `into` is `table (columns)`; `chunks` are its lines */
  copy(into: string, chunks: readonly string[]): Promise<void>;
};

export type BulkConnection = BulkStatements & {
  /** `work` in one transaction on this connection, committed when it returns */
  transaction<T>(work: (tx: BulkStatements) => Promise<T>): Promise<T>;
};

/** A connection of the database's own for `work`, given back afterwards. */
export async function withBulkConnection<T>(db: Database, work: (connection: BulkConnection) => Promise<T>): Promise<T> {
  if (db.driver.kind === "pglite") return work(pgliteConnection(db.driver.pglite));
  const client = await db.driver.pool.connect();
  let broken: Error | undefined;
  try {
    return await work(postgresConnection(client));
  } catch (error) {
    // a connection left in an unknown state (a COPY cut short) is not given back to the pool
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.release(broken);
  }
}

function postgresConnection(client: pg.PoolClient): BulkConnection {
  const connection: BulkConnection = {
    async query<Row>(text: string, values: readonly unknown[] = []) {
      const result = await client.query(text, [...values]);
      return result.rows as Row[];
    },
    async copy(into, chunks) {
      await pipeline(Readable.from(chunks), client.query(copyFrom(`COPY ${into} FROM STDIN`)));
    },
    async transaction(work) {
      await client.query("BEGIN");
      try {
        const result = await work(connection);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        // the caller needs the first error (a lock timeout is retried); a broken connection is dropped on release
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
    },
  };
  return connection;
}

function pgliteConnection(pglite: PGlite): BulkConnection {
  return {
    ...pgliteStatements(pglite),
    // PGlite's transaction holds the database for `work`: Prisma's statements wait meanwhile
    transaction: (work) => pglite.transaction((tx) => work(pgliteStatements(tx))),
  };
}

function pgliteStatements(queries: Pick<Transaction, "query">): BulkStatements {
  return {
    async query<Row>(text: string, values: readonly unknown[] = []) {
      return (await queries.query<Row>(text, [...values])).rows;
    },
    async copy(into, chunks) {
      // PGlite reads COPY's input from the blob it is handed, as the file /dev/blob
      await queries.query(`COPY ${into} FROM '/dev/blob'`, [], { blob: new Blob([...chunks]) });
    },
  };
}
