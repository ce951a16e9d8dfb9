-- Closes the database to Supabase's Data API. PostgREST and pg_graphql serve every table
-- and function of `public` to anyone holding the project's public anon key, as the roles
-- `anon` and `authenticated`. Story Spark's data is reached only through its own server,
-- connected as the owner of the tables, so those roles get nothing: no privileges, and Row
-- Level Security on with no policy, which still hides every row (and refuses every new one)
-- should a privilege ever be granted back. A table's owner is not subject to its RLS (no
-- FORCE here; Supabase's `postgres` also has BYPASSRLS), so the server works as before.
-- On plain PostgreSQL and PGlite the two roles usually do not exist: the statements naming
-- them run only for the ones that do.
DO $$
DECLARE
  target record;
BEGIN
  -- Every table of public, _prisma_migrations included: Supabase's linter flags each one
  -- without RLS (rls_disabled_in_public). A table a later migration adds needs its own
  -- ENABLE ROW LEVEL SECURITY; test/rowLevelSecurity.test.ts fails until it has one.
  -- Tables this role may not alter are not ours, and are left as they are.
  FOR target IN
    SELECT c.oid::regclass AS name
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'public'::regnamespace
       AND c.relkind IN ('r', 'p')
       AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target.name);
  END LOOP;

  -- Our functions (story_state_for_update): only their owner, the server, may call them,
  -- and a fixed search_path keeps what they name from depending on the caller's
  -- (function_search_path_mutable). Functions of extensions are not ours.
  FOR target IN
    SELECT p.oid::regprocedure AS name
      FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace
       AND p.prokind IN ('f', 'p')
       AND pg_catalog.pg_has_role(p.proowner, 'USAGE')
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', target.name);
    EXECUTE format('ALTER ROUTINE %s SET search_path = public, pg_temp', target.name);
  END LOOP;

  -- What Supabase grants them on public, on what exists and, through its default
  -- privileges, on whatever this role creates there later.
  FOR target IN
    SELECT quote_ident(rolname) AS name FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated')
  LOOP
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %s', target.name);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %s', target.name);
    EXECUTE format('REVOKE ALL ON ALL ROUTINES IN SCHEMA public FROM %s', target.name);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM %s', target.name);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM %s', target.name);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON FUNCTIONS FROM %s', target.name);
  END LOOP;
END;
$$;

-- PostgreSQL lets PUBLIC, and so every role, execute a new function unless told otherwise.
-- Default privileges belong to this database and to the role running the migrations.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
