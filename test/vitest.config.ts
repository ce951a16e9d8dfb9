import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  // Node loads graphql's CommonJS build for the libraries; our code must share that one instance.
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    root: new URL("..", import.meta.url).pathname,
    // generous: some tests start CLI or server processes, slow on a busy 2-core machine
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    projects: [
      // The story's rules first: pure specifications of decide and evolve, done in milliseconds,
      // so a broken rule shows before any server starts.
      { extends: true, test: { name: "rules", include: ["test/domain/**/*.test.ts"], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: "api",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "test/domain/**"],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
