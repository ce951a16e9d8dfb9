// Access closed by default: a Pothos plugin that gives every object and interface type, the root
// types included, the scope `signedIn` unless the type declares scopes of its own. A public type
// declares `authScopes: PUBLIC`; a public root field opts out of its type's scopes with
// `skipTypeScopes: true`, and test/publicFields.test.ts lists those fields.
import SchemaBuilder, { BasePlugin, type PothosTypeConfig, type SchemaTypes } from "@pothos/core";

/** The scopes of a type anyone may read. */
export const PUBLIC = { public: true } as const;

const SIGNED_IN = { signedIn: true } as const;

class ClosedByDefaultPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  override onTypeConfig(typeConfig: PothosTypeConfig): PothosTypeConfig {
    if (typeConfig.graphqlKind !== "Object" && typeConfig.graphqlKind !== "Interface") return typeConfig;
    if (typeConfig.pothosOptions.authScopes !== undefined) return typeConfig;
    return { ...typeConfig, pothosOptions: { ...typeConfig.pothosOptions, authScopes: SIGNED_IN } } as PothosTypeConfig;
  }
}

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      closedByDefault: ClosedByDefaultPlugin<Types>;
    }
  }
}

const pluginName = "closedByDefault";
SchemaBuilder.registerPlugin(pluginName, ClosedByDefaultPlugin);

export default pluginName;
