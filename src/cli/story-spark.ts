// The operators' command line: `story-spark <command>`, straight on the configured database.
import { readConfig } from "../config.ts";
import { openDatabase, type Database } from "../database/connect.ts";
import { DataDirInUseError } from "../database/dataDirLock.ts";
import { rebuildReadTables } from "../projection/rebuild.ts";
import { verifyReadTables } from "../projection/verify.ts";
import { progressReporter } from "./progress.ts";

const USAGE = `usage: story-spark <command>

commands:
  verify    replay every story's events and compare with the read tables; exit 1 on any difference
  rebuild   empty the read tables and rebuild them from the event log

The database is DATABASE_URL, or the embedded one in DATA_DIR (default ./.data),
which must not be open in a running server at the same time.`;

const commands: Record<string, (db: Database) => Promise<number>> = {
  async verify(db) {
    const progress = progressReporter("verifying");
    const differences = await verifyReadTables(db, progress);
    progress.finish();
    for (const d of differences) {
      console.log(JSON.stringify(d));
    }
    console.error(differences.length === 0 ? "verify: the read tables equal the fold of the log." : `verify: ${differences.length} difference(s).`);
    return differences.length === 0 ? 0 : 1;
  },
  async rebuild(db) {
    const progress = progressReporter("rebuilding");
    const started = performance.now();
    const done = await rebuildReadTables(db, progress);
    progress.finish();
    console.error(`rebuild: ${done.streams} stories from ${done.events} events in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
    return 0;
  },
};

async function main(argv: string[]): Promise<number> {
  const [name] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    console.error(USAGE);
    return name === undefined || name === "help" || name === "--help" ? 0 : 2;
  }
  const config = readConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, purpose: `story-spark ${name}` });
  try {
    return await command(db);
  } finally {
    await db.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof DataDirInUseError ? error.message : error);
    process.exit(1);
  },
);
