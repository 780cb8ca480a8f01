import {
  canGenerateCode,
  describeNode,
  emptyGraph,
  GRAPH_FORMAT,
  GRAPH_VERSION,
  GraphBuilder,
  GraphError,
  generateFunction,
  nodeByRef,
  resolveNode,
  specialize,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";

function graph() {
  const g = new GraphBuilder();
  const x = g.input("x", [2]);
  const W = g.param("W", [2]);
  g.output("y", x.mul(W).named("prod"));
  return g.build();
}

describe("graph helpers", () => {
  test("emptyGraph is frozen and tagged", () => {
    const e = emptyGraph();
    expect(e.format).toBe(GRAPH_FORMAT);
    expect(e.version).toBe(GRAPH_VERSION);
    expect(e.nodes).toEqual([]);
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e.nodes)).toBe(true);
  });

  test("describeNode", () => {
    const gr = graph();
    expect(describeNode(gr.nodes[2]!)).toBe("#2 mul 'prod'");
    expect(describeNode(gr.nodes[0]!)).toBe("#0 input 'x'");
  });

  test("resolveNode and nodeByRef: ids, then output, input and param names", () => {
    const gr = graph();
    expect(resolveNode(gr, 1)).toBe(1);
    expect(resolveNode(gr, "y")).toBe(2);
    expect(resolveNode(gr, "x")).toBe(0);
    expect(resolveNode(gr, "W")).toBe(1);
    expect(nodeByRef(gr, "y").op).toBe("mul");
    expect(() => resolveNode(gr, 3)).toThrow(GraphError);
    expect(() => resolveNode(gr, 3)).toThrow(/no node #3 \(graph has 3 nodes\)/);
    expect(() => resolveNode(gr, -1)).toThrow(/no node #-1/);
    expect(() => resolveNode(gr, "q")).toThrow(
      /no output, input or param named 'q' \(outputs: y; inputs: x; params: W\)/,
    );
    expect(() => resolveNode(gr, "toString")).toThrow(/no output, input or param named 'toString'/);
  });
});

describe("specialize", () => {
  test("code generation works under Node", () => {
    expect(canGenerateCode()).toBe(true);
    expect(generateFunction<(a: number) => number>("function (a) { return a * 2; }", () => () => 0)(4)).toBe(
      8,
    );
  });

  test("one independent copy per dtype, cached per function, same behaviour", () => {
    const f = function sumOf(a: Float64Array | Float32Array): number {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i]!;
      return s;
    };
    const copies = specialize(f);
    expect(copies.float32).not.toBe(copies.float64);
    expect(copies.float32).not.toBe(f);
    expect(specialize(f)).toBe(copies);
    expect(copies.float32(new Float32Array([1, 2, 3]))).toBe(6);
    expect(copies.float64(new Float64Array([0.5, 0.25]))).toBe(0.75);
  });
});
