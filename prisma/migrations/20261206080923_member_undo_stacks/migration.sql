-- Undo that never takes back someone else's work (src/domain/story.ts): each member's undo and
-- redo stacks on the story's row, who made each version, and who last changed each module.
-- Existing stories had one writer, their owner: the owner's undo stack is the active version's
-- ancestry (version 1 aside), their redo stack the story's, every version and module theirs.
-- A version's written_in names, per module, the version whose change wrote what it holds there:
-- with one writer, the nearest of itself and its ancestors whose content there differs from its
-- parent's (version 1 for content no change has touched).

ALTER TABLE "stories" ADD COLUMN "redo_stacks" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN "undo_stacks" JSONB NOT NULL DEFAULT '{}';

ALTER TABLE "story_modules" ADD COLUMN "updated_by" UUID;
ALTER TABLE "story_versions" ADD COLUMN "author_id" UUID, ADD COLUMN "written_in" JSONB;

UPDATE story_versions v
   SET author_id = coalesce((SELECT e.actor_id FROM story_events e WHERE e.story_id = v.story_id AND e.seq = v.event_seq), s.user_id)
  FROM stories s
 WHERE s.id = v.story_id;

UPDATE story_modules m SET updated_by = s.user_id FROM stories s WHERE s.id = m.story_id;

WITH RECURSIVE written AS (
  SELECT v.id, v.output_refs, v.input_refs,
         (SELECT jsonb_object_agg(k, v.version_number) FROM jsonb_object_keys(v.output_refs) k) AS written_in
    FROM story_versions v
   WHERE v.parent_version_id IS NULL
  UNION ALL
  SELECT c.id, c.output_refs, c.input_refs,
         (SELECT jsonb_object_agg(k, CASE WHEN c.output_refs -> k IS DISTINCT FROM w.output_refs -> k
                                            OR c.input_refs -> k IS DISTINCT FROM w.input_refs -> k
                                          THEN to_jsonb(c.version_number) ELSE w.written_in -> k END)
            FROM jsonb_object_keys(c.output_refs) k)
    FROM written w JOIN story_versions c ON c.parent_version_id = w.id
)
UPDATE story_versions v SET written_in = w.written_in FROM written w WHERE w.id = v.id;

-- Stacks are stored as runs of consecutive numbers, bottom first: {"<user id>": [[first, last], …]}.
WITH RECURSIVE ancestry AS (
  SELECT s.id AS story_id, v.version_number, v.parent_version_id
    FROM stories s JOIN story_versions v ON v.id = s.active_version_id
  UNION ALL
  SELECT a.story_id, p.version_number, p.parent_version_id
    FROM ancestry a JOIN story_versions p ON p.id = a.parent_version_id
),
entries AS (
  -- a version's number is above its parent's: the ancestry by number is the stack, bottom first
  SELECT a.story_id, 'undo' AS kind, a.version_number AS n, row_number() OVER (PARTITION BY a.story_id ORDER BY a.version_number) AS i
    FROM ancestry a WHERE a.parent_version_id IS NOT NULL
  UNION ALL
  SELECT s.id, 'redo', r.n, r.i FROM stories s CROSS JOIN LATERAL unnest(s.redo_version_numbers) WITH ORDINALITY AS r(n, i)
),
flagged AS (
  SELECT story_id, kind, n, i, CASE WHEN n = lag(n) OVER w + 1 THEN 0 ELSE 1 END AS starts
    FROM entries WINDOW w AS (PARTITION BY story_id, kind ORDER BY i)
),
grouped AS (SELECT story_id, kind, n, sum(starts) OVER (PARTITION BY story_id, kind ORDER BY i) AS run FROM flagged),
runs AS (SELECT story_id, kind, run, min(n) AS first, max(n) AS last FROM grouped GROUP BY story_id, kind, run),
stacks AS (SELECT story_id, kind, jsonb_agg(jsonb_build_array(first, last) ORDER BY run) AS runs FROM runs GROUP BY story_id, kind)
UPDATE stories s
   SET undo_stacks = coalesce((SELECT jsonb_build_object(s.user_id::text, k.runs) FROM stacks k WHERE k.story_id = s.id AND k.kind = 'undo'), '{}'),
       redo_stacks = coalesce((SELECT jsonb_build_object(s.user_id::text, k.runs) FROM stacks k WHERE k.story_id = s.id AND k.kind = 'redo'), '{}');

ALTER TABLE "story_modules" ALTER COLUMN "updated_by" SET NOT NULL;
ALTER TABLE "story_versions" ALTER COLUMN "author_id" SET NOT NULL, ALTER COLUMN "written_in" SET NOT NULL;

-- A command's state, as before (with the members and invitations of 20261206080748_collaborators), and besides: each module's last changer, each version's author and written_in,
-- the members' stacks, and the versions undo and redo need (each stack's top, the last number of
-- its last run, and that version's parent).
CREATE OR REPLACE FUNCTION story_command_state(p_story_id uuid, p_extra_versions int[], p_idempotency_key text, p_lock boolean)
RETURNS json
LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp
AS $$
DECLARE
  result json;
  stack_tops int[];
BEGIN
  IF p_lock THEN
    PERFORM 1 FROM stories WHERE id = p_story_id FOR UPDATE;
  END IF;
  SELECT coalesce(array_agg((t.stack -> -1 ->> 1)::int), '{}')
    INTO stack_tops
    FROM stories s
   CROSS JOIN LATERAL (SELECT value AS stack FROM jsonb_each(s.undo_stacks)
                       UNION ALL SELECT value FROM jsonb_each(s.redo_stacks)) t
   WHERE s.id = p_story_id AND jsonb_array_length(t.stack) > 0;
  SELECT json_build_object(
           'id', s.id, 'userId', s.user_id, 'title', s.title, 'logline', s.logline, 'genre', s.genre,
           'isComplete', s.is_complete, 'createdAt', s.created_at, 'updatedAt', s.updated_at,
           'revision', s.revision, 'latestVersionNumber', s.latest_version_number,
           'redoVersionNumbers', coalesce(s.redo_version_numbers, '{}'),
           'undoStacks', s.undo_stacks, 'redoStacks', s.redo_stacks,
           'activeNumber', av.version_number,
           'modules', (SELECT json_agg(json_build_object('id', m.id, 'name', m.module_name, 'updatedAt', m.updated_at, 'updatedBy', m.updated_by))
                         FROM story_modules m WHERE m.story_id = s.id),
           'versions', (SELECT json_agg(json_build_object(
                                 'id', v.id, 'number', v.version_number, 'parentNumber', pv.version_number,
                                 'outputRefs', v.output_refs, 'inputs', story_inputs(v.story_id, v.input_refs), 'eventSeq', v.event_seq,
                                 'createdAt', v.created_at, 'label', v.label, 'generationId', v.generation_id, 'authorId', v.author_id,
                                 'writtenIn', v.written_in))
                          FROM story_versions v LEFT JOIN story_versions pv ON pv.id = v.parent_version_id
                         WHERE v.story_id = s.id
                           AND (v.id = av.id OR v.id = av.parent_version_id
                                OR v.version_number = s.redo_version_numbers[cardinality(s.redo_version_numbers)]
                                OR v.version_number = ANY(p_extra_versions)
                                OR v.version_number = ANY(stack_tops)
                                OR v.id IN (SELECT t.parent_version_id FROM story_versions t
                                             WHERE t.story_id = s.id AND t.version_number = ANY(stack_tops)))),
           'members', (SELECT coalesce(json_agg(json_build_object(
                                 'userId', c.user_id, 'role', c.role, 'invitedBy', c.invited_by,
                                 'createdAt', c.created_at, 'updatedAt', c.updated_at)), '[]'::json)
                         FROM collaborators c WHERE c.story_id = s.id),
           'invitations', (SELECT coalesce(json_agg(json_build_object(
                                     'id', i.id, 'email', i.email, 'role', i.role, 'tokenHash', i.token_hash,
                                     'invitedBy', i.invited_by, 'createdAt', i.created_at, 'expiresAt', i.expires_at,
                                     'status', i.status, 'respondedAt', i.responded_at, 'acceptedBy', i.accepted_by)), '[]'::json)
                             FROM story_invitations i WHERE i.story_id = s.id),
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
