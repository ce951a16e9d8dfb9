// /readiness: whether this instance should be sent traffic — it has started, the database answers
// `SELECT 1` in time, every migration is applied, and Redis answers when one is configured. 200
// or 503, with a JSON body that says which check failed and why (no hosts: the endpoint is public).
import { useReadinessCheck, type Plugin } from "graphql-yoga";
import type { Database } from "../database/connect.ts";
import { answerOf, describeDatabaseError, type Startup } from "./startup.ts";

export const READINESS_ENDPOINT = "/readiness";

/** Each check's time limit (give the orchestrator's probe a timeout of 3 s or more). */
const CHECK_TIMEOUT_MS = 2_000;
/** Probes arriving together share one round of checks, and a public endpoint can't make the database work harder than this. */
const CACHE_MS = 1_000;

export type CheckResult = { ok: boolean; detail?: string };
export type Readiness = { ready: boolean; checks: Record<string, CheckResult> };

export type ReadinessSources = {
  db: Database;
  startup: Startup;
  /** PING of the Redis that carries live messages; absent without REDIS_URL */
  redisPing?: ((timeoutMs: number) => Promise<void>) | undefined;
};

export function createReadiness(sources: ReadinessSources): () => Promise<Readiness> {
  let last: { at: number; result: Promise<Readiness> } | null = null;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= CACHE_MS) last = { at: now, result: checkAll(sources) };
    return last.result;
  };
}

async function checkAll({ db, startup, redisPing }: ReadinessSources): Promise<Readiness> {
  const checks: Record<string, CheckResult> = {};
  const waiting = startup.waitingFor();
  checks.startup = waiting === null ? { ok: true } : { ok: false, detail: waiting };
  const [database, redis] = await Promise.all([
    checked(() => answerOf(db), describeDatabaseError),
    redisPing ? checked(() => redisPing(CHECK_TIMEOUT_MS), (error) => (error instanceof Error ? ((error as { code?: string }).code ?? error.message) : String(error))) : null,
  ]);
  checks.database = database;
  // the migrations are read only from a database that answers (else they would say the same again)
  checks.migrations = database.ok
    ? await checked(
        async () => {
          const pending = await db.pendingMigrations();
          if (pending.length > 0) throw new PendingMigrations(`${pending.length} not applied, the last ${pending.at(-1)}`);
        },
        (error) => (error instanceof PendingMigrations ? error.message : describeDatabaseError(error)),
      )
    : { ok: false, detail: "the database does not answer" };
  if (redis) checks.redis = redis;
  return { ready: Object.values(checks).every((check) => check.ok), checks };
}

class PendingMigrations extends Error {}

async function checked(check: () => Promise<unknown>, describe: (error: unknown) => string): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS))),
    ]);
    return { ok: true };
  } catch (error) {
    return { ok: false, detail: error instanceof Error && error.message.startsWith("no answer within") ? error.message : describe(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** yoga's readiness plugin, answering with the checks. */
export function useReadiness(readiness: () => Promise<Readiness>): Plugin {
  return useReadinessCheck({
    endpoint: READINESS_ENDPOINT,
    check: async ({ fetchAPI }) => {
      const result = await readiness();
      return new fetchAPI.Response(JSON.stringify({ status: result.ready ? "ready" : "not ready", checks: result.checks }), {
        status: result.ready ? 200 : 503,
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
      });
    },
  });
}
