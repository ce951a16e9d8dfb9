// The application service for comments: who acts (their role in the story), the story's comments
// as the read table holds them, the rules decided (src/domain/comments.ts), the events appended
// with the rows evolve makes of them, in one statement, then announced. Never touches the story's
// own stream: a comment moves neither the story's revision nor its versions.
import { randomUUID } from "node:crypto";
import { moduleByName, type JsonObject } from "../domain/catalogue.ts";
import {
  commentIdOf,
  decideComment,
  evolveComments,
  type CommentCommand,
  type CommentRange,
  type CommentState,
  type RecordedCommentEvent,
  type StoryCommentsState,
} from "../domain/comments.ts";
import { StorySparkError, badInput, notFound } from "../domain/errors.ts";
import type { Role } from "../domain/roles.ts";
import type { DbClient } from "../database/types.ts";
import { appendComments, findCommentEventByKey, isUniqueViolation, recordCommentEvents } from "../eventstore/commentStream.ts";
import { commentEventRow, commentRow, loadCommentsState } from "../projection/commentRows.ts";
import { roleInStory } from "./storyAccess.ts";
import { requestTerms, type CommandServices, type RequestTerms } from "./storyCommands.ts";

export type CommentResult = {
  storyId: string;
  /** the comment the command is about, as it is after it */
  comment: CommentState;
  /** the events appended (none when the command changed nothing, or when replayed) */
  events: RecordedCommentEvent[];
  /** true when an earlier request with the same idempotency key answered */
  replayed: boolean;
};

/** What the client asks for; the server adds who acts, their role and the new comment's id. */
export type CommentRequest =
  | {
      type: "AddComment";
      storyId: string;
      module: string | null;
      fieldPath: string | null;
      range: CommentRange | null;
      versionNumber: number | null;
      body: string;
    }
  | { type: "ReplyToComment"; commentId: string; body: string }
  | { type: "EditComment"; commentId: string; body: string }
  | { type: "DeleteComment"; commentId: string }
  | { type: "ResolveComment"; commentId: string }
  | { type: "ReopenComment"; commentId: string };

/** Tries of a command whose sequence number another writer took first. */
const ATTEMPTS = 8;

export async function runCommentCommand(
  services: CommandServices,
  actorId: string,
  request: CommentRequest,
  idempotencyKey: string | null = null,
): Promise<CommentResult> {
  const db = services.db.prisma;
  const terms = requestTerms({ idempotencyKey, requestIdentity: request });
  // a stranger's story or comment is as missing as one that never was: the same answer, the same words
  const missing = () => (request.type === "AddComment" ? notFound("story") : notFound("comment"));
  const storyId = request.type === "AddComment" ? request.storyId : await storyOfComment(db, request.commentId);
  if (storyId === null) throw missing();
  const role = await roleInStory(db, storyId, actorId);
  if (role === null) throw missing();
  const anchor = request.type === "AddComment" ? await readAnchor(db, storyId, request) : null;

  for (let attempt = 1; ; attempt++) {
    // the fold of the stream as the read table holds it (verify holds them equal)
    const state = await loadCommentsState(db, storyId);
    const replayed = await earlierAnswer(db, storyId, terms, state);
    if (replayed) return replayed;
    const command = commandOf(request, { id: actorId, role }, anchor);
    const decided = decideComment(command, state);
    if (decided.length === 0) return { storyId, comment: state.comments.get(subjectOf(command, state))!, events: [], replayed: false };

    const events = recordCommentEvents(storyId, decided, { currentRevision: state.revision, actorId });
    let after = state;
    for (const event of events) after = evolveComments(after, event);
    const touched = [...new Set(events.map((event) => commentIdOf(event)))];
    const rows = {
      added: touched.filter((id) => !state.comments.has(id)).map((id) => commentRow(after.comments.get(id)!)),
      changed: touched.filter((id) => state.comments.has(id)).map((id) => commentRow(after.comments.get(id)!)),
    };
    // the key marks the command's last event, which carries its answer
    const eventRows = events.map((event, i) => commentEventRow(event, i === events.length - 1 ? terms : { idempotencyKey: null, requestHash: null }));
    try {
      if (!(await appendComments(db, storyId, eventRows, rows))) throw missing();
    } catch (error) {
      // another comment took the sequence number (or this idempotency key) first: decide again
      if (isUniqueViolation(error) && attempt < ATTEMPTS) continue;
      throw error;
    }
    for (const event of events) {
      services.pubsub.publish("storyComments", storyId, { storyId, eventId: event.id, seq: event.seq, type: event.type, commentId: commentIdOf(event) });
    }
    return { storyId, comment: after.comments.get(subjectOf(command, after))!, events, replayed: false };
  }
}

/** The comment a command answers with: the new one, the one edited or deleted, or the thread resolved or reopened. */
function subjectOf(command: CommentCommand, state: StoryCommentsState): string {
  if (command.type !== "ResolveComment" && command.type !== "ReopenComment") return command.commentId;
  const comment = state.comments.get(command.commentId);
  return comment?.parentId ?? command.commentId;
}

function commandOf(request: CommentRequest, actor: { id: string; role: Role }, anchor: AnchorRead | null): CommentCommand {
  switch (request.type) {
    case "AddComment":
      return { type: "AddComment", actor, commentId: randomUUID(), anchor: anchor!, body: request.body };
    case "ReplyToComment":
      return { type: "ReplyToComment", actor, commentId: randomUUID(), parentId: request.commentId, body: request.body };
    case "EditComment":
      return { type: "EditComment", actor, commentId: request.commentId, body: request.body };
    default:
      return { type: request.type, actor, commentId: request.commentId };
  }
}

/**
 * A repeated idempotency key answers with the comment its earlier request made or changed, and
 * is refused when that was a different request.
 */
async function earlierAnswer(db: DbClient, storyId: string, terms: RequestTerms, state: StoryCommentsState): Promise<CommentResult | null> {
  if (terms.idempotencyKey === null) return null;
  const earlier = await findCommentEventByKey(db, storyId, terms.idempotencyKey);
  if (!earlier) return null;
  if (earlier.requestHash !== terms.requestHash) throw badInput("idempotencyKey", "already used for a different request");
  const comment = state.comments.get(commentIdOf(earlier.event));
  if (!comment) throw new Error(`story ${storyId}: comment event ${earlier.event.seq} names a comment the stream does not hold`);
  return { storyId, comment, events: [earlier.event], replayed: true };
}

async function storyOfComment(db: DbClient, commentId: string): Promise<string | null> {
  const row = await db.storyComment.findUnique({ where: { id: commentId }, select: { storyId: true } });
  return row?.storyId ?? null;
}

type AnchorRead = { module: string | null; fieldPath: string | null; range: CommentRange | null; versionNumber: number; moduleOutput: JsonObject | null };

/**
 * What a new comment points at, with the module's output in that version (the active one unless
 * the request names another): the rules check the field path and range against it. A version the
 * story does not have is NOT_FOUND, as for restoreVersion.
 */
async function readAnchor(db: DbClient, storyId: string, request: Extract<CommentRequest, { type: "AddComment" }>): Promise<AnchorRead> {
  const module = request.module === null ? null : moduleByName(request.module);
  if (module === undefined) throw badInput("module", `unknown module "${request.module}"`);
  if (request.versionNumber !== null && (!Number.isInteger(request.versionNumber) || request.versionNumber < 1 || request.versionNumber > 2 ** 31 - 1)) {
    throw new StorySparkError("NOT_FOUND", `version ${request.versionNumber} not found`, { field: "versionNumber" });
  }
  const snapshotKey = module?.snapshotKey ?? null;
  const [found] = await db.$queryRaw<{ version_number: number; output: JsonObject | null }[]>`
    SELECT v.version_number, CASE WHEN ${snapshotKey}::text IS NULL THEN NULL ELSE v.full_snapshot -> ${snapshotKey}::text END AS output
      FROM stories s JOIN story_version_snapshots v ON v.story_id = s.id
     WHERE s.id = ${storyId}::uuid AND v.version_number = coalesce(${request.versionNumber}::int, s.active_version_number)`;
  if (!found) {
    if (request.versionNumber === null) throw notFound("story");
    throw new StorySparkError("NOT_FOUND", `version ${request.versionNumber} not found`, { field: "versionNumber" });
  }
  return {
    module: module?.name ?? null,
    fieldPath: request.fieldPath,
    range: request.range,
    versionNumber: found.version_number,
    moduleOutput: found.output === null || typeof found.output !== "object" || Array.isArray(found.output) ? null : found.output,
  };
}
