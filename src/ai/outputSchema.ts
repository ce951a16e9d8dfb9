// A module's output schema for structured output, derived from the catalogue's zod schema.
import { z } from "zod";
import type { ModuleDefinition } from "../domain/catalogue.ts";

type JsonSchema = { [key: string]: unknown };

/** Keywords strict structured output does not take; the zod schema still checks them afterwards. */
const UNSUPPORTED = new Set(["$schema", "maxLength", "minLength", "maxItems", "minItems"]);

/** Strict: every property required, no others allowed, as OpenAI's strict mode demands. */
export function outputJsonSchema(module: ModuleDefinition): JsonSchema {
  return strict(z.toJSONSchema(module.outputSchema) as JsonSchema);
}

function strict(node: unknown): JsonSchema {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return node as JsonSchema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (UNSUPPORTED.has(key)) continue;
    if (key === "properties" && value && typeof value === "object") {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strict(v)]));
    } else if (key === "items") {
      out.items = strict(value);
    } else {
      out[key] = value;
    }
  }
  if (out.type === "object" && out.properties) {
    out.required = Object.keys(out.properties as object);
    out.additionalProperties = false;
  }
  return out;
}
