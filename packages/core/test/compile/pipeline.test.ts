/** The whole pipeline. */
import { defineOp, GraphBuilder, undefineOp, wasmBackend } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { compilePlanForm } from "../../src/compile/pipeline.js";

describe("pipeline", () => {
  test("a kernel that fails to build frees the plan's memory", () => {
    const broken = defineOp({
      name: "test.brokenKernel",
      doc: "Its kernel factory throws.",
      arity: 1,
      shape: ([x]) => x!,
      kernel: () => {
        throw new Error("no kernel for you");
      },
    });
    try {
      const g = new GraphBuilder();
      g.output("y", broken(g, g.input("x", [1000]).exp()));
      const before = wasmBackend()?.bytesInUse ?? 0;
      expect(() => compilePlanForm(g.build(), { x: [1000] }, {})).toThrow("no kernel for you");
      expect(wasmBackend()?.bytesInUse ?? 0).toBe(before);
    } finally {
      undefineOp(broken);
    }
  });
});
