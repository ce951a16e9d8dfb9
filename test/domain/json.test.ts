// JSON blind to key order: the fingerprint of an idempotent request is its canonical JSON.
import { describe, expect, it } from "vitest";
import { canonicalJson, jsonEqual } from "../../src/domain/json.ts";

describe("canonicalJson", () => {
  it("is the same text whatever the order of keys, at every level", () => {
    const a = { output: { logline: "x", themes: ["a", "b"], cast: [{ name: "M", role: "r" }] }, module: "IDEA_SPARK" };
    const b = { module: "IDEA_SPARK", output: { cast: [{ role: "r", name: "M" }], themes: ["a", "b"], logline: "x" } };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(b)).toBe('{"module":"IDEA_SPARK","output":{"cast":[{"name":"M","role":"r"}],"logline":"x","themes":["a","b"]}}');
  });

  it("keeps the order of arrays", () => {
    expect(canonicalJson({ themes: ["a", "b"] })).not.toBe(canonicalJson({ themes: ["b", "a"] }));
  });

  it("tells different values apart, and agrees with jsonEqual", () => {
    const values = [{ a: 1 }, { a: "1" }, { a: 1, b: null }, { "10": 1, "2": 2, b: 3 }, { b: 3, "2": 2, "10": 1 }, [1, { a: 1 }], null, "a"];
    for (const x of values) {
      for (const y of values) {
        expect(canonicalJson(x) === canonicalJson(y), `${JSON.stringify(x)} / ${JSON.stringify(y)}`).toBe(jsonEqual(x, y));
      }
    }
  });
});
