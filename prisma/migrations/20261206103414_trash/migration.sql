-- AlterTable
ALTER TABLE "stories" ADD COLUMN     "trashed_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "stories_trashed_at_idx" ON "stories"("trashed_at");

-- A command's state, as before (20261206080923_member_undo_stacks), and besides: when the story went to
-- the trash, which every command but restoring it answers as a missing story.
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
           'activeNumber', av.version_number, 'trashedAt', s.trashed_at,
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
