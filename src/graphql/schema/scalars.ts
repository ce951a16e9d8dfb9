// The JSON and DateTime scalars.
import { GraphQLError, Kind, type ValueNode } from "graphql";
import { builder } from "../builder.ts";
import { LIMITS } from "../../domain/catalogue.ts";
import { jsonDepthOver } from "../../domain/text.ts";

builder.scalarType("DateTime", {
  description: "An instant, as an ISO 8601 string in UTC.",
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (typeof value !== "string" || Number.isNaN(date.getTime())) throw new TypeError("DateTime must be an ISO 8601 string");
    return date;
  },
});

builder.scalarType("JSON", {
  description: `Any JSON value, nested at most ${LIMITS.jsonDepth} levels deep.`,
  serialize: (value) => value,
  parseValue: (value) => {
    if (jsonDepthOver(value)) throw tooDeep();
    return value;
  },
  // checked before converting: the conversion recurses, the check does not
  parseLiteral: (node, variables) => {
    if (literalDepthOver(node)) throw tooDeep();
    const value = literalValue(node, variables ?? undefined);
    if (jsonDepthOver(value)) throw tooDeep(); // variables inside the literal add their own depth
    return value;
  },
});

/** A GraphQLError keeps graphql-js's message naming the variable and path in front of ours. */
const tooDeep = () =>
  new GraphQLError(`JSON must not nest deeper than ${LIMITS.jsonDepth} levels`, { extensions: { code: "BAD_USER_INPUT" } });

function literalDepthOver(root: ValueNode): boolean {
  const stack: { node: ValueNode; depth: number }[] = [{ node: root, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (node.kind !== Kind.LIST && node.kind !== Kind.OBJECT) continue;
    if (depth >= LIMITS.jsonDepth) return true;
    const children = node.kind === Kind.LIST ? node.values : node.fields.map((f) => f.value);
    for (const child of children) stack.push({ node: child, depth: depth + 1 });
  }
  return false;
}

function literalValue(node: ValueNode, variables: Record<string, unknown> | undefined): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.ENUM:
      return node.value;
    case Kind.LIST:
      return node.values.map((v) => literalValue(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalValue(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
  }
}
