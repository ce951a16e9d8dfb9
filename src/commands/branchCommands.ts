// Branches of a story and merging them: making a branch (a new story that begins at a version of
// another), where two stories of one family last shared their content (the base of a compare or
// a merge), and the three-way merge of one into the other, module by module, applied as one
// version of the target through the story's own rules (./storyCommands.ts).
import { randomUUID } from "node:crypto";
import { MODULES, SNAPSHOT_KEYS, moduleByName, type ModuleName, type SnapshotKey } from "../domain/catalogue.ts";
import { StorySparkError, badInput, notFound } from "../domain/errors.ts";
import { jsonEqual } from "../domain/json.ts";
import { mergeModule, resolveModule, type MergeConflict, type MergeResolution, type MergeStatus, type ModuleContent } from "../domain/merge.ts";
import { isRole } from "../domain/roles.ts";
import type { BranchContent, VersionOf } from "../domain/story.ts";
import type { DbClient } from "../database/types.ts";
import { findByIdempotencyKey } from "../eventstore/eventStore.ts";
import { readVersionContents } from "../history/versionContent.ts";
import { diffVersions, type ModuleDiff, type VersionContent } from "../history/versionDiff.ts";
import { requireStoryRole, roleInStory } from "./storyAccess.ts";
import { newStoryIds, requestTerms, runStoryCommand, type CommandServices, type StoryCommandResult } from "./storyCommands.ts";

// ------------------------------------------------------------------ making a branch

export type CreateBranchRequest = { actorId: string; storyId: string; fromVersionNumber?: number | null; label: string; idempotencyKey?: string | null };

/**
 * A new story, the actor's, beginning at version `fromVersionNumber` (default: the active one) of
 * the story: its content, title, logline and genre, and its members as they are now (the actor
 * needs the editor role in it).
 */
export async function createBranch(services: CommandServices, request: CreateBranchRequest): Promise<StoryCommandResult> {
  const db = services.db.prisma;
  await requireStoryRole(db, request.storyId, request.actorId, "editor", "making a branch");
  const parent = await db.story.findUnique({ where: { id: request.storyId } });
  if (!parent) throw notFound("story");
  // every family walk stays short: compare, merge and the tree follow these links up
  if ((await lineage(db, parent.id)).length > MAX_BRANCH_DEPTH) {
    throw badInput("storyId", `branches nest at most ${MAX_BRANCH_DEPTH} deep: branch from a story higher up`);
  }
  const number = request.fromVersionNumber ?? parent.activeVersionNumber;
  const version = Number.isSafeInteger(number)
    ? await db.storyVersion.findUnique({ where: { storyId_versionNumber: { storyId: parent.id, versionNumber: number } }, select: { id: true } })
    : null;
  if (!version) throw new StorySparkError("NOT_FOUND", `version ${number} not found`, { field: "fromVersionNumber" });
  const [content, members] = await Promise.all([contentOf(db, version.id), db.collaborator.findMany({ where: { storyId: parent.id } })]);
  const { storyId, versionId, moduleIds } = newStoryIds(request);
  return runStoryCommand(services, {
    storyId,
    actorId: request.actorId,
    idempotencyKey: request.idempotencyKey ?? null,
    // what the writer asked: a retry after the story moved on is the same request
    requestIdentity: { type: "CreateBranch", storyId: request.storyId, fromVersionNumber: request.fromVersionNumber ?? null, label: request.label },
    command: {
      type: "CreateBranch",
      ownerId: request.actorId,
      label: request.label,
      parent: { storyId: parent.id, versionNumber: number, versionId: version.id },
      title: parent.title,
      logline: parent.logline,
      genre: parent.genre,
      parentOwnerId: parent.userId,
      content: Object.fromEntries(
        SNAPSHOT_KEYS.map((key) => [key, { output: content.outputs[key], inputText: content.inputs[key] }]),
      ) as unknown as BranchContent,
      members: members.flatMap((m) => (isRole(m.role) ? [{ userId: m.userId, role: m.role }] : [])),
      versionId,
      moduleIds,
    },
  });
}

// ------------------------------------------------------------------ a family of stories

/** How deep branches of branches may nest. */
export const MAX_BRANCH_DEPTH = 100;

/** A story of a family and the version of it the chain below it left from (null: the story the chain starts at). */
type ChainLink = { storyId: string; via: number | null };

/** The story, its parent, its parent's parent … up to the family's root, with the versions each branch left from. */
async function lineage(db: DbClient, storyId: string): Promise<ChainLink[]> {
  const rows = await db.$queryRaw<{ parent: string; version: number }[]>`
    WITH RECURSIVE up AS (
      SELECT story_id, branch_parent_id, parent_version_number, 1 AS depth FROM story_branches WHERE story_id = ${storyId}::uuid
      UNION ALL
      SELECT b.story_id, b.branch_parent_id, b.parent_version_number, up.depth + 1
        FROM story_branches b JOIN up ON b.story_id = up.branch_parent_id
       WHERE up.depth < 1000
    )
    SELECT branch_parent_id::text AS parent, parent_version_number AS version FROM up ORDER BY depth`;
  return [{ storyId, via: null }, ...rows.map((row) => ({ storyId: row.parent, via: row.version }))];
}

/** The root of the story's family: the story its lineage begins with. */
export async function familyRoot(db: DbClient, storyId: string): Promise<string> {
  return (await lineage(db, storyId)).at(-1)!.storyId;
}

/**
 * Where two stories of one family last shared their content: in their lowest common story, the
 * latest common ancestor (in that story's version tree) of the versions each side stands on there
 * (a side that is that story itself stands on its active version, the other on the version its
 * branch left from). For a story and its branch that is the fork version; for two branches of one
 * story, the older fork version when one descends from the other. Null when they share no story.
 */
export async function commonAncestor(db: DbClient, a: string, b: string): Promise<VersionOf | null> {
  const [chainA, chainB] = await Promise.all([lineage(db, a), lineage(db, b)]);
  const inB = new Map(chainB.map((link) => [link.storyId, link]));
  const linkA = chainA.find((link) => inB.has(link.storyId));
  if (!linkA) return null;
  const linkB = inB.get(linkA.storyId)!;
  const story = await db.story.findUnique({ where: { id: linkA.storyId }, select: { activeVersionNumber: true } });
  if (!story) return null;
  const tree = await versionTree(db, linkA.storyId);
  const ancestorsOfA = new Set(ancestry(tree, linkA.via ?? story.activeVersionNumber));
  const common = ancestry(tree, linkB.via ?? story.activeVersionNumber).find((n) => ancestorsOfA.has(n));
  return common === undefined ? null : { storyId: linkA.storyId, versionNumber: common };
}

/** Each version's parent number, by number. */
async function versionTree(db: DbClient, storyId: string): Promise<Map<number, number | null>> {
  const rows = await db.$queryRaw<{ number: number; parent: number | null }[]>`
    SELECT v.version_number AS number, p.version_number AS parent
      FROM story_versions v LEFT JOIN story_versions p ON p.id = v.parent_version_id
     WHERE v.story_id = ${storyId}::uuid`;
  return new Map(rows.map((row) => [row.number, row.parent]));
}

/** The version and its ancestors, itself first. */
function ancestry(tree: ReadonlyMap<number, number | null>, number: number): number[] {
  const chain: number[] = [];
  // a parent is always an older version: the walk ends; the set only guards against a damaged table
  const seen = new Set<number>();
  for (let n: number | null | undefined = number; n !== null && n !== undefined && !seen.has(n); n = tree.get(n)) {
    seen.add(n);
    chain.push(n);
  }
  return chain;
}

/**
 * The branch's version that `into` merged last, when that merge is still in `into`'s active
 * history (an undone merge is not): merging again brings only what changed on the branch since.
 */
export async function lastMerge(db: DbClient, into: string, branch: string): Promise<(VersionOf & { at: Date }) | null> {
  const merges = await db.$queryRaw<{ version: number; branchVersion: number; at: Date }[]>`
    SELECT (payload->'version'->>'number')::int AS version, (payload->'branch'->>'versionNumber')::int AS "branchVersion", created_at AS at
      FROM story_events
     WHERE story_id = ${into}::uuid AND type = 'BranchMerged' AND payload->'branch'->>'storyId' = ${branch}::text`;
  if (merges.length === 0) return null;
  const story = await db.story.findUnique({ where: { id: into }, select: { activeVersionNumber: true } });
  if (!story) return null;
  const byVersion = new Map(merges.map((m) => [m.version, m]));
  const merged = ancestry(await versionTree(db, into), story.activeVersionNumber).find((n) => byVersion.has(n));
  if (merged === undefined) return null;
  const merge = byVersion.get(merged)!;
  return { storyId: branch, versionNumber: merge.branchVersion, at: merge.at };
}

/**
 * The version of one of the two stories that the other merged last, in either direction (each
 * merge still in its target's active history): everything up to it is in both.
 */
async function latestMerge(db: DbClient, a: string, b: string): Promise<VersionOf | null> {
  const [intoA, intoB] = await Promise.all([lastMerge(db, a, b), lastMerge(db, b, a)]);
  const latest = !intoA ? intoB : !intoB ? intoA : intoA.at >= intoB.at ? intoA : intoB;
  return latest && { storyId: latest.storyId, versionNumber: latest.versionNumber };
}

/**
 * The base two stories are compared or merged on: the version one merged from the other last, or
 * their common ancestor. Its content is shown (changes since it, a conflict's base): when it is
 * in a third story, the viewer must be a member of that one too.
 */
async function baseOf(db: DbClient, actorId: string, a: string, b: string, field: string): Promise<VersionOf> {
  if (a === b) throw badInput(field, "a story can't be compared with or merged into itself");
  const base = (await latestMerge(db, a, b)) ?? (await commonAncestor(db, a, b));
  if (!base) throw badInput(field, "the two stories are not of one family: neither is a branch of the other, nor of a story both come from");
  if (base.storyId !== a && base.storyId !== b && (await roleInStory(db, base.storyId, actorId)) === null) {
    throw badInput(field, "the two stories last shared their content in a story you are not a member of: compare or merge each with it through a member");
  }
  return base;
}

// ------------------------------------------------------------------ content

async function contentOf(db: DbClient, versionId: string): Promise<VersionContent> {
  const content = (await readVersionContents(db, [versionId])).get(versionId);
  if (!content) throw new Error(`version ${versionId} has no content`);
  return content;
}

/** A story's active version: its number and content. */
async function activeContent(db: DbClient, storyId: string): Promise<{ version: VersionOf; content: VersionContent }> {
  const story = await db.story.findUnique({ where: { id: storyId }, select: { activeVersionId: true, activeVersionNumber: true } });
  if (!story?.activeVersionId) throw notFound("story");
  return { version: { storyId, versionNumber: story.activeVersionNumber }, content: await contentOf(db, story.activeVersionId) };
}

async function versionContentOf(db: DbClient, version: VersionOf): Promise<VersionContent> {
  const row = await db.storyVersion.findUnique({
    where: { storyId_versionNumber: { storyId: version.storyId, versionNumber: version.versionNumber } },
    select: { id: true },
  });
  if (!row) throw badInput("branchId", `the stories' common version (${version.versionNumber} of their common story) is gone`);
  return contentOf(db, row.id);
}

const moduleContent = (content: VersionContent, key: SnapshotKey): ModuleContent => ({ output: content.outputs[key], inputText: content.inputs[key] });

// ------------------------------------------------------------------ compare

export type BranchComparison = {
  base: VersionOf;
  a: VersionOf;
  b: VersionOf;
  /** from a's active version to b's */
  differences: ModuleDiff[];
  /** what each changed since the base */
  changesInA: ModuleDiff[];
  changesInB: ModuleDiff[];
};

/**
 * What differs between two stories' active versions, and what each changed since their base: the
 * version of one the other merged last (b's merged into a, else a's into b), or their common ancestor.
 */
export async function compareBranches(db: DbClient, actorId: string, a: string, b: string): Promise<BranchComparison> {
  await requireStoryRole(db, a, actorId, "viewer", "comparing branches");
  await requireStoryRole(db, b, actorId, "viewer", "comparing branches");
  const base = await baseOf(db, actorId, a, b, "b");
  const [sideA, sideB, baseContent] = await Promise.all([activeContent(db, a), activeContent(db, b), versionContentOf(db, base)]);
  return {
    base,
    a: sideA.version,
    b: sideB.version,
    differences: diffVersions(sideA.content, sideB.content),
    changesInA: diffVersions(baseContent, sideA.content),
    changesInB: diffVersions(baseContent, sideB.content),
  };
}

// ------------------------------------------------------------------ merge

export type ModuleMergePreview = {
  module: ModuleName;
  status: MergeStatus;
  conflicts: readonly MergeConflict[];
  merged: ModuleContent;
  sides: { base: ModuleContent; ours: ModuleContent; theirs: ModuleContent };
};

export type MergePreview = { base: VersionOf; ours: VersionOf; theirs: VersionOf; modules: ModuleMergePreview[] };

/** The three-way merge of the branch's active version into the target's, module by module. */
async function computeMerge(db: DbClient, actorId: string, branchId: string, intoId: string): Promise<MergePreview> {
  const base = await baseOf(db, actorId, intoId, branchId, "branchId");
  const [ours, theirs, baseContent] = await Promise.all([activeContent(db, intoId), activeContent(db, branchId), versionContentOf(db, base)]);
  const modules = MODULES.map((m) => {
    const sides = { base: moduleContent(baseContent, m.snapshotKey), ours: moduleContent(ours.content, m.snapshotKey), theirs: moduleContent(theirs.content, m.snapshotKey) };
    const merge = mergeModule(sides.base, sides.ours, sides.theirs);
    return { module: m.name, status: merge.status, conflicts: merge.conflicts, merged: merge.merged, sides };
  });
  return { base, ours: ours.version, theirs: theirs.version, modules };
}

/** What merging would do, for a viewer who can see both stories. */
export async function previewMerge(db: DbClient, actorId: string, branchId: string, intoId: string): Promise<MergePreview> {
  await requireStoryRole(db, intoId, actorId, "viewer", "previewing a merge");
  await requireStoryRole(db, branchId, actorId, "viewer", "previewing a merge");
  return computeMerge(db, actorId, branchId, intoId);
}

export type ModuleResolution = MergeResolution & { module: ModuleName };

export type MergeBranchRequest = {
  actorId: string;
  branchId: string;
  intoId: string;
  resolutions: readonly ModuleResolution[];
  expectedRevision?: number | null;
  idempotencyKey?: string | null;
};

/** Tries of a merge whose target changed, between computing and appending, in a module the merge writes. */
const MERGE_ATTEMPTS = 3;

/**
 * Merges the branch's active version into the target as one new version of it (BranchMerged),
 * with the writer's resolutions: per conflict (by path), or for a whole module (path null), which
 * then decides the module whatever the merge made of it. A conflict left without one refuses the
 * merge with MERGE_CONFLICT listing them. The merge is computed on the target's active version and
 * appended only if the modules it writes are still as they were (else it is computed again).
 */
export async function mergeBranch(services: CommandServices, request: MergeBranchRequest): Promise<StoryCommandResult> {
  const db = services.db.prisma;
  const { actorId, branchId, intoId } = request;
  await requireStoryRole(db, intoId, actorId, "editor", "merging a branch");
  await requireStoryRole(db, branchId, actorId, "viewer", "merging a branch");
  for (const [i, resolution] of request.resolutions.entries()) {
    if (!moduleByName(resolution.module)) throw badInput(`resolutions[${i}].module`, `unknown module "${resolution.module}"`);
    if (resolution.choice === "CONTENT" && resolution.content === undefined) throw badInput(`resolutions[${i}].content`, "is needed with the choice CONTENT");
  }
  const requestIdentity = { type: "MergeBranch", branchId, resolutions: request.resolutions };
  const terms = requestTerms({ ...request, requestIdentity });
  const run = (command: Parameters<typeof runStoryCommand>[1]["command"]) =>
    runStoryCommand(services, { storyId: intoId, actorId, command, expectedRevision: request.expectedRevision, idempotencyKey: request.idempotencyKey, requestIdentity });
  if (terms.idempotencyKey !== null && (await findByIdempotencyKey(db, intoId, terms.idempotencyKey))) {
    // answered before: the earlier answer, whatever the merge would make now
    const none = { storyId: branchId, versionNumber: 1 };
    return run({ type: "MergeBranch", branch: none, base: none, modules: [], versionId: randomUUID(), baseVersionNumber: 1 });
  }
  for (let attempt = 1; ; attempt++) {
    const merge = await computeMerge(db, actorId, branchId, intoId);
    const unresolved: (MergeConflict & { module: ModuleName })[] = [];
    const modules: { module: ModuleName; output: unknown; inputText: string | null }[] = [];
    for (const m of merge.modules) {
      const resolutions = request.resolutions.filter((r) => r.module === m.module);
      const result = resolutions.length === 0 ? { content: m.merged, unresolved: m.conflicts } : resolveModule(m, m.sides, resolutions);
      unresolved.push(...result.unresolved.map((conflict) => ({ module: m.module, ...conflict })));
      const { output, inputText } = result.content;
      if (!jsonEqual(output, m.sides.ours.output) || inputText !== m.sides.ours.inputText) modules.push({ module: m.module, output, inputText });
    }
    if (unresolved.length > 0) {
      const where = unresolved.map((c) => `${c.module} ${c.path}`).join(", ");
      throw new StorySparkError("MERGE_CONFLICT", `the merge has conflicts without a resolution: ${where}`, { conflicts: unresolved });
    }
    try {
      return await run({
        type: "MergeBranch",
        branch: merge.theirs,
        base: merge.base,
        modules,
        versionId: randomUUID(),
        baseVersionNumber: merge.ours.versionNumber,
      });
    } catch (error) {
      if (error instanceof StorySparkError && error.code === "MODULE_CONFLICT" && attempt < MERGE_ATTEMPTS) continue;
      throw error;
    }
  }
}

// ------------------------------------------------------------------ the tree

export type BranchTreeNode = { storyId: string; parentId: string | null; depth: number };

/**
 * The whole family of the story, from its root, as the viewer sees it: only stories they are a
 * member of, each under its nearest visible ancestor (`parentId`, null at the top), `depth` the
 * number of those ancestors; depth first, each story's branches oldest first.
 */
export async function branchTree(db: DbClient, storyId: string, viewerId: string): Promise<BranchTreeNode[]> {
  const root = await familyRoot(db, storyId);
  const rows = await db.$queryRaw<{ story: string; parent: string; visible: boolean }[]>`
    WITH RECURSIVE down AS (
      SELECT story_id, branch_parent_id, created_at, 1 AS depth FROM story_branches WHERE branch_parent_id = ${root}::uuid
      UNION ALL
      SELECT b.story_id, b.branch_parent_id, b.created_at, down.depth + 1
        FROM story_branches b JOIN down ON b.branch_parent_id = down.story_id
       WHERE down.depth < 1000
    )
    SELECT d.story_id::text AS story, d.branch_parent_id::text AS parent,
           EXISTS (SELECT 1 FROM collaborators c JOIN stories s ON s.id = c.story_id
                    WHERE c.story_id = d.story_id AND c.user_id = ${viewerId}::uuid AND s.trashed_at IS NULL) AS visible
      FROM down d ORDER BY d.created_at, d.story_id`;
  // a story in the trash is a missing one: it is left out like one the viewer can't see
  const rootVisible = await db.collaborator.findFirst({ where: { storyId: root, userId: viewerId, story: { trashedAt: null } }, select: { role: true } });
  const children = new Map<string, string[]>();
  const visible = new Set(rows.flatMap((row) => (row.visible ? [row.story] : [])));
  if (rootVisible) visible.add(root);
  for (const row of rows) children.set(row.parent, [...(children.get(row.parent) ?? []), row.story]);
  const nodes: BranchTreeNode[] = [];
  const walk = (id: string, visibleParent: string | null, depth: number) => {
    const shown = visible.has(id);
    if (shown) nodes.push({ storyId: id, parentId: visibleParent, depth });
    for (const child of children.get(id) ?? []) walk(child, shown ? id : visibleParent, shown ? depth + 1 : depth);
  };
  walk(root, null, 0);
  return nodes;
}
