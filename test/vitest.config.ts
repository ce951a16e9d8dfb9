import { defineConfig } from "vitest/config";

export default defineConfig({
  // Node loads graphql's CommonJS build for the libraries; our code must share that one instance.
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    root: new URL("..", import.meta.url).pathname,
    include: ["test/**/*.test.ts"],
    // generous: some tests start CLI or server processes, slow on a busy 2-core machine
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
