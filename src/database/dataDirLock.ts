// PGlite is one process's database: a lock file in the data folder keeps a second
// process (a CLI next to a running server, a second server) from opening it too.
import fs from "node:fs";
import path from "node:path";

export class DataDirInUseError extends Error {}

/** Folders this process holds: a second open in the same process is refused too. */
const heldHere = new Map<string, string>();

/**
 * Who holds the folder. `started` is the kernel's start time of the holder (Linux), because a
 * pid alone outlives its process: after a crash and a restart (a container's pids start over)
 * the pid in a lock left behind may belong to another, live process.
 */
type Claim = { pid: number; purpose: string; since: string; started?: string | null };

export function lockDataDir(dir: string, purpose: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "pglite.lock");
  const holder = heldHere.get(file);
  if (holder) throw new DataDirInUseError(`The embedded database in ${dir} is already open in this process (${holder}).`);
  const claim = JSON.stringify({ pid: process.pid, purpose, since: new Date().toISOString(), started: processState(process.pid)?.started ?? null } satisfies Claim);
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
      if (holder && holder.pid !== process.pid && isRunning(holder)) {
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

function readHolder(file: string): Claim | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

function isRunning(holder: Claim): boolean {
  if (!hasProcFs) return signalReaches(holder.pid);
  const state = processState(holder.pid);
  if (!state) return false;
  // a process killed with SIGKILL stays a zombie until its parent reaps it (a second or more
  // under some init processes, for ever under one that never does), but it holds nothing
  if (state.state === "Z" || state.state === "X") return false;
  return !holder.started || holder.started === state.started;
}

const hasProcFs = fs.existsSync("/proc/self/stat");

/** A process's state letter and start time, from /proc (Linux); null when there is no such process. */
function processState(pid: number): { state: string; started: string } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // "pid (command) state ppid …": the command may hold spaces and parentheses; the start time is field 22
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, started: fields[19]! };
}

function signalReaches(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
