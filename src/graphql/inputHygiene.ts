// One check over every argument of every operation, before any resolver runs: no string may
// hold NUL or a lone surrogate (PostgreSQL cannot store the one, UTF-8 cannot encode the other),
// and no JSON value may nest deeper than the catalogue's limit. Literals in the document are
// checked with validation (the answer depends on the document alone, so it may be cached with
// it); variables at each execution. A refusal is BAD_USER_INPUT naming the argument's path,
// e.g. `input.output.characters.0.name`. The domain checks the same rules again for text that
// arrives otherwise (imports, AI answers).
import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNullableType,
  getOperationAST,
  isInputObjectType,
  isListType,
  isScalarType,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type ValueNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import { LIMITS } from "../domain/catalogue.ts";
import { textProblem } from "../domain/text.ts";

type Path = readonly (string | number)[];
/** Where a value sits: its expected type (null when it does not fit the schema) and, inside JSON, its depth. */
type Place = { type: GraphQLInputType | null; path: Path; jsonDepth: number | null; jsonRoot?: Path };

export function useInputHygiene(): Plugin {
  const refuseVariables = (args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: unknown }) =>
    variablesProblem(args.schema, args.document, args.operationName ?? null, args.variableValues);
  return {
    onParse: () => ({ result, replaceParseResult }) => {
      // graphql-js parses nested values recursively: a document nested thousands deep overflows the stack
      if (result instanceof RangeError) replaceParseResult(refusal([], "the document nests too deeply"));
    },
    onValidate: ({ validateFn, setValidationFn }) => {
      setValidationFn((schema, document, ...rest) => {
        const problem = analyse(schema, document).literalProblem;
        return problem ? [problem] : validateFn(schema, document, ...rest);
      });
    },
    // first among the execution hooks (this plugin comes before the document limits): the cost
    // estimate coerces variables, and would refuse a too-deep one in graphql-js's words
    onExecute: ({ args, setResultAndStopExecution }) => {
      const problem = refuseVariables(args);
      if (problem) setResultAndStopExecution({ errors: [problem] });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const problem = refuseVariables(args);
      if (problem) setResultAndStopExecution({ errors: [problem] });
    },
  };
}

function refusal(path: Path, reason: string): GraphQLError {
  const field = path.join(".");
  return new GraphQLError(field === "" ? reason : `${field}: ${reason}`, { extensions: { code: "BAD_USER_INPUT", ...(field === "" ? {} : { field }) } });
}

const tooDeep = () => `JSON must not nest deeper than ${LIMITS.jsonDepth} levels`;

/** What a document's literals say, and where each variable is used; both depend on the document only. */
type Analysis = { literalProblem: GraphQLError | null; variablePaths: ReadonlyMap<string, Path> };
const analyses = new WeakMap<DocumentNode, Analysis>();

function analyse(schema: GraphQLSchema, document: DocumentNode): Analysis {
  const known = analyses.get(document);
  if (known) return known;
  let literalProblem: GraphQLError | null = null;
  const variablePaths = new Map<string, Path>();
  const typeInfo = new TypeInfo(schema);
  const check = (node: ValueNode, place: Place) => {
    literalProblem ??= literalProblemOf(node, place, variablePaths);
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument: (node) => {
        check(node.value, { type: typeInfo.getArgument()?.type ?? null, path: [node.name.value], jsonDepth: null });
        return false; // its value is walked above
      },
      VariableDefinition: (node) => {
        const type = typeFromAST(schema, node.type as Parameters<typeof typeFromAST>[1]) as GraphQLInputType | undefined;
        if (node.defaultValue) check(node.defaultValue, { type: type ?? null, path: [`$${node.variable.name.value}`], jsonDepth: null });
        return false;
      },
    }),
  );
  const analysis = { literalProblem, variablePaths };
  analyses.set(document, analysis);
  return analysis;
}

/** Walks a literal without recursion; notes the path where each variable is used. */
function literalProblemOf(root: ValueNode, rootPlace: Place, variablePaths: Map<string, Path>): GraphQLError | null {
  const stack: { node: ValueNode; place: Place }[] = [{ node: root, place: rootPlace }];
  while (stack.length > 0) {
    const { node, place } = stack.pop()!;
    switch (node.kind) {
      case Kind.STRING: {
        const problem = textProblem(node.value);
        if (problem !== null) return refusal(place.path, problem);
        break;
      }
      case Kind.VARIABLE:
        if (!variablePaths.has(node.name.value)) variablePaths.set(node.name.value, place.path);
        break;
      case Kind.LIST: {
        const inner = enter(place, null);
        if (inner === "too deep") return refusal(place.jsonRoot ?? place.path, tooDeep());
        node.values.forEach((value, i) => stack.push({ node: value, place: { ...inner(i), path: [...place.path, i] } }));
        break;
      }
      case Kind.OBJECT: {
        const inner = enter(place, "object");
        if (inner === "too deep") return refusal(place.jsonRoot ?? place.path, tooDeep());
        for (const field of node.fields) stack.push({ node: field.value, place: { ...inner(field.name.value), path: [...place.path, field.name.value] } });
        break;
      }
      default:
        break;
    }
  }
  return null;
}

/** Checks a variable's raw value (as the client sent it) against the same rules, without recursion. */
function variablesProblem(schema: GraphQLSchema, document: DocumentNode, operationName: string | null, variables: unknown): GraphQLError | null {
  if (typeof variables !== "object" || variables === null) return null;
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const { variablePaths } = analyse(schema, document);
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (!Object.hasOwn(variables, name)) continue;
    const type = typeFromAST(schema, definition.type as Parameters<typeof typeFromAST>[1]) as GraphQLInputType | undefined;
    const path = variablePaths.get(name) ?? [`$${name}`];
    const problem = valueProblem((variables as Record<string, unknown>)[name], { type: type ?? null, path, jsonDepth: null });
    if (problem) return problem;
  }
  return null;
}

function valueProblem(root: unknown, rootPlace: Place): GraphQLError | null {
  const stack: { value: unknown; place: Place }[] = [{ value: root, place: rootPlace }];
  while (stack.length > 0) {
    const { value, place } = stack.pop()!;
    if (typeof value === "string") {
      const problem = textProblem(value);
      if (problem !== null) return refusal(place.path, problem);
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) {
      const inner = enter(place, null);
      if (inner === "too deep") return refusal(place.jsonRoot ?? place.path, tooDeep());
      value.forEach((item, i) => stack.push({ value: item, place: { ...inner(i), path: [...place.path, i] } }));
      continue;
    }
    const inner = enter(place, "object");
    if (inner === "too deep") return refusal(place.jsonRoot ?? place.path, tooDeep());
    for (const [key, item] of Object.entries(value)) {
      const problem = textProblem(key);
      if (problem !== null) return refusal(place.path, `a key ${problem}`);
      stack.push({ value: item, place: { ...inner(key), path: [...place.path, key] } });
    }
  }
  return null;
}

/**
 * The places inside a list or object at `place`: list items and input-object fields get their
 * types; inside a JSON value every level counts towards the depth limit.
 */
function enter(place: Place, kind: "object" | null): "too deep" | ((key: string | number) => Omit<Place, "path">) {
  let type = place.type === null ? null : getNullableType(place.type);
  // an object where a list is expected is coerced to a list of that one object
  while (kind === "object" && type !== null && isListType(type)) type = getNullableType(type.ofType) as GraphQLInputType;
  const inJson = place.jsonDepth !== null || (type !== null && isScalarType(type) && type.name === "JSON");
  if (inJson) {
    const depth = (place.jsonDepth ?? 0) + 1;
    if (depth > LIMITS.jsonDepth) return "too deep";
    const jsonRoot = place.jsonRoot ?? place.path; // a refusal names the JSON argument, not the path down to its depths
    return () => ({ type: null, jsonDepth: depth, jsonRoot });
  }
  if (type !== null && isListType(type)) return () => ({ type: type.ofType as GraphQLInputType, jsonDepth: null });
  if (kind === "object" && type !== null && isInputObjectType(type)) {
    const fields = type.getFields();
    return (key) => ({ type: fields[String(key)]?.type ?? null, jsonDepth: null });
  }
  // a value that does not fit its type: coercion refuses it later; its strings are still checked here
  return () => ({ type: null, jsonDepth: null });
}
