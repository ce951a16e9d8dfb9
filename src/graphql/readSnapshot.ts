// One answer, one revision: a query's fields are read by many statements (loaders, resolvers), and
// each query runs them all inside one REPEATABLE READ transaction, so that writers committing
// meanwhile can't make its story and its modules disagree — unless one statement reads all of them
// (the story page, storyPage.ts), which sees one snapshot by itself and needs no transaction.
// Mutations and subscriptions read as before, but a mutation whose answer lost its connection
// answers one error, as a query does.
import { getOperationAST, GraphQLError, Kind, type ExecutionArgs, type ExecutionResult, type OperationDefinitionNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import { isConnectionLost } from "../database/connectionErrors.ts";
import { Prisma } from "../generated/prisma/client.ts";
import { readingThrough, type GraphQLContext } from "./context.ts";
import { DATABASE_CONNECTION_LOST } from "./errors.ts";
import { answerKey, createResponseCache, revisionOf, type ResponseCache } from "./responseCache.ts";
import { readStoryPage, storyPageOf, type StoryPage } from "./storyPage.ts";

/**
 * How long a query waits for its transaction — for a pool connection on PostgreSQL, for the
 * transaction ahead of it on the embedded database, which runs one at a time — before it answers
 * SERVICE_UNAVAILABLE, to be retried: the 5 s a PostgreSQL connection may take (src/database/connect.ts).
 */
const START_WAIT_MS = 5_000;
/**
 * A query still running after this is cut (its unread fields fail) so that it can't hold a pool
 * connection, or the whole embedded database, for longer: the HTTP request limit (src/server/httpLimits.ts).
 */
const QUERY_TIMEOUT_MS = 30_000;

const DATABASE_BUSY = `The database is busy: the request waited ${START_WAIT_MS / 1000} s for it and gave up; it is safe to retry.`;

type TransactionOptions = NonNullable<Parameters<Database["prisma"]["$transaction"]>[1]>;

/**
 * PostgreSQL: REPEATABLE READ, which the adapter sets right after its BEGIN; every statement then
 * reads the snapshot taken at the first. The embedded database runs one transaction at a time:
 * nothing commits during one, whatever its level. Not declared READ ONLY: that costs one more
 * statement per query (about 5 % of a story page's throughput), and resolvers write only through
 * `db`, never through the snapshot.
 */
function snapshotOptions(db: Database): TransactionOptions {
  return {
    maxWait: START_WAIT_MS,
    timeout: QUERY_TIMEOUT_MS,
    ...(db.kind === "postgres" ? { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead } : {}),
  };
}

export function useReadSnapshot(db: Database): Plugin {
  const options = snapshotOptions(db);
  const answers = createResponseCache();
  return {
    onExecute: ({ args, executeFn, setExecuteFn }) => {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation === "mutation") {
        setExecuteFn(async (executionArgs) => oneErrorIfConnectionLost(await executeFn(executionArgs)));
        return;
      }
      if (operation?.operation !== "query" || answeredBySchema(operation)) return;
      const page = storyPageOf(args, operation);
      setExecuteFn((executionArgs) =>
        page ? executeFromOneStatement(answers, page, executionArgs, executeFn) : executeInSnapshot(db, options, executionArgs, executeFn),
      );
    },
  };
}

/** `{ __typename }` and introspection read no table: no transaction for them. */
function answeredBySchema(operation: OperationDefinitionNode): boolean {
  return operation.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith("__"));
}

type Execute = (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;

async function executeInSnapshot(db: Database, options: TransactionOptions, args: ExecutionArgs, execute: Execute): Promise<ExecutionResult> {
  let started = false;
  try {
    return await db.prisma.$transaction(async (tx) => {
      started = true;
      const answer = await execute({ ...args, contextValue: readingThrough(args.contextValue as GraphQLContext, tx) });
      const failed = failedStatementOf(answer);
      if (failed) throw failed; // rolls back, and the answer goes with it
      return answer;
    }, options);
  } catch (error) {
    return failedAnswer(error, started);
  }
}

/**
 * The page's one statement primes the loaders; the resolvers then read nothing more. An answer that
 * depends on the story's revision alone is kept, and given again while a check of the revision (a
 * statement far cheaper than the page's) finds it the same.
 */
async function executeFromOneStatement(answers: ResponseCache, page: StoryPage, args: ExecutionArgs, execute: Execute): Promise<ExecutionResult> {
  const context = args.contextValue as GraphQLContext;
  const key = page.withinRevision ? answerKey(page, args) : null;
  const kept = key === null ? undefined : answers.get(key);
  let revision: number | null;
  try {
    if (kept && (await revisionOf(context.reader, page)) === kept.revision) return kept.answer;
    revision = await readStoryPage(context.reader, context.loaders, page);
  } catch (error) {
    return failedAnswer(error, true);
  }
  const answer = await execute(args);
  // kept under the revision it was read at, whichever the check above found
  if (key !== null && revision !== null && !answer.errors) answers.set(key, revision, answer);
  return answer;
}

/**
 * A mutation whose answer lost its connection while it was read (after the change was made, or
 * before): one SERVICE_UNAVAILABLE, as for a query, rather than an error per field it could not
 * read. Retrying with the same idempotencyKey gives the answer of the change made once.
 */
function oneErrorIfConnectionLost(answer: ExecutionResult): ExecutionResult {
  return answer.errors?.some((error) => isConnectionLost(error.originalError)) ? unavailable(DATABASE_CONNECTION_LOST) : answer;
}

/** A statement, or the transaction itself, failed: nothing read can be trusted, the whole answer is one error. */
function failedAnswer(error: unknown, started: boolean): ExecutionResult {
  if (isConnectionLost(error)) return unavailable(DATABASE_CONNECTION_LOST);
  if (!started && isStartTimeout(error)) return unavailable(DATABASE_BUSY);
  // maskError logs it and answers INTERNAL_SERVER_ERROR, as for any unexpected error
  return { errors: [new GraphQLError("Unexpected error.", { originalError: error instanceof Error ? error : new Error(String(error)) })] };
}

/**
 * The error of a statement that failed, if the answer has one. In an interactive transaction Prisma
 * (7.10) sends the statements of one tick as a batch, and when one of them fails it resolves the
 * rest of the batch to undefined instead of failing them: resolvers then answer from nothing, and
 * not always with an error.
 */
function failedStatementOf(answer: ExecutionResult): Error | undefined {
  return answer.errors?.map((error) => error.originalError).find((error) => isConnectionLost(error) || isPrismaError(error));
}

function isPrismaError(error: unknown): boolean {
  return (
    error instanceof Prisma.PrismaClientKnownRequestError ||
    error instanceof Prisma.PrismaClientUnknownRequestError ||
    error instanceof Prisma.PrismaClientRustPanicError ||
    error instanceof Prisma.PrismaClientInitializationError
  );
}

function unavailable(message: string): ExecutionResult {
  return { errors: [new GraphQLError(message, { extensions: { code: "SERVICE_UNAVAILABLE" } })] };
}

/** Prisma's P2028 when no connection (PostgreSQL) or turn (embedded) came within maxWait. */
function isStartTimeout(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "P2028";
}
