// The ids clients see: base64 of "Type:uuid", one per kind of object (the GraphQL schema's
// global ids). The CLI takes and prints them too, beside the plain uuids.

export const NODE_TYPES = ["User", "Story", "StoryModule", "StoryVersion", "StoryEvent", "Metadata", "Generation", "StoryComment", "StoryInvitation"] as const;
export type NodeTypeName = (typeof NODE_TYPES)[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeGlobalId(type: NodeTypeName, id: string): string {
  return Buffer.from(`${type}:${id}`, "utf8").toString("base64");
}

export function decodeGlobalId(globalId: string): { typename: NodeTypeName; id: string } | null {
  const decoded = Buffer.from(globalId, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const typename = decoded.slice(0, colon);
  const id = decoded.slice(colon + 1);
  if (colon < 0 || !(NODE_TYPES as readonly string[]).includes(typename) || !UUID.test(id)) return null;
  return { typename: typename as NodeTypeName, id: id.toLowerCase() };
}
