// Metadata: free key/value data on a story, a module or a version.
import { builder } from "../builder.ts";
import { loadAll } from "../loaders.ts";
import type { GraphQLContext } from "../context.ts";
import type { Metadata } from "../../generated/prisma/client.ts";
import { deleteMetadata, setMetadata, type MetadataParentType } from "../../commands/metadataCommands.ts";
import { encodeGlobalId, idOf, type NodeTypeName } from "../globalIds.ts";
import { clearLoaders, metadataKey } from "../loaders.ts";

const PARENT_TYPES = {
  STORY: { stored: "story", node: "Story" },
  MODULE: { stored: "module", node: "StoryModule" },
  VERSION: { stored: "version", node: "StoryVersion" },
} as const satisfies Record<string, { stored: MetadataParentType; node: NodeTypeName }>;
type ParentTypeName = keyof typeof PARENT_TYPES;

const parentTypeName = (stored: string) =>
  (Object.keys(PARENT_TYPES) as ParentTypeName[]).find((name) => PARENT_TYPES[name].stored === stored)!;

export const MetadataParentTypeEnum = builder.enumType("MetadataParentType", {
  values: Object.fromEntries(Object.keys(PARENT_TYPES).map((name) => [name, { value: name }])) as Record<
    ParentTypeName,
    { value: ParentTypeName }
  >,
});

export const MetadataType = builder.objectRef<Metadata>("Metadata");

builder.node(MetadataType, {
  description: "A key/value entry attached to a story, a module or a version.",
  id: { resolve: (entry) => entry.id },
  loadMany: (ids, context) => loadAll(context.loaders.metadata, ids),
  fields: (t) => ({
    parentType: t.field({ type: MetadataParentTypeEnum, resolve: (entry) => parentTypeName(entry.parentType) }),
    parentId: t.id({
      description: "The global id of the story, module or version.",
      resolve: (entry) => encodeGlobalId(PARENT_TYPES[parentTypeName(entry.parentType)].node, entry.parentId),
    }),
    key: t.exposeString("key"),
    value: t.field({ type: "JSON", nullable: true, resolve: (entry) => entry.value }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

export function metadataOf(context: GraphQLContext, parentType: MetadataParentType, parentId: string) {
  return context.loaders.metadataOf.load(metadataKey(parentType, parentId));
}

const SetMetadataInput = builder.inputType("SetMetadataInput", {
  fields: (t) => ({
    parentType: t.field({ type: MetadataParentTypeEnum, required: true }),
    parentId: t.id({ required: true }),
    key: t.string({ required: true }),
    value: t.field({ type: "JSON", required: true }),
  }),
});

const DeleteMetadataInput = builder.inputType("DeleteMetadataInput", {
  fields: (t) => ({
    parentType: t.field({ type: MetadataParentTypeEnum, required: true }),
    parentId: t.id({ required: true }),
    key: t.string({ required: true }),
  }),
});

const SetMetadataPayload = builder.objectRef<{ metadata: Metadata }>("SetMetadataPayload").implement({
  fields: (t) => ({ metadata: t.field({ type: MetadataType, resolve: (payload) => payload.metadata }) }),
});

const DeleteMetadataPayload = builder.objectRef<{ deleted: Metadata | null }>("DeleteMetadataPayload").implement({
  fields: (t) => ({
    deleted: t.boolean({ description: "False when there was no such entry.", resolve: (payload) => payload.deleted !== null }),
    metadata: t.field({ type: MetadataType, nullable: true, description: "The entry as it was.", resolve: (payload) => payload.deleted }),
  }),
});

function target(input: { parentType: ParentTypeName; parentId: string; key: string }) {
  const parent = PARENT_TYPES[input.parentType];
  return { parentType: parent.stored, parentId: idOf(parent.node, input.parentId), key: input.key };
}

builder.mutationFields((t) => ({
  setMetadata: t.field({
    type: SetMetadataPayload,
    authScopes: { signedIn: true },
    description: "Sets the value under a key of a story, module or version (insert or replace).",
    args: { input: t.arg({ type: SetMetadataInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const metadata = await setMetadata(context.db, context.viewer!.id, target(input), input.value);
      clearLoaders(context.loaders);
      return { metadata };
    },
  }),
  deleteMetadata: t.field({
    type: DeleteMetadataPayload,
    authScopes: { signedIn: true },
    args: { input: t.arg({ type: DeleteMetadataInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const deleted = await deleteMetadata(context.db, context.viewer!.id, target(input));
      clearLoaders(context.loaders);
      return { deleted };
    },
  }),
}));
