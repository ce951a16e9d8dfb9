// The server's log: one line per entry, JSON (LOG_FORMAT=json, the default in production) or
// plain text without colour codes; every entry made while serving a request carries its id.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = Record<LogLevel, (message: string, ...details: unknown[]) => void>;

/** What the log knows of the request being served. */
export type RequestFacts = { readonly requestId: string; operationName: string | null };

const requests = new AsyncLocalStorage<RequestFacts>();

/** Runs `work` as one request: what it logs, and what its unexpected errors answer, carry `requestId`. */
export function withRequestId<T>(requestId: string | null, work: (facts: RequestFacts) => T): T {
  const facts: RequestFacts = { requestId: requestId ?? randomUUID(), operationName: null };
  return requests.run(facts, () => work(facts));
}

export function currentRequestId(): string | null {
  return requests.getStore()?.requestId ?? null;
}

/** Runs `work` as part of a request already under way (e.g. from its response's events, which lose the request's context). */
export function inRequest<T>(facts: RequestFacts, work: () => T): T {
  return requests.run(facts, work);
}

/** The GraphQL operation the current request runs, for its access log line. */
export function noteOperationName(name: string | null | undefined): void {
  const facts = requests.getStore();
  if (facts && name) facts.operationName = name;
}

/** A client's own `x-request-id` is kept when it is short and plain; anything else gets a new one. */
export function requestIdFrom(header: string | string[] | undefined): string | null {
  return typeof header === "string" && /^[\w.:-]{1,100}$/.test(header) ? header : null;
}

/** Facts of an entry that log tools should find as fields: top-level keys in JSON, `key=value` in text. */
export class LogFields {
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  constructor(fields: Record<string, string | number | boolean>) {
    this.fields = fields;
  }
}

export function logFields(fields: Record<string, string | number | boolean>): LogFields {
  return new LogFields(fields);
}

/** What an entry's own keys are called in JSON: fields can't replace them. */
const ENTRY_KEYS = new Set(["time", "level", "msg", "requestId", "details"]);

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(options: { format: "json" | "text"; level?: LogLevel; write?: (line: string) => void }): Logger {
  const threshold = LEVELS[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const entry = (level: LogLevel) => (message: string, ...given: unknown[]) => {
    if (LEVELS[level] < threshold) return;
    const named = given.filter((d): d is LogFields => d instanceof LogFields).flatMap((d) => Object.entries(d.fields));
    const details = given.filter((d) => d !== undefined && !(d instanceof LogFields));
    const requestId = currentRequestId();
    const time = new Date().toISOString();
    if (options.format === "json") {
      const fields: Record<string, unknown> = { time, level, msg: message };
      if (requestId) fields.requestId = requestId;
      for (const [key, value] of named) if (!ENTRY_KEYS.has(key)) fields[key] = SECRET_KEY.test(key) ? "[redacted]" : value;
      if (details.length > 0) fields.details = details.map(serializable);
      write(JSON.stringify(fields));
    } else {
      const pairs = named.map(([key, value]) => `${key}=${SECRET_KEY.test(key) ? "[redacted]" : typeof value === "string" && /[\s"=]/.test(value) ? JSON.stringify(value) : value}`);
      const rest = details.map((d) => (d instanceof Error ? d.stack ?? d.message : typeof d === "string" ? d : JSON.stringify(serializable(d))));
      write([time, level.toUpperCase(), requestId ? `[${requestId}]` : null, message, ...pairs, ...rest].filter(Boolean).join(" "));
    }
  };
  return { debug: entry("debug"), info: entry("info"), warn: entry("warn"), error: entry("error") };
}

const SECRET_KEY = /pass(word)?|token|secret|authorization|api[-_]?key|hash/i;

/** Errors with their stack; objects with anything that looks like a credential replaced. */
function serializable(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }), stack: value.stack };
  }
  if (value === null || typeof value !== "object") return value;
  if (depth > 5) return "[…]";
  if (Array.isArray(value)) return value.map((item) => serializable(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, SECRET_KEY.test(key) ? "[redacted]" : serializable(item, depth + 1)]),
  );
}
