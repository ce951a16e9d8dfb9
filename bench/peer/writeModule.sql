-- The peer's module write (bench only, never a migration): the database work of Story Spark's
-- writeModule in one PL/pgSQL call, for PostGraphile to expose as a mutation and for `pg` to call.
-- It locks the story row, stores the output's fields by content hash (story_contents), appends a
-- ModuleWritten event shaped like ours (the output as references), inserts the new version with
-- its references built in SQL from the active one's, and moves the story and the module rows on. It checks no rules beyond the module's name (ours validates the output
-- against the catalogue's schema in Node) and writes no usage log (ours does, off the request's path).
CREATE OR REPLACE FUNCTION peer_write_module(story_id uuid, module text, input_text text, output jsonb)
RETURNS story_versions
LANGUAGE plpgsql
VOLATILE
AS $$
#variable_conflict use_variable
DECLARE
  story stories;
  active story_versions;
  written story_versions;
  -- IDEA_SPARK is snapshot key idea_spark and module row idea-spark (src/domain/catalogue.ts)
  snapshot_key text := lower(module);
  version_id uuid := gen_random_uuid();
  written_at timestamptz := now();
  refs jsonb;
  input_ref jsonb;
BEGIN
  IF module NOT IN ('IDEA_SPARK', 'WORLD_SEED', 'CHARACTER_FORGE', 'PLOT_SKELETON', 'WORDSMITH_LAB') THEN
    RAISE EXCEPTION 'unknown module %', module;
  END IF;
  SELECT s.* INTO story FROM stories s WHERE s.id = story_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'story % not found', story_id;
  END IF;
  SELECT v.* INTO active FROM story_versions v WHERE v.id = story.active_version_id;

  INSERT INTO story_contents (story_id, hash, value)
  SELECT story.id, story_content_hash(f.value), f.value FROM jsonb_each(output) f
  UNION ALL
  SELECT story.id, story_content_hash(to_jsonb(input_text)), to_jsonb(input_text) WHERE input_text IS NOT NULL
  ON CONFLICT DO NOTHING;
  SELECT coalesce(jsonb_object_agg(f.key, story_content_hash(f.value)), '{}'::jsonb) INTO refs FROM jsonb_each(output) f;
  input_ref := CASE WHEN input_text IS NULL THEN 'null'::jsonb ELSE to_jsonb(story_content_hash(to_jsonb(input_text))) END;

  INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, actor_id, created_at, active_version_number)
  VALUES (gen_random_uuid(), story.id, story.revision + 1, 'ModuleWritten', 1,
          jsonb_build_object('module', module, 'inputText', input_text, 'outputRefs', refs,
                             'version', jsonb_build_object('id', version_id, 'number', story.latest_version_number + 1)),
          story.user_id, written_at, story.latest_version_number + 1);

  INSERT INTO story_versions (id, story_id, version_number, output_refs, input_refs, parent_version_id, event_seq, created_at)
  VALUES (version_id, story.id, story.latest_version_number + 1,
          active.output_refs || jsonb_build_object(snapshot_key, refs),
          active.input_refs || jsonb_build_object(snapshot_key, input_ref),
          active.id, story.revision + 1, written_at)
  RETURNING * INTO written;

  UPDATE stories s
     SET updated_at = written_at, active_version_id = version_id, active_version_number = written.version_number,
         revision = written.event_seq, latest_version_number = written.version_number, redo_version_numbers = '{}'
   WHERE s.id = story.id;

  UPDATE story_modules m
     SET input_text = input_text, output_text = output, updated_at = written_at
   WHERE m.story_id = story.id AND m.module_name = replace(snapshot_key, '_', '-');

  RETURN written;
END;
$$;
