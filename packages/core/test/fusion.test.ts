import { compile, GraphBuilder, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

describe("elementwise fusion", () => {
  test("single-use chains run as one loop with the same results as unfused", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [3, 4]);
    const b = g.input("b", [4]);
    // sigmoid(x*2 + b) - tanh(x)^2 : x is used twice, so it stays a leaf; the rest fuses
    g.output("y", x.mul(2).add(b).sigmoid().sub(x.tanh().square()));
    const graph = g.build();
    const feeds = {
      x: Tensor.from([
        [1, -2, 3, 0.5],
        [0, 1, -1, 2],
        [4, -4, 0.1, -0.1],
      ]),
      b: Tensor.from([0.1, 0.2, -0.3, 0]),
    };
    const fused = compile(graph).plan({ x: [3, 4], b: [4] });
    const plain = compile(graph, { fuse: false }).plan({ x: [3, 4], b: [4] });
    expect(plain.stats.steps).toBe(6);
    expect(fused.stats.steps).toBe(1);
    expect(fused.stats.fused).toBe(5);
    const a = fused.run(feeds).y!.toArray();
    const r = plain.run(feeds).y!.toArray();
    a.forEach((v, i) => {
      expect(v).toBeCloseTo(r[i]!, 14);
    });
  });

  test("values used twice, outputs and broadcast-expanding producers are not fused away", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2, 3]);
    const c = g.input("c", [3]);
    const e = c.exp(); // [3] feeding a [2,3] add: different size, must keep its own buffer
    const h = x.add(e).named("h");
    g.output("h", h); // an output must keep its own buffer too
    g.output("y", h.tanh());
    const plan = compile(g.build()).plan({ x: [2, 3], c: [3] });
    expect(plan.stats.fused).toBe(0);
    const out = plan.run({
      x: Tensor.from([
        [0, 1, 2],
        [3, 4, 5],
      ]),
      c: Tensor.from([0, 0, 0]),
    });
    expect(out.h!.toArray()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out.y!.get(1, 2)).toBeCloseTo(Math.tanh(6), 14);
  });

  test("checkNumerics turns fusion off so the offending node is named", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2]);
    g.output("y", x.log().named("logx").mul(2).exp());
    const exe = compile(g.build(), { checkNumerics: true });
    expect(() => exe.run({ x: Tensor.from([1, -1]) })).toThrow(/logx/);
  });
});
