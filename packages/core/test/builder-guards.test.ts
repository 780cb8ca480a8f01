import { GraphBuilder, GraphError, ShapeError } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

describe("builder guards", () => {
  test("logSumExp over non-contiguous axes is rejected when the node is made", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2, 3, 4]);
    expect(() => g.logSumExp(x, [0, 2])).toThrow(ShapeError);
    expect(() => g.logSumExp(x, [0, 2])).toThrow(
      /logSumExp at node #1: axes \[0,2\] of \[2,3,4\] are not contiguous/,
    );
    expect(g.logSumExp(x, [1, 2]).shape).toEqual([2]);
  });

  test("inputs and params can only be declared through input() and param()", () => {
    const g = new GraphBuilder();
    expect(() => g.op("input", [], { name: "x", shape: [2], dtype: "float32" })).toThrow(GraphError);
    expect(() => g.op("param", [], { name: "w", shape: [2], dtype: "float32" })).toThrow(
      /use GraphBuilder.param\(\)/,
    );
    const x = g.input("x", [2]);
    const w = g.param("w", [2]);
    g.output("y", x.mul(w));
    const graph = g.build();
    expect(Object.keys(graph.inputs)).toEqual(["x"]);
    expect(Object.keys(graph.params)).toEqual(["w"]);
  });
});
