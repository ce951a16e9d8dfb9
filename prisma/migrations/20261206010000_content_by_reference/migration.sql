-- Storage proportional to the change. Module content is stored once per story, one row per
-- top-level field of an output and per input text, under the SHA-256 of its jsonb text
-- (src/domain/content.ts computes the same hash). Versions keep their five modules as
-- references; new ModuleWritten events keep `outputRefs` instead of `output` (events written
-- before stay as they are). The view story_version_snapshots shows every version whole.

CREATE TABLE "story_contents" (
    "story_id" UUID NOT NULL,
    "hash" TEXT NOT NULL,
    "value" JSONB NOT NULL,

    CONSTRAINT "story_contents_pkey" PRIMARY KEY ("story_id","hash")
);
ALTER TABLE "story_contents" ENABLE ROW LEVEL SECURITY;

-- The content hash of a value, as the server computes it.
CREATE FUNCTION story_content_hash(p_value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = public, pg_temp
AS $$ SELECT encode(sha256(convert_to(p_value::text, 'UTF8')), 'hex') $$;

-- A module's output from its references: null for null, the object of its fields otherwise.
CREATE FUNCTION story_output(p_story_id uuid, p_refs jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
  SELECT CASE WHEN jsonb_typeof(p_refs) = 'object' THEN
    coalesce((SELECT jsonb_object_agg(r.key, c.value)
                FROM jsonb_each_text(p_refs) r
                JOIN story_contents c ON c.story_id = p_story_id AND c.hash = r.value), '{}'::jsonb)
  END
$$;

-- An input text from its reference (a JSON string holding the hash, or null).
CREATE FUNCTION story_input(p_story_id uuid, p_ref jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$ SELECT c.value #>> '{}' FROM story_contents c WHERE c.story_id = p_story_id AND c.hash = p_ref #>> '{}' $$;

-- A version's five outputs, and its five input texts, from their references.
-- (one query each, rather than a call per module: these are what reading a version costs)
CREATE FUNCTION story_snapshot(p_story_id uuid, p_output_refs jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
  SELECT jsonb_object_agg(m.key, CASE WHEN jsonb_typeof(m.value) = 'object' THEN
           coalesce((SELECT jsonb_object_agg(r.key, c.value)
                       FROM jsonb_each_text(m.value) r
                       JOIN story_contents c ON c.story_id = p_story_id AND c.hash = r.value), '{}'::jsonb)
         END)
    FROM jsonb_each(p_output_refs) m
$$;

CREATE FUNCTION story_inputs(p_story_id uuid, p_input_refs jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
  SELECT jsonb_object_agg(i.key, c.value)
    FROM jsonb_each(p_input_refs) i
    LEFT JOIN story_contents c ON c.story_id = p_story_id AND c.hash = i.value #>> '{}'
$$;

-- An event's payload as it was decided: a ModuleWritten's `outputRefs` back to its `output`.
CREATE FUNCTION story_event_payload(p_story_id uuid, p_payload jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
  SELECT CASE WHEN p_payload ? 'outputRefs'
    THEN (p_payload - 'outputRefs') || jsonb_build_object('output', story_output(p_story_id, p_payload -> 'outputRefs'))
    ELSE p_payload END
$$;

-- Existing versions: their content moves to story_contents, their columns become references.
ALTER TABLE "story_versions" ADD COLUMN "output_refs" JSONB, ADD COLUMN "input_refs" JSONB;

INSERT INTO story_contents (story_id, hash, value)
SELECT v.story_id, story_content_hash(f.value), f.value
  FROM story_versions v
 CROSS JOIN LATERAL jsonb_each(v.full_snapshot) m
 CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(m.value) = 'object' THEN m.value ELSE '{}'::jsonb END) f
ON CONFLICT DO NOTHING;

INSERT INTO story_contents (story_id, hash, value)
SELECT v.story_id, story_content_hash(i.value), i.value
  FROM story_versions v
 CROSS JOIN LATERAL jsonb_each(v.inputs) i
 WHERE jsonb_typeof(i.value) = 'string'
ON CONFLICT DO NOTHING;

UPDATE story_versions v SET
  output_refs = (SELECT jsonb_object_agg(m.key, CASE WHEN jsonb_typeof(m.value) = 'object'
                          THEN (SELECT coalesce(jsonb_object_agg(f.key, story_content_hash(f.value)), '{}'::jsonb) FROM jsonb_each(m.value) f)
                          ELSE 'null'::jsonb END)
                   FROM jsonb_each(v.full_snapshot) m),
  input_refs = (SELECT jsonb_object_agg(i.key, CASE WHEN jsonb_typeof(i.value) = 'string'
                         THEN to_jsonb(story_content_hash(i.value)) ELSE 'null'::jsonb END)
                  FROM jsonb_each(v.inputs) i);

ALTER TABLE "story_versions"
  ALTER COLUMN "output_refs" SET NOT NULL,
  ALTER COLUMN "input_refs" SET NOT NULL,
  DROP COLUMN "full_snapshot",
  DROP COLUMN "inputs";

-- Every version whole, as the data model describes story_versions, for SQL tools and
-- Supabase's table editor. security_invoker: whoever reads it is held to their own rights.
CREATE VIEW story_version_snapshots WITH (security_invoker = true) AS
SELECT v.id, v.story_id, v.version_number,
       story_snapshot(v.story_id, v.output_refs) AS full_snapshot,
       story_inputs(v.story_id, v.input_refs) AS inputs,
       v.parent_version_id, v.event_seq, v.created_at, v.label, v.generation_id
  FROM story_versions v;

-- A command's state, read without a lock: the write that follows checks under the story's lock
-- that the revision is still the one read here (src/eventstore/append.ts). Outputs come as
-- references, input texts whole; `earlier` is the event an idempotency key already appended.
-- `p_lock` locks the story row first, for a writer that falls back to taking turns.
DROP FUNCTION story_state_for_update(uuid, int[]);

CREATE FUNCTION story_command_state(p_story_id uuid, p_extra_versions int[], p_idempotency_key text, p_lock boolean)
RETURNS json
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp
AS $$
DECLARE
  result json;
BEGIN
  IF p_lock THEN
    PERFORM 1 FROM stories WHERE id = p_story_id FOR UPDATE;
  END IF;
  SELECT json_build_object(
           'id', s.id, 'userId', s.user_id, 'title', s.title, 'logline', s.logline, 'genre', s.genre,
           'isComplete', s.is_complete, 'createdAt', s.created_at, 'updatedAt', s.updated_at,
           'revision', s.revision, 'latestVersionNumber', s.latest_version_number,
           'redoVersionNumbers', coalesce(s.redo_version_numbers, '{}'),
           'activeNumber', av.version_number,
           'modules', (SELECT json_agg(json_build_object('id', m.id, 'name', m.module_name, 'updatedAt', m.updated_at))
                         FROM story_modules m WHERE m.story_id = s.id),
           'versions', (SELECT json_agg(json_build_object(
                                 'id', v.id, 'number', v.version_number, 'parentNumber', pv.version_number,
                                 'outputRefs', v.output_refs, 'inputs', story_inputs(v.story_id, v.input_refs), 'eventSeq', v.event_seq,
                                 'createdAt', v.created_at, 'label', v.label, 'generationId', v.generation_id))
                          FROM story_versions v LEFT JOIN story_versions pv ON pv.id = v.parent_version_id
                         WHERE v.story_id = s.id
                           AND (v.id = av.id OR v.id = av.parent_version_id
                                OR v.version_number = s.redo_version_numbers[cardinality(s.redo_version_numbers)]
                                OR v.version_number = ANY(p_extra_versions))),
           'earlier', (SELECT json_build_object(
                                'id', e.id, 'seq', e.seq, 'type', e.type, 'schemaVersion', e.schema_version,
                                'payload', story_event_payload(e.story_id, e.payload), 'actorId', e.actor_id,
                                'createdAt', e.created_at, 'activeVersionNumber', e.active_version_number,
                                'idempotencyKey', e.idempotency_key, 'requestHash', e.request_hash)
                         FROM story_events e
                        WHERE e.story_id = s.id AND e.idempotency_key = p_idempotency_key))
    INTO result
    FROM stories s JOIN story_versions av ON av.id = s.active_version_id
   WHERE s.id = p_story_id;
  RETURN result;
END;
$$;
REVOKE EXECUTE ON FUNCTION story_command_state(uuid, int[], text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION story_content_hash(jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION story_output(uuid, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION story_input(uuid, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION story_snapshot(uuid, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION story_inputs(uuid, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION story_event_payload(uuid, jsonb) FROM PUBLIC;
