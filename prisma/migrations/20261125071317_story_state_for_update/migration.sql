-- A story's state for a command in one round trip: lock the story row, then read it
-- with the versions the command needs. The two statements run inside the function, so
-- the read's snapshot includes everything committed by the writer the lock waited for.
CREATE OR REPLACE FUNCTION story_state_for_update(p_story_id uuid, p_extra_versions int[])
RETURNS json
LANGUAGE plpgsql
VOLATILE
AS $$
DECLARE
  result json;
BEGIN
  PERFORM 1 FROM stories WHERE id = p_story_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
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
                                 'outputs', v.full_snapshot, 'inputs', v.inputs, 'eventSeq', v.event_seq,
                                 'createdAt', v.created_at, 'label', v.label, 'generationId', v.generation_id))
                          FROM story_versions v LEFT JOIN story_versions pv ON pv.id = v.parent_version_id
                         WHERE v.story_id = s.id
                           AND (v.id = av.id OR v.id = av.parent_version_id
                                OR v.version_number = s.redo_version_numbers[cardinality(s.redo_version_numbers)]
                                OR v.version_number = ANY(p_extra_versions))))
    INTO result
    FROM stories s JOIN story_versions av ON av.id = s.active_version_id
   WHERE s.id = p_story_id;
  RETURN result;
END;
$$;
