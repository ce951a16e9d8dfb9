#!/usr/bin/env node
// The package's `bin`: runs the TypeScript CLI through tsx.
import { register } from "tsx/esm/api";

register();
await import("./story-spark.ts");
