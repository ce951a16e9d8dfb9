// The Prisma CLI's configuration: Prisma 7 reads the schema, the migrations folder and the
// database URL from here. The server never loads it (it runs migrations itself, src/database/).
// `prisma-cli` is the `prisma` package under another name, so a production install leaves it out (README).
import { defineConfig } from "prisma-cli/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  // the CLI migrates and introspects: through the direct connection, never a transaction-mode pooler
  datasource: { url: process.env.DIRECT_URL || process.env.DATABASE_URL },
});
