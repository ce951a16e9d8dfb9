// What one GraphQL document may ask for, checked before any resolver runs: its length in
// tokens (parsing stops at the limit), depth, aliases, directives, list arguments and an
// estimated cost that multiplies by list sizes. A document over a limit is QUERY_TOO_COMPLEX,
// and the message names the limit and its setting.
import { GraphQLError, Kind, getOperationAST, getVariableValues, getNamedType, type ValidationRule, isListType, isNonNullType, validate, type DocumentNode, type GraphQLOutputType, type GraphQLInputType, type GraphQLSchema, type ParseOptions, type Source } from "graphql";
import { PothosValidationError } from "@pothos/core";
import { createComplexityRule } from "@pothos/plugin-complexity";
import { MaxTokensParserWLexer } from "@escape.tech/graphql-armor-max-tokens";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import type { Plugin } from "graphql-yoga";
import { DEFAULT_PAGE, EVENTS_PAGE, MAX_PAGE } from "./schema/paging.ts";
import { LIMITS, MODULES } from "../domain/catalogue.ts";

export type DocumentLimits = {
  /** lexical tokens in the document: parsing stops past this */
  maxTokens: number;
  /** nested selections (introspection is bounded separately by graphql-js) */
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  /** estimated cost: every field 1, JSON values 5, list fields times their size */
  maxCost: number;
};

/** Items in a list argument, e.g. `nodes(ids:)`. */
export const MAX_LIST_ARGUMENT = 100;

export const DEFAULT_DOCUMENT_LIMITS: DocumentLimits = {
  maxTokens: 2_000,
  maxDepth: 12,
  maxAliases: 30,
  maxDirectives: 20,
  maxCost: 5_000,
};

/** The environment variable that sets each limit, named in the refusal. */
export const DOCUMENT_LIMIT_SETTINGS: Record<keyof DocumentLimits, string> = {
  maxTokens: "MAX_QUERY_TOKENS",
  maxDepth: "MAX_QUERY_DEPTH",
  maxAliases: "MAX_QUERY_ALIASES",
  maxDirectives: "MAX_QUERY_DIRECTIVES",
  maxCost: "MAX_QUERY_COST",
};

const LIMIT_NAMES: Record<keyof DocumentLimits, string> = {
  maxTokens: "tokens",
  maxDepth: "depth",
  maxAliases: "aliases",
  maxDirectives: "directives",
  maxCost: "cost",
};

const JSON_FIELD_COST = 5;
/**
 * How many items a list of these can hold, where the API bounds it: one per module, the
 * metadata keys of a parent, a page of events (`events` without `first`). Other lists count 10.
 */
const LIST_SIZES: Readonly<Record<string, number>> = {
  StoryModule: MODULES.length,
  ModuleAtRevision: MODULES.length,
  ModuleDiff: MODULES.length,
  Metadata: LIMITS.metadataKeysPerParent,
  StoryEvent: EVENTS_PAGE,
  // a thread's replies without `first`: a page of them
  StoryComment: DEFAULT_PAGE,
};
const LIST_SIZE_UNKNOWN = 10;

/** A refusal naming the limit, what was found and the setting that changes it. */
export class QueryTooComplexError extends PothosValidationError {
  constructor(limit: string, max: number, found: number | null, setting: string | null, detail = "") {
    const foundText = found === null ? "" : `, found ${found}`;
    const settingText = setting === null ? "" : ` (${setting})`;
    super(`Query too complex: ${limit} limit of ${max} exceeded${foundText}${detail}${settingText}`, {
      extensions: { code: "QUERY_TOO_COMPLEX", limit, max, ...(found === null ? {} : { found }) },
    });
  }
}

const tooComplex = (limit: keyof DocumentLimits, max: number, found: number | null, detail = "") =>
  new QueryTooComplexError(LIMIT_NAMES[limit], max, found, DOCUMENT_LIMIT_SETTINGS[limit], detail);

/**
 * The cost of one field for the Pothos complexity plugin: connections and list arguments
 * multiply what is selected under them by the number of items they can return.
 */
export function fieldCost(args: Record<string, unknown>, _context: unknown, field: { name: string; type: GraphQLOutputType }) {
  const named = getNamedType(field.type).name;
  const own = named === "JSON" ? JSON_FIELD_COST : 1;
  // above a page, the resolver refuses `first` (BAD_USER_INPUT): count a full page
  if (typeof args.first === "number") return { field: own, multiplier: Math.min(Math.max(args.first, 0), MAX_PAGE) };
  if (Array.isArray(args.ids)) return { field: own, multiplier: args.ids.length };
  if (named.endsWith("Connection")) return { field: own, multiplier: DEFAULT_PAGE };
  if (!isList(field.type)) return own;
  // a connection's edges were counted by the connection's `first`
  return { field: own, multiplier: field.name === "edges" ? 1 : (LIST_SIZES[named] ?? LIST_SIZE_UNKNOWN) };
}

function isList(type: GraphQLOutputType | GraphQLInputType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/**
 * The yoga plugin: a parser that stops at the token limit, and, once the standard
 * validation passed, the depth, alias, directive and cost rules.
 */
export function useDocumentLimits(limits: DocumentLimits): Plugin {
  const parseWithLimit = (source: string | Source, options?: ParseOptions): DocumentNode => {
    let exceeded = false;
    const parser = new MaxTokensParserWLexer(source, {
      ...options,
      n: limits.maxTokens,
      onReject: [() => (exceeded = true)],
      propagateOnRejection: true,
    } as ConstructorParameters<typeof MaxTokensParserWLexer>[1]);
    try {
      return parser.parseDocument();
    } catch (error) {
      if (exceeded) throw tooComplex("maxTokens", limits.maxTokens, null, "; parsing stopped");
      throw error;
    }
  };

  // Depth, aliases and directives depend on the document alone: checked in validation, which
  // yoga caches per document. List arguments and cost depend on the variables too: checked
  // before each execution, never cached.
  const variableDependent = ({ args, setResultAndStopExecution }: ExecutionHookPayload) => {
    const request: RequestParams = {
      variables: isRecord(args.variableValues) ? args.variableValues : {},
      operationName: args.operationName ?? null,
    };
    // list arguments first, on the raw variables: coercing 100,000 ids would already cost
    const tooLong = validate(args.schema, args.document, [listArgumentsRule(request.variables)]);
    if (tooLong.length > 0) return setResultAndStopExecution({ errors: tooLong.slice(0, 1) });
    // variables that don't fit their types are answered by the execution, naming the variable
    const operation = getOperationAST(args.document, request.operationName ?? undefined);
    if (!operation || "errors" in getVariableValues(args.schema, operation.variableDefinitions ?? [], request.variables, { maxErrors: 1 })) return;
    const tooCostly = validate(args.schema, args.document, [costRule(limits, request)]);
    if (tooCostly.length > 0) setResultAndStopExecution({ errors: tooCostly.slice(0, 1) });
  };
  return {
    onParse: ({ setParseFn }) => setParseFn(parseWithLimit),
    onValidate: ({ params }) => {
      return ({ result, setResult }) => {
        if (result.length > 0) return; // the document is invalid anyway: say that first
        const errors = validate(params.schema as GraphQLSchema, params.documentAST, documentRules(limits));
        if (errors.length > 0) setResult(errors.slice(0, 1));
      };
    },
    onExecute: variableDependent,
    onSubscribe: variableDependent,
  };
}

type ExecutionHookPayload = {
  args: { schema: GraphQLSchema; document: DocumentNode; variableValues?: unknown; operationName?: string | null };
  setResultAndStopExecution: (result: { errors: readonly GraphQLError[] }) => void;
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

type RequestParams = { variables: Record<string, unknown>; operationName: string | null };

/** A list argument (e.g. `nodes(ids:)`), written in the document or sent as a variable, holds at most MAX_LIST_ARGUMENT items. */
function listArgumentsRule(variables: Record<string, unknown>): ValidationRule {
  return (context) => ({
    Argument(node) {
      const argument = context.getArgument();
      if (!argument || !isList(argument.type)) return;
      const items =
        node.value.kind === Kind.LIST ? node.value.values.length : node.value.kind === Kind.VARIABLE ? arrayLength(variables[node.value.name.value]) : 0;
      if (items > MAX_LIST_ARGUMENT) {
        context.reportError(new QueryTooComplexError("list argument", MAX_LIST_ARGUMENT, items, null, ` in ${context.getFieldDef()?.name ?? "a field"}(${node.name.value})`));
      }
    },
  });
}

function arrayLength(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

function documentRules(limits: DocumentLimits): ValidationRule[] {
  const refuse = (limit: keyof DocumentLimits) => (context: { reportError(error: GraphQLError): void } | null, error: Error) => {
    const found = /found (\d+)/.exec(error.message)?.[1];
    context?.reportError(tooComplex(limit, limits[limit], found === undefined ? null : Number(found)));
  };
  const armor = (limit: keyof DocumentLimits) => ({ n: limits[limit], propagateOnRejection: false, onReject: [refuse(limit)] });
  return [
    maxDepthRule({ ...armor("maxDepth"), ignoreIntrospection: true, flattenFragments: true }),
    maxAliasesRule(armor("maxAliases")),
    maxDirectivesRule(armor("maxDirectives")),
  ];
}

function costRule(limits: DocumentLimits, request: RequestParams): ValidationRule {
  return createComplexityRule({
    variableValues: request.variables,
    operationName: request.operationName ?? undefined,
    context: {},
    validate: (state, report) => {
      if (state.complexity > limits.maxCost) report(tooComplex("maxCost", limits.maxCost, state.complexity));
    },
  });
}
