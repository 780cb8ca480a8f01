/** Pass 5, fuse elementwise groups. */
import { GraphBuilder, type Value } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { MAX_FUSED } from "../../src/compile/fuse.js";
import { stages } from "./stages.js";

describe("fuse", () => {
  test("a single-use elementwise chain runs inside its last node's loop", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [3, 4]);
    const b = g.input("b", [4]);
    // x is read twice, so it stays a leaf; the mul, the fill 2, the add and sigmoid go into the sub
    const y = x.mul(2).add(b).sigmoid().sub(x.tanh().square());
    g.output("y", y);
    const { fused } = stages(g.build(), { x: [3, 4], b: [4] });
    const group = fused.groups.get(y.id)!;
    expect([...fused.groups.keys()]).toEqual([y.id]);
    expect(group.absorbed).toBe(5); // mul, add, sigmoid, tanh, square (the fill is folded)
    expect(fused.fusedCount).toBe(5);
    expect(group.leaves).toEqual([x.id, 2, b.id]); // x, the folded fill 2 (#2), b: each read once
    expect(group.key).toBe(
      "fused:(((1 / (1 + Math.exp(-((((($0) * ($1))) + ($2))))))) - (((Math.tanh($0)) ** 2)))",
    );
    expect(group.tree).toEqual({
      op: "sub",
      kids: [
        { op: "sigmoid", kids: [{ op: "add", kids: [{ op: "mul", kids: [0, 1] }, 2] }] },
        { op: "square", kids: [{ op: "tanh", kids: [0] }] },
      ],
    });
    expect(group.spec.fn(1, 2, 0.5)).toBeCloseTo(1 / (1 + Math.exp(-2.5)) - Math.tanh(1) ** 2, 14);
    for (const id of [x.id, b.id, y.id]) expect(fused.fusedInto[id]).toBe(-1);
  });

  test("outputs, values read twice and values of another size are not fused away", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2, 3]);
    const c = g.input("c", [3]);
    const e = c.exp(); // [3] read by a [2,3] add: different size
    const h = x.add(e);
    g.output("h", h); // an output keeps its buffer
    g.output("y", h.tanh());
    const twice = x.neg();
    g.output("z", twice.mul(twice));
    const { fused } = stages(g.build(), { x: [2, 3], c: [3] });
    expect(fused.fusedCount).toBe(0);
    expect(fused.groups.size).toBe(0);
  });

  test("groups are capped at MAX_FUSED nodes and groups of one structure share their expression", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    let v: Value = g.input("x", [8]);
    for (let i = 0; i < 3 * MAX_FUSED; i++) v = i % 2 ? v.tanh() : v.neg();
    g.output("y", v);
    const { fused } = stages(g.build(), { x: [8] });
    const groups = [...fused.groups.values()];
    expect(groups.map((gr) => gr.absorbed + 1)).toEqual([MAX_FUSED, MAX_FUSED, MAX_FUSED]);
    expect(groups[1]!.tree).toBe(groups[2]!.tree);
    expect(groups[1]!.spec).toBe(groups[2]!.spec);
    expect(groups[1]!.structure).toBe(groups[2]!.structure);
  });

  test("off with fuse: false and under checkNumerics", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    g.output("y", g.input("x", [2]).exp().neg());
    const graph = g.build();
    for (const options of [{ fuse: false }, { checkNumerics: true }]) {
      const { fused } = stages(graph, { x: [2] }, options);
      expect(fused.fusedCount).toBe(0);
      expect([...fused.fusedInto]).toEqual([-1, -1, -1]);
    }
  });
});
