/**
 * The weight gradient of `x [N, T, D] · W` is `sum(matmul(x, g, {transA}), [0])`, which the
 * compiler runs as one product of the stacked rows (core's batch-summed products): the gradient
 * agrees with the unfused plan and with finite differences.
 */
import { formatGradcheckReport, grad, gradcheck } from "@gradgraph/autograd";
import { compile, GraphBuilder, ParamStore, printPlan, Rng, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

describe("weight gradient of a batched product with a shared matrix", () => {
  test("runs as one product and matches the unfused plan and finite differences", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", ["N", 6, 5]);
    const W = g.param("W", [5, 3]);
    g.output("loss", g.sum(g.square(g.tanh(g.matmul(x, W)))));
    const forward = g.build();
    const tg = grad(forward, "loss", ["W"]);
    const xs = Tensor.zeros([4, 6, 5], "float64");
    new Rng(3).fillUniform(xs.data, -1, 1);
    const params = ParamStore.init(tg, 4);
    const compiled = compile(tg, { params });
    expect(printPlan(compiled.plan({ x: [4, 6, 5] }))).toMatch(/= sum\(.*fuses %\d+/);
    const fused = Array.from(compiled.run({ x: xs })["grad:W"]!.data);
    const plain = Array.from(compile(tg, { params, fuse: false }).run({ x: xs })["grad:W"]!.data);
    expect(fused).toHaveLength(15);
    for (const [i, v] of fused.entries()) expect(v).toBeCloseTo(plain[i]!, 12);
    const report = gradcheck(forward, { x: xs }, { of: "loss", wrt: ["W"], params });
    expect(report.ok, formatGradcheckReport(report)).toBe(true);
  });
});
