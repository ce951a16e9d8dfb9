// PGlite is one process's database: a lock file in the data folder keeps a second
// process (a CLI next to a running server, a second server) from opening it too.
import fs from "node:fs";
import path from "node:path";

export class DataDirInUseError extends Error {}

/** Folders this process holds: a second open in the same process is refused too. */
const heldHere = new Map<string, string>();

export function lockDataDir(dir: string, purpose: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "pglite.lock");
  const holder = heldHere.get(file);
  if (holder) throw new DataDirInUseError(`The embedded database in ${dir} is already open in this process (${holder}).`);
  const claim = JSON.stringify({ pid: process.pid, purpose, since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, claim, { flag: "wx" });
      heldHere.set(file, purpose);
      return () => {
        heldHere.delete(file);
        try {
          if (JSON.parse(fs.readFileSync(file, "utf8")).pid === process.pid) fs.unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readHolder(file);
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new DataDirInUseError(
          `The embedded database in ${dir} is in use by process ${holder.pid} (${holder.purpose}, since ${holder.since}). ` +
            `Stop it first, or point both at PostgreSQL with DATABASE_URL.`,
        );
      }
      fs.rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  throw new DataDirInUseError(`could not lock ${file}`);
}

function readHolder(file: string): { pid: number; purpose: string; since: string } | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
