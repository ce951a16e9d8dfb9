// The new read tables rebuild fills beside the live ones, and the swap that puts them in
// place. The new tables copy everything the live ones carry (columns, defaults, checks,
// indexes, row level security, policies, privileges, foreign keys); the swap drops the live
// tables and gives the new ones, their indexes and constraints, the live names, so that the
// schema afterwards is exactly what the migrations made.
//
// What depends on the catalogue (policies, privileges, keys, index names) is read and applied
// by PostgreSQL itself, in DO blocks: every statement sent from here is constant text.
// Indexes and foreign keys come after the rows are loaded: building an index from all the rows
// at once is faster than growing it row by row, and checking a key for all rows at once is a join.
import type { BulkStatements } from "./bulkConnection.ts";
import type { ReadTableNames } from "./bulkInsert.ts";

export const NEW_READ_TABLES: ReadTableNames = {
  stories: "stories_rebuild",
  modules: "story_modules_rebuild",
  versions: "story_versions_rebuild",
  collaborators: "collaborators_rebuild",
  invitations: "story_invitations_rebuild",
};

/** Each live read table and its new twin, parents first. */
const PAIRS = `(VALUES ('stories', 'stories_rebuild', 1), ('story_modules', 'story_modules_rebuild', 2),
                       ('story_versions', 'story_versions_rebuild', 3), ('collaborators', 'collaborators_rebuild', 4),
                       ('story_invitations', 'story_invitations_rebuild', 5)) AS pair(live, next, parent_order)`;
const LIVE_TABLES =
  "(to_regclass('stories'), to_regclass('story_modules'), to_regclass('story_versions'), to_regclass('collaborators'), to_regclass('story_invitations'))";
/** Every new table, children first: as DROP TABLE lists them. */
const NEW_TABLES_LIST = "story_invitations_rebuild, collaborators_rebuild, story_versions_rebuild, story_modules_rebuild, stories_rebuild";

/** An index as the catalogue describes it, its name and table left out: how twins are recognised. */
const INDEX_SHAPE = `concat_ws(' ', CASE WHEN i.indisprimary THEN 'primary' END, CASE WHEN i.indisunique THEN 'unique' END,
                                regexp_replace(pg_get_indexdef(i.indexrelid), '^.*? USING ', ''))`;

/**
 * Creates the new, empty tables (dropping any a failed rebuild left), as the live ones are
 * but for indexes and foreign keys, which come after filling (finishNewTables). Refuses what
 * it could not carry over: a trigger, or another table's foreign key to a read table.
 */
const CREATE_NEW_TABLES = `
DO $rebuild$
DECLARE
  obstacles text;
  pair record;
  statement text;
BEGIN
  SELECT string_agg(what, ', ') INTO obstacles FROM (
    SELECT format('trigger %s on %s', t.tgname, t.tgrelid::regclass) AS what
      FROM pg_trigger t WHERE t.tgrelid IN ${LIVE_TABLES} AND NOT t.tgisinternal
    UNION ALL
    SELECT format('foreign key %s of %s', c.conname, c.conrelid::regclass)
      FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid IN ${LIVE_TABLES} AND c.conrelid NOT IN ${LIVE_TABLES}) o;
  IF obstacles IS NOT NULL THEN
    RAISE EXCEPTION 'rebuild cannot move the read tables'' % to new tables; nothing was changed', obstacles;
  END IF;
  DROP TABLE IF EXISTS ${NEW_TABLES_LIST};
  FOR pair IN SELECT * FROM ${PAIRS} ORDER BY parent_order LOOP
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING ALL EXCLUDING INDEXES)', pair.next, pair.live);
    FOR statement IN
      WITH t AS (SELECT relowner, relacl, relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(pair.live))
      SELECT s.statement FROM (
        SELECT 1 AS step, format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', pair.next) AS statement FROM t WHERE relrowsecurity
        UNION ALL
        SELECT 2, format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', pair.next) FROM t WHERE relforcerowsecurity
        UNION ALL
        -- privileges: exactly the live table's. What default privileges gave the new table goes;
        -- where the live table has its own list (the owner's entry included), it is copied whole
        SELECT DISTINCT 3, format('REVOKE ALL ON %I FROM %s', pair.next, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END)
          FROM t, (SELECT a.grantee FROM pg_class n, aclexplode(n.relacl) a WHERE n.oid = to_regclass(pair.next)
                   UNION SELECT relowner FROM t) g
         WHERE t.relacl IS NOT NULL OR g.grantee <> t.relowner
        UNION ALL
        SELECT 4, format('GRANT %s ON %I TO %s%s', a.privilege_type, pair.next,
                         CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                         CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
          FROM t, aclexplode(t.relacl) a
        UNION ALL
        SELECT 5, format('CREATE POLICY %I ON %I AS %s FOR %s TO %s%s%s', p.policyname, pair.next, p.permissive, p.cmd,
                         (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ') FROM unnest(p.roles) r),
                         CASE WHEN p.qual IS NULL THEN '' ELSE ' USING (' || p.qual || ')' END,
                         CASE WHEN p.with_check IS NULL THEN '' ELSE ' WITH CHECK (' || p.with_check || ')' END)
          FROM pg_policies p WHERE p.schemaname = current_schema() AND p.tablename = pair.live) s
      ORDER BY s.step
    LOOP
      EXECUTE statement;
    END LOOP;
  END LOOP;
END
$rebuild$`;

/**
 * The live tables' indexes, on the new tables: a primary key or unique constraint as a
 * constraint (its index comes with it), any other index as it is defined. PostgreSQL names
 * them; the swap pairs them with the live ones by their shape.
 */
const ADD_INDEXES = `
DO $rebuild$
DECLARE
  live_index record;
BEGIN
  FOR live_index IN
    SELECT pair.next, i.indexrelid, i.indisunique, c.oid AS constraint_oid
      FROM ${PAIRS} JOIN pg_index i ON i.indrelid = to_regclass(pair.live)
      LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
     ORDER BY pair.parent_order, i.indexrelid
  LOOP
    IF live_index.constraint_oid IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %I ADD %s', live_index.next, pg_get_constraintdef(live_index.constraint_oid));
    ELSE
      EXECUTE format('CREATE %sINDEX ON %I USING %s', CASE WHEN live_index.indisunique THEN 'UNIQUE ' ELSE '' END, live_index.next,
                     regexp_replace(pg_get_indexdef(live_index.indexrelid), '^.*? USING ', ''));
    END IF;
  END LOOP;
END
$rebuild$`;

/**
 * The live tables' foreign keys, on the new tables (a key between two read tables points at
 * the new twin), under the live keys' names (constraint names are per table). Added NOT VALID
 * here and validated by a second statement, in its own transaction: validating takes no lock
 * that would stop writes to the referenced users.
 */
const ADD_FOREIGN_KEYS = `
DO $rebuild$
DECLARE
  key record;
  definition text;
BEGIN
  FOR key IN
    SELECT pair.next, c.conname, pg_get_constraintdef(c.oid) AS definition, c.confrelid::regclass::text AS referenced, twin.next AS twin
      FROM ${PAIRS}
      JOIN pg_constraint c ON c.conrelid = to_regclass(pair.live) AND c.contype = 'f'
      LEFT JOIN ${PAIRS.replace("AS pair(", "AS twin(")} ON to_regclass(twin.live) = c.confrelid
     ORDER BY pair.parent_order, c.conname
  LOOP
    definition := key.definition;
    IF key.twin IS NOT NULL THEN
      definition := replace(definition, 'REFERENCES ' || key.referenced || '(', 'REFERENCES ' || quote_ident(key.twin) || '(');
      IF definition = key.definition THEN
        RAISE EXCEPTION 'rebuild cannot read the foreign key % of %: %', key.conname, key.next, key.definition;
      END IF;
    END IF;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s NOT VALID', key.next, key.conname, definition);
  END LOOP;
END
$rebuild$`;

const VALIDATE_FOREIGN_KEYS = `
DO $rebuild$
DECLARE
  key record;
BEGIN
  FOR key IN
    SELECT pair.next, c.conname FROM ${PAIRS} JOIN pg_constraint c ON c.conrelid = to_regclass(pair.next) AND c.contype = 'f' AND NOT c.convalidated
  LOOP
    EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', key.next, key.conname);
  END LOOP;
END
$rebuild$`;

/**
 * Under the swap's lock: pairs each live index with the new table's index of the same shape,
 * drops the live tables, and gives the new tables and their indexes the live names (renaming
 * an index renames the primary key or unique constraint it backs). Views over the live tables
 * (story_version_snapshots) are dropped with them and made again, as they were, over the new ones.
 */
const SWAP = `
DO $rebuild$
DECLARE
  live_index record;
  twin text;
  used text[] := '{}';
  renames text[] := '{}';
  extra text;
  dependent_view record;
  views text[] := '{}';
  view_definition text;
BEGIN
  FOR live_index IN
    SELECT pair.next, c.relname AS name, ${INDEX_SHAPE} AS shape
      FROM ${PAIRS} JOIN pg_index i ON i.indrelid = to_regclass(pair.live) JOIN pg_class c ON c.oid = i.indexrelid
     ORDER BY pair.parent_order, c.relname
  LOOP
    SELECT c.relname INTO twin
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = to_regclass(live_index.next) AND ${INDEX_SHAPE} = live_index.shape AND NOT c.relname = ANY(used)
     ORDER BY c.relname LIMIT 1;
    IF twin IS NULL THEN
      RAISE EXCEPTION 'rebuild found no copy of the index % (%) on %', live_index.name, live_index.shape, live_index.next;
    END IF;
    used := used || twin;
    renames := renames || ARRAY[twin, live_index.name];
  END LOOP;
  SELECT string_agg(c.relname, ', ') INTO extra
    FROM ${PAIRS} JOIN pg_index i ON i.indrelid = to_regclass(pair.next) JOIN pg_class c ON c.oid = i.indexrelid
   WHERE NOT c.relname = ANY(used);
  IF extra IS NOT NULL THEN
    RAISE EXCEPTION 'rebuild made indexes the read tables do not have: %', extra;
  END IF;

  FOR dependent_view IN
    SELECT DISTINCT v.oid, v.oid::regclass::text AS name, v.reloptions
      FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
      JOIN pg_class v ON v.oid = r.ev_class AND v.relkind = 'v'
     WHERE d.refobjid IN ('stories'::regclass, 'story_modules'::regclass, 'story_versions'::regclass, 'collaborators'::regclass, 'story_invitations'::regclass)
  LOOP
    views := views || format('CREATE VIEW %s%s AS %s', dependent_view.name,
      CASE WHEN dependent_view.reloptions IS NULL THEN '' ELSE format(' WITH (%s)', array_to_string(dependent_view.reloptions, ', ')) END,
      pg_get_viewdef(dependent_view.oid));
    EXECUTE format('DROP VIEW %s', dependent_view.name);
  END LOOP;

  DROP TABLE story_invitations, collaborators, story_versions, story_modules, stories;
  ALTER TABLE stories_rebuild RENAME TO stories;
  ALTER TABLE story_modules_rebuild RENAME TO story_modules;
  ALTER TABLE story_versions_rebuild RENAME TO story_versions;
  ALTER TABLE collaborators_rebuild RENAME TO collaborators;
  ALTER TABLE story_invitations_rebuild RENAME TO story_invitations;
  FOR i IN 1 .. coalesce(array_length(renames, 1), 0) BY 2 LOOP
    EXECUTE format('ALTER INDEX %I RENAME TO %I', renames[i], renames[i + 1]);
  END LOOP;
  FOREACH view_definition IN ARRAY views LOOP
    EXECUTE view_definition;
  END LOOP;
END
$rebuild$`;

export async function createNewTables(db: BulkStatements): Promise<void> {
  await db.query(CREATE_NEW_TABLES);
}

export async function dropNewTables(db: BulkStatements): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${NEW_TABLES_LIST}`);
}

/**
 * Once the rows are in: indexes, foreign keys, then fresh statistics, so that catch-up's
 * statements and the first queries after the swap are planned well.
 */
export async function finishNewTables(db: BulkStatements): Promise<void> {
  await db.query(ADD_INDEXES);
  await db.query(ADD_FOREIGN_KEYS);
  await db.query(VALIDATE_FOREIGN_KEYS);
  await db.query("ANALYZE stories_rebuild, story_modules_rebuild, story_versions_rebuild, collaborators_rebuild, story_invitations_rebuild");
}

/**
 * Takes the live tables' lock (waiting at most `lockTimeoutMs`, so that readers queued behind
 * the lock are never held longer), lets `catchUp` bring the new tables level with the log,
 * then puts the new tables in place. Must run inside a transaction.
 */
export async function swapInNewTables(tx: BulkStatements, lockTimeoutMs: number, catchUp: () => Promise<void>): Promise<void> {
  await tx.query("SELECT set_config('lock_timeout', $1, true)", [String(Math.max(1, Math.round(lockTimeoutMs)))]);
  // the view first: a reader of story_version_snapshots locks it before the tables under it,
  // and the swap must not wait for it (to drop and remake it) while holding the tables
  await tx.query("LOCK TABLE story_version_snapshots, stories, story_modules, story_versions, collaborators, story_invitations IN ACCESS EXCLUSIVE MODE");
  await tx.query("SELECT set_config('lock_timeout', '0', true)");
  await catchUp();
  await tx.query(SWAP);
}
