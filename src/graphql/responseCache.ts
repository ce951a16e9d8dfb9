// Answers to story-page queries kept by the story's revision: every event moves `stories.revision`,
// so an answer read at revision r is the answer at r for as long as the revision is r. Each request
// still reads the revision, in one cheap statement on the database every instance shares: a write
// on any instance (or a deletion: no revision at all) makes the next read miss, and a writer reads
// its own write. Only answers whose every field changes with the revision are kept (storyPage.ts's
// `withinRevision`), each under the viewer who asked, and only whole ones, without errors. (Reading
// the revision inside the page's own statement saves a round trip on a miss, but PostgreSQL plans
// that larger statement at every call: measured, a hit then cost twice the database CPU.)
import { print, type DocumentNode, type ExecutionArgs, type ExecutionResult } from "graphql";
import type { DbClient } from "../database/types.ts";
import type { StoryPage } from "./storyPage.ts";

/**
 * What a server keeps, in characters of the answers' JSON: a story page is tens of KB, but one with
 * five full modules can reach a MB (LIMITS.outputBytes each), so the bound is on size, not count.
 */
const MAX_KEPT_CHARS = 16 * 1024 * 1024;

/** An answer and the story's revision it was read at. */
export type KeptAnswer = { readonly revision: number; readonly answer: ExecutionResult };

export type ResponseCache = {
  /** The answer kept for this query, at whatever revision it was read. */
  get(key: string): KeptAnswer | undefined;
  set(key: string, revision: number, answer: ExecutionResult): void;
};

export function createResponseCache(maxChars = MAX_KEPT_CHARS): ResponseCache {
  // a Map iterates in insertion order: re-inserting on each hit keeps the least recently used first
  const answers = new Map<string, { kept: KeptAnswer; chars: number }>();
  let keptChars = 0;
  const forget = (key: string) => {
    const entry = answers.get(key);
    if (!entry) return;
    answers.delete(key);
    keptChars -= entry.chars;
  };
  return {
    get(key) {
      const entry = answers.get(key);
      if (!entry) return undefined;
      answers.delete(key);
      answers.set(key, entry);
      return entry.kept;
    },
    set(key, revision, answer) {
      forget(key);
      const chars = key.length + JSON.stringify(answer).length;
      if (chars > maxChars) return;
      answers.set(key, { kept: { revision, answer }, chars });
      keptChars += chars;
      for (const oldest of answers.keys()) {
        if (keptChars <= maxChars) break;
        forget(oldest);
      }
    },
  };
}

/** A document's text, printed once per parsed document (yoga reuses the parsed document of a repeated query). */
const documentTexts = new WeakMap<DocumentNode, string>();

/** What the answer depends on besides the revision: who asks, which story, and the query with its variables. */
export function answerKey(page: StoryPage, args: ExecutionArgs): string {
  let text = documentTexts.get(args.document);
  if (text === undefined) {
    text = print(args.document);
    documentTexts.set(args.document, text);
  }
  return JSON.stringify([page.viewerId, page.storyId, text, args.operationName ?? null, args.variableValues ?? null]);
}

/**
 * The story's revision now, when the viewer is a member; null when not (or there is none). A
 * member joining, leaving or changing role moves the revision: a kept answer never outlives them.
 */
export async function revisionOf(reader: DbClient, page: StoryPage): Promise<number | null> {
  const rows = await reader.$queryRaw<{ revision: number }[]>`
    SELECT s.revision FROM stories s
     WHERE s.id = ${page.storyId}::uuid AND s.trashed_at IS NULL
       AND EXISTS (SELECT 1 FROM collaborators c WHERE c.story_id = s.id AND c.user_id = ${page.viewerId}::uuid)`;
  return rows[0]?.revision ?? null;
}
