#!/usr/bin/env -S node --experimental-strip-types
// The package's `bin`: Node runs the TypeScript CLI as it is, its types stripped.
await import("./story-spark.ts");
