// How many SQL statements a request costs, its token check included (the database's counter).
import type { TestServer } from "./server.ts";

export async function statementsOf<T>(server: TestServer, send: () => Promise<T>): Promise<{ answer: T; statements: number }> {
  const before = server.db.statements.count;
  const answer = await send();
  return { answer, statements: server.db.statements.count - before };
}
