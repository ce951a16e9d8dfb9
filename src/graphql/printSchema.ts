// Prints the Pothos schema to schema.graphql (sorted). `--check` fails when the file is stale.
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { printSchema } from "graphql";
import { schema } from "./schema/index.ts";

const file = fileURLToPath(new URL("../../schema.graphql", import.meta.url));
const printed = `${printSchema(schema)}\n`;

if (process.argv.includes("--check")) {
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (current !== printed) {
    console.error("schema.graphql is stale: run `npm run schema` and commit it.");
    process.exit(1);
  }
  console.info("schema.graphql is current.");
} else {
  fs.writeFileSync(file, printed);
  console.info(`wrote ${file}`);
}
