// Metadata: free key/value data on a story, a module or a version.
import { builder } from "../builder.ts";
import { LIMITS } from "../../domain/catalogue.ts";
import { loadAll } from "../loaders.ts";
import type { GraphQLContext } from "../context.ts";
import type { Metadata } from "../../generated/prisma/client.ts";
import { deleteMetadata, setMetadata, type MetadataParentType } from "../../commands/metadataCommands.ts";
import { encodeGlobalId, idOf, type NodeTypeName } from "../globalIds.ts";
import { clearLoaders, metadataKey } from "../loaders.ts";

const PARENT_TYPES = {
  STORY: { stored: "story", node: "Story", description: "A story (Story)." },
  MODULE: { stored: "module", node: "StoryModule", description: "A module of a story (StoryModule)." },
  VERSION: { stored: "version", node: "StoryVersion", description: "A version of a story (StoryVersion)." },
} as const satisfies Record<string, { stored: MetadataParentType; node: NodeTypeName; description: string }>;
type ParentTypeName = keyof typeof PARENT_TYPES;

const parentTypeName = (stored: string) =>
  (Object.keys(PARENT_TYPES) as ParentTypeName[]).find((name) => PARENT_TYPES[name].stored === stored)!;

export const MetadataParentTypeEnum = builder.enumType("MetadataParentType", {
  description: "What a metadata entry is attached to.",
  values: Object.fromEntries(
    Object.entries(PARENT_TYPES).map(([name, { description }]) => [name, { value: name, description }]),
  ) as Record<ParentTypeName, { value: ParentTypeName; description: string }>,
});

export const MetadataType = builder.objectRef<Metadata>("Metadata");

builder.node(MetadataType, {
  description: "A key/value entry attached to a story, a module or a version.",
  id: { resolve: (entry) => entry.id },
  loadMany: (ids, context) => loadAll(context.loaders.metadata, ids),
  fields: (t) => ({
    parentType: t.field({
      type: MetadataParentTypeEnum,
      description: "What the entry is attached to.",
      resolve: (entry) => parentTypeName(entry.parentType),
    }),
    parentId: t.id({
      description: "The global id of the story, module or version.",
      resolve: (entry) => encodeGlobalId(PARENT_TYPES[parentTypeName(entry.parentType)].node, entry.parentId),
    }),
    key: t.exposeString("key", { description: "The entry's key, unique on its parent." }),
    value: t.field({ type: "JSON", nullable: true, description: "The entry's value: any JSON.", resolve: (entry) => entry.value }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the key was first set on this parent." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When the value was last set." }),
  }),
});

export function metadataOf(context: GraphQLContext, parentType: MetadataParentType, parentId: string) {
  return context.loaders.metadataOf.load(metadataKey(parentType, parentId));
}

const SetMetadataInput = builder.inputType("SetMetadataInput", {
  description: "A value to set under a key of a story, a module or a version.",
  fields: (t) => ({
    parentType: t.field({ type: MetadataParentTypeEnum, required: true, description: "What parentId names." }),
    parentId: t.id({ required: true, description: "The global id of the story, module or version." }),
    key: t.string({ required: true, description: `Not empty; at most ${LIMITS.metadataKeyChars} characters.` }),
    value: t.field({ type: "JSON", required: true, description: `Any JSON of at most ${LIMITS.metadataValueBytes} bytes.` }),
  }),
});

const DeleteMetadataInput = builder.inputType("DeleteMetadataInput", {
  description: "The key to remove from a story, a module or a version.",
  fields: (t) => ({
    parentType: t.field({ type: MetadataParentTypeEnum, required: true, description: "What parentId names." }),
    parentId: t.id({ required: true, description: "The global id of the story, module or version." }),
    key: t.string({ required: true, description: "The entry's key." }),
  }),
});

const SetMetadataPayload = builder.objectRef<{ metadata: Metadata }>("SetMetadataPayload").implement({
  description: "What setting metadata answers.",
  fields: (t) => ({ metadata: t.field({ type: MetadataType, description: "The entry as it is now.", resolve: (payload) => payload.metadata }) }),
});

const DeleteMetadataPayload = builder.objectRef<{ deleted: Metadata | null }>("DeleteMetadataPayload").implement({
  description: "What deleting metadata answers.",
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
  setMetadata: t.withAuth({ signedIn: true }).field({
    type: SetMetadataPayload,
    description:
      "Sets the value under a key of a story, module or version (insert or replace); " +
      `at most ${LIMITS.metadataKeysPerParent} keys a parent.`,
    args: { input: t.arg({ type: SetMetadataInput, required: true, description: "The parent, the key and the value." }) },
    resolve: async (_root, { input }, context) => {
      const metadata = await setMetadata(context.db, context.viewer.id, target(input), input.value);
      clearLoaders(context.loaders);
      return { metadata };
    },
  }),
  deleteMetadata: t.withAuth({ signedIn: true }).field({
    type: DeleteMetadataPayload,
    description: "Removes a key of a story, module or version.",
    args: { input: t.arg({ type: DeleteMetadataInput, required: true, description: "The parent and the key." }) },
    resolve: async (_root, { input }, context) => {
      const deleted = await deleteMetadata(context.db, context.viewer.id, target(input));
      clearLoaders(context.loaders);
      return { deleted };
    },
  }),
}));
