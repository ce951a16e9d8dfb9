// The INSERTs of read-table rows from a JSON document, as CTE bodies: shared by the
// command's one-statement commit and by rebuild's bulk insert. `rows` is a jsonb array expression;
// `table` is the live table's name unless rebuild is filling its new tables beside the live ones.

export const insertStories = (rows: string, table = "stories") => `
  INSERT INTO ${table} (id, user_id, title, logline, genre, created_at, updated_at, is_complete, active_version_id,
                       active_version_number, revision, latest_version_number, redo_version_numbers)
  SELECT x.id, x."userId", x.title, x.logline, x.genre, x."createdAt", x."updatedAt", x."isComplete", x."activeVersionId",
         x."activeVersionNumber", x.revision, x."latestVersionNumber", x."redoVersionNumbers"
    FROM doc, jsonb_to_recordset(${rows}) AS x(id uuid, "userId" uuid, title text, logline text, genre text,
         "createdAt" timestamptz, "updatedAt" timestamptz, "isComplete" boolean, "activeVersionId" uuid,
         "activeVersionNumber" int, revision int, "latestVersionNumber" int, "redoVersionNumbers" int[])`;

export const insertModules = (rows: string, table = "story_modules") => `
  INSERT INTO ${table} (id, story_id, module_name, input_text, output_text, module_order, created_at, updated_at)
  SELECT x.id, x."storyId", x."moduleName", x."inputText", x."outputText", x."moduleOrder", x."createdAt", x."updatedAt"
    FROM doc, jsonb_to_recordset(${rows}) AS x(id uuid, "storyId" uuid, "moduleName" text, "inputText" text,
         "outputText" jsonb, "moduleOrder" int, "createdAt" timestamptz, "updatedAt" timestamptz)`;

export const insertVersions = (rows: string, table = "story_versions") => `
  INSERT INTO ${table} (id, story_id, version_number, full_snapshot, inputs, parent_version_id, event_seq,
                              created_at, label, generation_id)
  SELECT x.id, x."storyId", x."versionNumber", x."fullSnapshot", x.inputs, x."parentVersionId", x."eventSeq",
         x."createdAt", x.label, x."generationId"
    FROM doc, jsonb_to_recordset(${rows}) AS x(id uuid, "storyId" uuid, "versionNumber" int, "fullSnapshot" jsonb,
         inputs jsonb, "parentVersionId" uuid, "eventSeq" int, "createdAt" timestamptz, label text, "generationId" uuid)`;
