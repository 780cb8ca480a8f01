/** Pass 4, fold constants. */
import { GraphBuilder } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { stages } from "./stages.js";

describe("fold constants", () => {
  test("constants, fills and everything computed only from them are folded; sources never", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [3]);
    const p = g.param("p", [3]);
    const c = g.constant([1, 2, 3]).mul(2).exp(); // constant #2, fill #3, mul #4, exp #5
    const r = c.reshape([3, 1]).reshape([3]); // #6, #7: aliases of folded values are folded too
    g.output("y", x.add(r).mul(p)); // #8, #9
    const graph = g.build();
    const f = stages(graph, { x: [3] }).folded;
    expect([...f.folded]).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(f.foldedCount).toBe(6);
    expect(p.id).toBe(1);
  });
});
