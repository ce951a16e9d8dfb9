-- CreateTable
CREATE TABLE "permissions" (
    "role" TEXT NOT NULL,
    "rank" INTEGER NOT NULL,
    "description" TEXT NOT NULL,
    "abilities" TEXT[],

    CONSTRAINT "permissions_pkey" PRIMARY KEY ("role")
);

-- CreateTable
CREATE TABLE "collaborators" (
    "story_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "role" TEXT NOT NULL,
    "invited_by" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "collaborators_pkey" PRIMARY KEY ("story_id","user_id")
);

-- CreateTable
CREATE TABLE "story_invitations" (
    "id" UUID NOT NULL,
    "story_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "invited_by" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "status" TEXT NOT NULL,
    "responded_at" TIMESTAMPTZ(3),
    "accepted_by" UUID,

    CONSTRAINT "story_invitations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "permissions_rank_key" ON "permissions"("rank");

-- CreateIndex
CREATE INDEX "collaborators_user_id_story_id_idx" ON "collaborators"("user_id", "story_id");

-- CreateIndex
CREATE UNIQUE INDEX "story_invitations_token_hash_key" ON "story_invitations"("token_hash");

-- CreateIndex
CREATE INDEX "story_invitations_story_id_idx" ON "story_invitations"("story_id");

-- AddForeignKey
ALTER TABLE "collaborators" ADD CONSTRAINT "collaborators_story_id_fkey" FOREIGN KEY ("story_id") REFERENCES "stories"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "collaborators" ADD CONSTRAINT "collaborators_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "collaborators" ADD CONSTRAINT "collaborators_role_fkey" FOREIGN KEY ("role") REFERENCES "permissions"("role") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "story_invitations" ADD CONSTRAINT "story_invitations_story_id_fkey" FOREIGN KEY ("story_id") REFERENCES "stories"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The role catalogue: what each role a member holds may do. Ranks order them: a role may do
-- everything a lower one may (src/domain/roles.ts).
INSERT INTO "permissions" ("role", "rank", "description", "abilities") VALUES
  ('viewer', 0, 'Reads the story: modules, versions, history, exports, live updates.', ARRAY['read']),
  ('commenter', 1, 'Reads the story and comments on it.', ARRAY['read', 'comment']),
  ('editor', 2, 'Writes the story: modules, details, generate, undo, redo, restore, labels, metadata.', ARRAY['read', 'comment', 'write', 'generate']),
  ('owner', 3, 'Everything, including deleting the story, transferring it and managing its members.', ARRAY['read', 'comment', 'write', 'generate', 'manage members', 'transfer', 'delete']);

-- Every story so far has one member, its owner, who joined when the story was made: the row
-- the story's StoryCreated event projects (rebuild and verify agree with it).
INSERT INTO "collaborators" ("story_id", "user_id", "role", "invited_by", "created_at", "updated_at")
SELECT s.id, s.user_id, 'owner', NULL, s.created_at, s.created_at FROM "stories" s;

-- Closed to Supabase's Data API like every other table (20261125113200_row_level_security): the
-- server reads them as their owner and scopes every read by membership itself.
ALTER TABLE "permissions" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "collaborators" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "story_invitations" ENABLE ROW LEVEL SECURITY;

-- A command's state now holds the story's members and its invitations: the membership rules
-- (src/domain/membership.ts) decide on them, and the handler checks the actor's role with them.
CREATE OR REPLACE FUNCTION story_command_state(p_story_id uuid, p_extra_versions int[], p_idempotency_key text, p_lock boolean)
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
