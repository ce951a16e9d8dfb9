// The new read tables rebuild fills beside the live ones, and the swap that puts them in
// place. The new tables copy everything the live ones carry (columns, defaults, checks,
// indexes, row level security, policies, privileges, foreign keys); the swap drops the live
// tables and gives the new ones, their indexes and constraints, the live names, so that the
// schema afterwards is exactly what the migrations made.
import type { DbClient } from "../database/types.ts";
import type { ReadTableNames } from "./bulkInsert.ts";

/** Live table and its new table, parents first. */
const TABLES = [
  { live: "stories", next: "stories_rebuild" },
  { live: "story_modules", next: "story_modules_rebuild" },
  { live: "story_versions", next: "story_versions_rebuild" },
] as const;

export const NEW_READ_TABLES: ReadTableNames = { stories: "stories_rebuild", modules: "story_modules_rebuild", versions: "story_versions_rebuild" };

const childrenFirst = [...TABLES].reverse();
const liveNames = TABLES.map((t) => t.live);
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** How the swap renames the new tables' indexes: each new index takes its live twin's name. */
export type IndexRenames = { from: string; to: string }[];

/**
 * Creates the new, empty tables (dropping any a failed rebuild left), as the live ones are
 * but for foreign keys, which come after filling (addForeignKeys). Refuses what it could
 * not carry over: a trigger, or another table's foreign key to a read table.
 */
export async function createNewTables(tx: DbClient): Promise<IndexRenames> {
  await refuseWhatCannotMove(tx);
  await dropNewTables(tx);
  const renames: IndexRenames = [];
  for (const { live, next } of TABLES) {
    await tx.$executeRawUnsafe(`CREATE TABLE ${quote(next)} (LIKE ${quote(live)} INCLUDING ALL)`);
    for (const statement of await securityStatements(tx, live, next)) await tx.$executeRawUnsafe(statement);
    renames.push(...(await indexTwins(tx, live, next)));
  }
  return renames;
}

export async function dropNewTables(db: DbClient): Promise<void> {
  for (const { next } of childrenFirst) await db.$executeRawUnsafe(`DROP TABLE IF EXISTS ${quote(next)}`);
}

/**
 * The live tables' foreign keys, on the new tables (a key between two read tables points at
 * the new twin). Added NOT VALID, then validated: validation locks neither the new rows'
 * referenced users nor anything live against writes.
 */
export async function addForeignKeys(db: DbClient): Promise<void> {
  for (const { live, next } of TABLES) {
    const keys = await db.$queryRaw<{ name: string; definition: string; referenced: string }[]>`
      SELECT conname AS name, pg_get_constraintdef(oid) AS definition, confrelid::regclass::text AS referenced
        FROM pg_constraint WHERE conrelid = to_regclass(${live}) AND contype = 'f' ORDER BY conname`;
    for (const key of keys) {
      const twin = TABLES.find((t) => t.live === key.referenced || quote(t.live) === key.referenced);
      const definition = twin ? key.definition.replace(`REFERENCES ${key.referenced}(`, `REFERENCES ${quote(twin.next)}(`) : key.definition;
      if (twin && definition === key.definition) throw new Error(`rebuild cannot read the foreign key ${key.name} of ${live}: ${key.definition}`);
      // constraint names are per table: the new table's key takes the live key's name at once
      await db.$executeRawUnsafe(`ALTER TABLE ${quote(next)} ADD CONSTRAINT ${quote(key.name)} ${definition} NOT VALID`);
      await db.$executeRawUnsafe(`ALTER TABLE ${quote(next)} VALIDATE CONSTRAINT ${quote(key.name)}`);
    }
  }
  // fresh statistics, so that the first queries after the swap are planned well
  for (const { next } of TABLES) await db.$executeRawUnsafe(`ANALYZE ${quote(next)}`);
}

/**
 * Takes the live tables' lock (waiting at most `lockTimeoutMs`, so that readers queued behind
 * the lock are never held longer), lets `catchUp` bring the new tables level with the log,
 * then drops the live tables and renames the new ones. Must run inside a transaction.
 */
export async function swapInNewTables(tx: DbClient, renames: IndexRenames, lockTimeoutMs: number, catchUp: () => Promise<void>): Promise<void> {
  await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
  await tx.$executeRawUnsafe(`LOCK TABLE ${liveNames.map(quote).join(", ")} IN ACCESS EXCLUSIVE MODE`);
  await tx.$executeRawUnsafe("SET LOCAL lock_timeout = 0");
  await catchUp();
  await tx.$executeRawUnsafe(`DROP TABLE ${childrenFirst.map((t) => quote(t.live)).join(", ")}`);
  for (const { live, next } of TABLES) await tx.$executeRawUnsafe(`ALTER TABLE ${quote(next)} RENAME TO ${quote(live)}`);
  // renaming an index renames the primary key or unique constraint it backs
  for (const { from, to } of renames) await tx.$executeRawUnsafe(`ALTER INDEX ${quote(from)} RENAME TO ${quote(to)}`);
}

async function refuseWhatCannotMove(db: DbClient): Promise<void> {
  const obstacles = await db.$queryRaw<{ what: string }[]>`
    SELECT format('trigger %s on %s', t.tgname, t.tgrelid::regclass) AS what
      FROM pg_trigger t WHERE t.tgrelid = ANY(SELECT to_regclass(n) FROM unnest(${liveNames}::text[]) n) AND NOT t.tgisinternal
    UNION ALL
    SELECT format('foreign key %s of %s', c.conname, c.conrelid::regclass)
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.confrelid = ANY(SELECT to_regclass(n) FROM unnest(${liveNames}::text[]) n)
       AND NOT c.conrelid = ANY(SELECT to_regclass(n) FROM unnest(${liveNames}::text[]) n)`;
  if (obstacles.length > 0) {
    throw new Error(`rebuild cannot move the read tables' ${obstacles.map((o) => o.what).join(", ")} to new tables; nothing was changed`);
  }
}

/** Row level security, policies and privileges of the live table, as statements for the new one. */
async function securityStatements(db: DbClient, live: string, next: string): Promise<string[]> {
  const rows = await db.$queryRaw<{ step: number; statement: string }[]>`
    WITH t AS (SELECT oid, relowner, relacl, relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(${live})),
    grantee AS (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS name,
                       a.privilege_type, a.is_grantable
                  FROM t, aclexplode(t.relacl) a WHERE a.grantee <> t.relowner)
    SELECT 1 AS step, format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', ${next}::text) AS statement FROM t WHERE relrowsecurity
    UNION ALL
    SELECT 2, format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', ${next}::text) FROM t WHERE relforcerowsecurity
    UNION ALL
    -- what default privileges gave the new table that the live one does not have
    SELECT DISTINCT 3, format('REVOKE ALL ON %I FROM %s', ${next}::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
      FROM pg_class n, aclexplode(n.relacl) a WHERE n.oid = to_regclass(${next}) AND a.grantee <> n.relowner
    UNION ALL
    SELECT 4, format('GRANT %s ON %I TO %s%s', privilege_type, ${next}::text, name, CASE WHEN is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
      FROM grantee
    UNION ALL
    SELECT 5, format('CREATE POLICY %I ON %I AS %s FOR %s TO %s%s%s', p.policyname, ${next}::text, p.permissive, p.cmd,
                  (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ') FROM unnest(p.roles) r),
                  CASE WHEN p.qual IS NULL THEN '' ELSE ' USING (' || p.qual || ')' END,
                  CASE WHEN p.with_check IS NULL THEN '' ELSE ' WITH CHECK (' || p.with_check || ')' END)
      FROM pg_policies p WHERE p.schemaname = current_schema() AND p.tablename = ${live}
    ORDER BY step`;
  return rows.map((r) => r.statement);
}

/** Pairs each live index with the new table's index of the same shape. */
async function indexTwins(db: DbClient, live: string, next: string): Promise<IndexRenames> {
  const indexesOf = (table: string) => db.$queryRaw<{ name: string; shape: string }[]>`
    SELECT c.relname AS name,
           concat_ws(' ', CASE WHEN i.indisprimary THEN 'primary' END, CASE WHEN i.indisunique THEN 'unique' END,
                     regexp_replace(pg_get_indexdef(i.indexrelid), '^.*? USING ', '')) AS shape
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = to_regclass(${table}) ORDER BY c.relname`;
  const liveIndexes = await indexesOf(live);
  const newIndexes = await indexesOf(next);
  const renames: IndexRenames = [];
  for (const index of liveIndexes) {
    const twin = newIndexes.findIndex((n) => n.shape === index.shape);
    if (twin < 0) throw new Error(`rebuild found no copy of the index ${index.name} (${index.shape}) on ${next}`);
    renames.push({ from: newIndexes[twin]!.name, to: index.name });
    newIndexes.splice(twin, 1);
  }
  if (newIndexes.length > 0) throw new Error(`rebuild made indexes ${next} should not have: ${newIndexes.map((n) => n.name).join(", ")}`);
  return renames;
}
