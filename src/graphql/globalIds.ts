// Relay global ids (the codec is ../domain/globalIds.ts, shared with the CLI). A malformed id,
// or one of another type, is answered like a missing one.
import { decodeGlobalId, type NodeTypeName } from "../domain/globalIds.ts";
import { notFound } from "../domain/errors.ts";

export { NODE_TYPES, decodeGlobalId, encodeGlobalId, type NodeTypeName } from "../domain/globalIds.ts";

/** The uuid inside a global id of the expected type; NOT_FOUND otherwise. */
export function idOf(type: NodeTypeName, globalId: string): string {
  const decoded = decodeGlobalId(globalId);
  if (!decoded || decoded.typename !== type) throw notFound(type);
  return decoded.id;
}
