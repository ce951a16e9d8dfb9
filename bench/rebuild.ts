// Scenario "rebuild": rebuild the read tables from 200,000 events stored in PostgreSQL,
// against a plain SELECT of the same rows through `pg`.
import pg from "pg";
import { openDatabase } from "../src/database/connect.ts";
import { rebuildReadTables } from "../src/projection/rebuild.ts";
import { verifyReadTables } from "../src/projection/verify.ts";
import { createBenchDatabase, fmt, report } from "./lib.ts";
import { random, storyHistory } from "./synthetic.ts";

const STORIES = 2_000;
const EVENTS_PER_STORY = 100;
const INSERT_BATCH = 2_000;

async function main() {
  const database = await createBenchDatabase("rebuild");
  const db = await openDatabase({ databaseUrl: database.url, dataDir: "/tmp", poolSize: 4 });
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const owner = await db.prisma.user.create({ data: { email: "rebuild@bench.example", username: "rebuild", passwordHash: "-" } });
    const next = random(200_000);
    const events = Array.from({ length: STORIES }, () => storyHistory(owner.id, EVENTS_PER_STORY, next)).flat();
    const seedStarted = performance.now();
    for (let i = 0; i < events.length; i += INSERT_BATCH) {
      const rows = events.slice(i, i + INSERT_BATCH);
      await client.query(
        `INSERT INTO story_events (id, story_id, seq, type, schema_version, payload, actor_id, created_at, active_version_number)
         SELECT x.id, x."storyId", x.seq, x.type, x."schemaVersion", x.payload, x."actorId", x."createdAt", x."activeVersionNumber"
           FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, "storyId" uuid, seq int, type text, "schemaVersion" int, payload jsonb,
                "actorId" uuid, "createdAt" timestamptz, "activeVersionNumber" int)`,
        [JSON.stringify(rows)],
      );
    }
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    await client.query("VACUUM ANALYZE story_events");

    // baseline: the same rows, read plainly
    const selectStarted = performance.now();
    const selected = await client.query("SELECT * FROM story_events ORDER BY story_id, seq");
    const selectSeconds = (performance.now() - selectStarted) / 1000;
    const baseline = selected.rowCount! / selectSeconds;

    const rebuildStarted = performance.now();
    const rebuilt = await rebuildReadTables(db);
    const rebuildSeconds = (performance.now() - rebuildStarted) / 1000;
    const perSecond = rebuilt.events / rebuildSeconds;
    const ratio = perSecond / baseline;
    const versions = await db.prisma.storyVersion.count();

    const differences = await verifyReadTables(db);
    await report(
      "rebuild",
      `\`rebuild\` (truncate, then fold and project every story in one transaction) from ${fmt.n(events.length)} events of ${fmt.n(STORIES)} stories stored in PostgreSQL; baseline: a plain \`SELECT * FROM story_events ORDER BY story_id, seq\` of the same rows through \`pg\`.`,
      [
        { metric: "rows/s", value: fmt.n(perSecond), baseline: `${fmt.n(baseline)} rows/s`, ratio: fmt.pct(ratio), target: "≥ 25 %", met: ratio >= 0.25 },
        { metric: "rebuild time", value: `${rebuildSeconds.toFixed(1)} s`, baseline: `${selectSeconds.toFixed(2)} s` },
        { metric: "rows written", value: `${fmt.n(rebuilt.streams)} stories, ${fmt.n(rebuilt.streams * 5)} modules, ${fmt.n(versions)} versions` },
        { metric: "verify after rebuild", value: differences.length === 0 ? "no differences" : `${differences.length} differences` },
        { metric: "seeding the events (not timed above)", value: `${seedSeconds.toFixed(1)} s` },
        { metric: "memory (bench process RSS)", value: fmt.mb(process.memoryUsage().rss / 2 ** 20) },
      ],
    );
  } finally {
    await client.end();
    await db.close();
    await database.drop();
  }
}

await main();
