// Generates the Prisma client (src/generated/prisma) without Prisma's native engines:
// `prisma generate` never runs the schema engine, but wants its path to name an existing file.
import "../src/requireNode.mjs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL("..", import.meta.url));
const cli = require.resolve("prisma/build/index.js");
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;

const result = spawnSync(process.execPath, [cli, "generate", "--schema", "prisma/schema.prisma"], { cwd: root, env, stdio: "inherit" });
process.exit(result.status ?? 1);
