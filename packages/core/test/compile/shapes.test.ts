/** Pass 3, concretise shapes. */
import { GraphBuilder, ShapeError } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { bindDims } from "../../src/compile/bind-dims.js";
import { selectOutputs } from "../../src/compile/select.js";
import { concretiseShapes } from "../../src/compile/shapes.js";

describe("concretise shapes", () => {
  test("symbols replaced by their values, sizes computed, concrete shapes used as they are", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", ["N", 3]);
    const c = g.constant([1, 2, 3]);
    g.output("y", x.add(c).sum(1));
    const graph = g.build();
    const f = concretiseShapes(bindDims(selectOutputs({ graph, inputShapes: { x: [4, 3] }, options: {} })));
    expect(f.shapes[x.id]).toEqual([4, 3]);
    expect(f.shapes[graph.outputs.y!]).toEqual([4]);
    expect(f.sizes[x.id]).toBe(12);
    expect(f.sizes[graph.outputs.y!]).toBe(4);
    expect(f.shapes[c.id]).toBe(graph.nodes[c.id]!.shape); // no copy
  });

  test("a symbolic dim no input binds is a ShapeError naming the node", () => {
    const g = new GraphBuilder();
    g.output("y", g.fill(1, ["M", 2]));
    const graph = g.build();
    expect(() => concretiseShapes(bindDims(selectOutputs({ graph, inputShapes: {}, options: {} })))).toThrow(
      new ShapeError("node #0 fill: symbolic dim 'M' is not bound by any fed input"),
    );
  });
});
