/** Pass 1, select: outputs, needed nodes, topological order. */
import { GraphBuilder, GraphError } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { selectOutputs } from "../../src/compile/select.js";

function twoHeads() {
  const g = new GraphBuilder({ dtype: "float64" });
  const x = g.input("x", ["N", 3]);
  const z = g.input("z", ["N", 3]);
  const a = x.exp(); // #2
  g.output("a", a);
  g.output("b", a.add(z)); // #3
  g.output("c", z.neg()); // #4
  return g.build();
}

describe("select", () => {
  test("all outputs by default; the nodes they need in topological order; outputs marked", () => {
    const f = selectOutputs({ graph: twoHeads(), inputShapes: {}, options: {} });
    expect(f.outNames).toEqual(["a", "b", "c"]);
    expect(f.outIds).toEqual([2, 3, 4]);
    expect(f.order).toEqual([0, 2, 1, 3, 4]);
    expect([...f.isOutput]).toEqual([0, 0, 1, 1, 1]);
  });

  test("a subset of outputs needs only its nodes; an unknown output is a GraphError", () => {
    const graph = twoHeads();
    const f = selectOutputs({ graph, inputShapes: {}, options: { outputs: ["a"] } });
    expect(f.order).toEqual([0, 2]);
    expect(() => selectOutputs({ graph, inputShapes: {}, options: { outputs: ["a", "q"] } })).toThrow(
      new GraphError("no output named 'q' (outputs: a, b, c)"),
    );
  });
});
