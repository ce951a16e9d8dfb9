// Fault tests that kill a server connection at a known point: the test holds a row lock, sends a
// request that needs it, and waits until the server's connection is seen waiting for that lock.
import type pg from "pg";

/**
 * The pid of the one backend of the test's database (other than `admin`'s) that waits for a lock,
 * once there is one. Works inside `admin`'s open transaction: PostgreSQL answers pg_stat_activity
 * there from the snapshot the transaction's first read took, so each look clears it first (else a
 * connection opened, or a lock waited for, after that first look would never be seen).
 */
export async function waitForLockedBackend(admin: pg.Client, what = "the lock"): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    await admin.query("SELECT pg_stat_clear_snapshot()");
    const { rows } = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
    );
    if (rows.length === 1) return rows[0]!.pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await admin.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await admin.query(
    "SELECT pid, state, wait_event_type, wait_event, left(query, 160) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
  );
  throw new Error(`no request waited for ${what}; the server's connections: ${JSON.stringify(rows)}`);
}
