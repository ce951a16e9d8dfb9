// The story page in one statement: when every field of a query is read from one story of the
// viewer's — its columns, its modules, one page of its versions — one SELECT reads them all and
// primes the request's loaders, so that the resolvers ask nothing more of the database. A single
// statement sees one snapshot: such a query needs no transaction (readSnapshot.ts).
import {
  getArgumentValues,
  getVariableValues,
  isObjectType,
  Kind,
  type ExecutionArgs,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import type { DbClient } from "../database/types.ts";
import type { Story, StoryModule } from "../generated/prisma/client.ts";
import type { GraphQLContext } from "./context.ts";
import { idOf } from "./globalIds.ts";
import type { Loaders, VersionSummary, VersionsPageKey } from "./loaders.ts";
import { versionsPageKey, type VersionsArguments } from "./schema/storyVersion.ts";
import { isRole } from "../domain/roles.ts";

/** What one statement reads for a query: the story, and the page of its versions the query lists, if any. */
export type StoryPage = {
  /** who asks: the story is read only when they are a member */
  readonly viewerId: string;
  readonly storyId: string;
  readonly versions: VersionsPageKey | null;
  /** every field answered changes only with the story's revision (nothing from another table) */
  readonly withinRevision: boolean;
};

/**
 * The fields answered from the statement's rows and the loaders it primes, by type: each a leaf
 * read from its parent object, or the type of the object it leads to. Any other field (a version's
 * snapshot, events, metadata, history…) sends the query to a snapshot transaction instead.
 */
const ANSWERED: Readonly<Record<string, Readonly<Record<string, string | null>>>> = {
  Query: { story: "Story" },
  Story: {
    id: null,
    title: null,
    logline: null,
    genre: null,
    isComplete: null,
    createdAt: null,
    updatedAt: null,
    revision: null,
    activeVersionNumber: null,
    canUndo: null,
    canRedo: null,
    viewerRole: null,
    owner: "User",
    modules: "StoryModule",
    module: "StoryModule",
    versions: "StoryVersionConnection",
  },
  // the viewer, whose row the token check read (context.ts primes the loader with it)
  User: { id: null, username: null, email: null, createdAt: null },
  StoryModule: { id: null, name: null, order: null, inputText: null, output: null, createdAt: null, updatedAt: null },
  StoryVersionConnection: { edges: "StoryVersionEdge", pageInfo: "PageInfo" },
  StoryVersionEdge: { cursor: null, node: "StoryVersion" },
  StoryVersion: { id: null, number: null, createdAt: null, label: null, isActive: null },
  PageInfo: { hasNextPage: null, hasPreviousPage: null, startCursor: null, endCursor: null },
};

/** Fields answered from outside the story's rows: the revision does not move when they change. */
const OUTSIDE_REVISION = new Set(["Story.owner"]);

/**
 * The page a query reads, when one statement can answer it; null sends it to a snapshot
 * transaction. Conservative: directives, a second story, two different pages of versions, or
 * arguments that don't check out (they fail in the transaction, as they always did) all say null.
 */
export function storyPageOf(args: ExecutionArgs, operation: OperationDefinitionNode): StoryPage | null {
  const { viewer } = args.contextValue as GraphQLContext;
  if (viewer === null) return null;
  const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
  if (variables.errors) return null;
  const fragments = new Map(
    args.document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );

  const found = { storyId: null as string | null, stories: 0, withinRevision: true, versionPages: new Map<string, VersionsPageKey>() };

  const answerable = (typeName: string, selectionSet: SelectionSetNode): boolean =>
    selectionSet.selections.every((selection) => {
      if (selection.directives?.length) return false;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition?.name.value ?? typeName;
        return on === typeName && answerable(typeName, selection.selectionSet);
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        return fragment?.typeCondition.name.value === typeName && answerable(typeName, fragment.selectionSet);
      }
      const name = selection.name.value;
      if (name === "__typename") return true;
      const leadsTo = ANSWERED[typeName]?.[name];
      if (leadsTo === undefined) return false;
      const field = `${typeName}.${name}`;
      if (OUTSIDE_REVISION.has(field)) found.withinRevision = false;
      if (field === "Query.story" || field === "Story.versions") {
        const type = args.schema.getType(typeName);
        const definition = isObjectType(type) ? type.getFields()[name] : undefined;
        if (!definition) return false;
        const values = getArgumentValues(definition, selection, variables.coerced);
        if (field === "Query.story") {
          found.stories++;
          found.storyId = idOf("Story", String(values.id));
        } else {
          // the key the versions resolver will load (a story's fields are visited after the story)
          const key = versionsPageKey(found.storyId ?? "", values as VersionsArguments);
          found.versionPages.set(JSON.stringify(key), key);
        }
      }
      return leadsTo === null ? !selection.selectionSet : selection.selectionSet !== undefined && answerable(leadsTo, selection.selectionSet);
    });

  try {
    if (!answerable("Query", operation.selectionSet)) return null;
  } catch {
    return null; // an argument that doesn't check out: the transaction's execution reports it
  }
  if (found.stories !== 1 || found.storyId === null || found.versionPages.size > 1) return null;
  return { viewerId: viewer.id, storyId: found.storyId, versions: found.versionPages.values().next().value ?? null, withinRevision: found.withinRevision };
}

type StoryPageRow = Story & {
  viewerRole: string;
  modules: (Omit<StoryModule, "createdAt" | "updatedAt"> & { createdAt: string; updatedAt: string })[] | null;
  versions: (Omit<VersionSummary, "createdAt"> & { createdAt: string })[] | null;
};

/**
 * Reads the page in one statement and primes the loaders with it: the story (null when it is not
 * shared with the viewer, as the loader would have it), the viewer's role in it, its modules and its page of versions — the latter
 * from the index with LIMIT, without their content. Answers the revision read; null when the
 * story is not the viewer's.
 */
export async function readStoryPage(reader: DbClient, loaders: Loaders, page: StoryPage): Promise<number | null> {
  const versions = page.versions;
  const rows = await reader.$queryRaw<StoryPageRow[]>`
    SELECT s.id, s.user_id AS "userId", s.title, s.logline, s.genre, s.created_at AS "createdAt", s.updated_at AS "updatedAt",
           s.is_complete AS "isComplete", s.active_version_id AS "activeVersionId", s.active_version_number AS "activeVersionNumber",
           s.revision, s.latest_version_number AS "latestVersionNumber", s.redo_version_numbers AS "redoVersionNumbers",
           c.role AS "viewerRole",
           s.undo_stacks AS "undoStacks", s.redo_stacks AS "redoStacks", s.trashed_at AS "trashedAt",
           (SELECT json_agg(json_build_object(
                     'id', m.id, 'storyId', m.story_id, 'moduleName', m.module_name, 'inputText', m.input_text,
                     'outputText', m.output_text, 'moduleOrder', m.module_order, 'createdAt', m.created_at, 'updatedAt', m.updated_at,
                     'updatedBy', m.updated_by)
                   ORDER BY m.module_order)
              FROM story_modules m WHERE m.story_id = s.id) AS modules,
           (SELECT json_agg(json_build_object(
                     'id', v.id, 'storyId', v.story_id, 'versionNumber', v.version_number, 'parentVersionId', v.parent_version_id,
                     'eventSeq', v.event_seq, 'createdAt', v.created_at, 'label', v.label, 'generationId', v.generation_id,
                     'authorId', v.author_id)
                   ORDER BY v.version_number DESC)
              FROM (SELECT id, story_id, version_number, parent_version_id, event_seq, created_at, label, generation_id, author_id
                      FROM story_versions
                     WHERE story_id = s.id
                       AND (${versions?.beforeNumber ?? null}::int IS NULL OR version_number < ${versions?.beforeNumber ?? null}::int)
                       AND (NOT ${versions?.labeledOnly ?? false}::boolean OR label IS NOT NULL)
                     ORDER BY version_number DESC
                     LIMIT ${versions?.first ?? 0}::int) v) AS versions
      FROM stories s JOIN collaborators c ON c.story_id = s.id AND c.user_id = ${page.viewerId}::uuid
     WHERE s.id = ${page.storyId}::uuid AND s.trashed_at IS NULL`;
  const row = rows[0];
  if (!row) {
    loaders.story.prime(page.storyId, null);
    return null;
  }
  const { modules, versions: versionRows, viewerRole, ...story } = row;
  loaders.storyRole.prime(page.storyId, isRole(viewerRole) ? viewerRole : null).prime(story.id, isRole(viewerRole) ? viewerRole : null);
  // under the id asked for too, should its spelling differ from the database's
  loaders.story.prime(page.storyId, story).prime(story.id, story);
  loaders.modulesOfStory.prime(
    story.id,
    (modules ?? []).map((m) => ({ ...m, createdAt: new Date(m.createdAt), updatedAt: new Date(m.updatedAt) })),
  );
  // the key the resolver loads names the story as its row does (the key's own order kept)
  if (versions) loaders.versionsPage.prime({ ...versions, storyId: story.id }, (versionRows ?? []).map((v) => ({ ...v, createdAt: new Date(v.createdAt) })));
  return story.revision;
}
