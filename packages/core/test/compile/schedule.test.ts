/** Pass 6, schedule + liveness. */
import { GraphBuilder } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { stages } from "./stages.js";

describe("schedule + liveness", () => {
  test("one step per node not fused away, with its kind, reads and last reader", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2, 2]); // #0
    const W = g.param("W", [2, 2]); // #1
    const k = g.constant([1, 2, 3, 4]).reshape([2, 2]); // #2, #3: folded
    const m = x.matmul(W); // #4
    const r = m.reshape([4]); // #5 alias
    const t = r.tanh().neg(); // #6 fused into #7
    const s = t.sum(); // #8
    g.output("s", s);
    g.output("mk", m.add(k)); // #9
    const { scheduled } = stages(g.build(), { x: [2, 2] });
    const rows = scheduled.steps.map((st) => [st.index, st.node, st.kind, st.reads, st.output, st.last]);
    // [step, node, kind, reads, output, last reader]; the order is the DFS from the outputs
    expect(rows).toEqual([
      [0, 0, "input", [], false, 2],
      [1, 1, "param", [], false, 2],
      [2, 4, "kernel", [0, 1], false, 8], // the matmul is read by the alias and by the add
      [3, 5, "alias", [4], false, 4],
      [4, 7, "kernel", [5], false, 5], // tanh and neg: one loop reading the alias
      [5, 8, "kernel", [7], true, Number.POSITIVE_INFINITY],
      [6, 2, "folded", [], false, 7],
      [7, 3, "folded", [2], false, 8], // a reshape of a folded value is folded (a copy, once)
      [8, 9, "kernel", [4, 3], true, Number.POSITIVE_INFINITY],
    ]);
    expect(s.id).toBe(8);
    expect(t.id).toBe(7);
    expect(k.id).toBe(3);
  });
});
