// Counts the SQL statements Prisma sends through a driver adapter, transactions included.
import type { SqlDriverAdapter, SqlDriverAdapterFactory, Transaction } from "@prisma/driver-adapter-utils";

export type StatementCounter = { count: number };

export function countStatements(factory: SqlDriverAdapterFactory, counter: StatementCounter): SqlDriverAdapterFactory {
  return new Proxy(factory, {
    get(target, prop, receiver) {
      if (prop === "connect") {
        return async () => countOn(await target.connect(), counter);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

function countOn<T extends SqlDriverAdapter | Transaction>(queryable: T, counter: StatementCounter): T {
  return new Proxy(queryable, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      switch (prop) {
        case "commit":
        case "rollback":
          // Prisma sends COMMIT/ROLLBACK itself unless the adapter asks for phantom queries,
          // in which case the adapter's own call is the statement.
          if (!(target as Transaction).options?.usePhantomQuery) return value.bind(target);
          return (...args: unknown[]) => {
            counter.count++;
            return value.apply(target, args);
          };
        case "queryRaw":
        case "executeRaw":
          return (...args: unknown[]) => {
            counter.count++;
            return value.apply(target, args);
          };
        case "startTransaction": // BEGIN
          return async (...args: unknown[]) => {
            counter.count++;
            return countOn(await value.apply(target, args), counter);
          };
        default:
          return value.bind(target);
      }
    },
  });
}
