/**
 * Random graphs from the op table (the generator the gradient property tests use, with
 * shrinking), differentiated with `grad`, exported whole (the loss and every gradient) and run in
 * ONNX Runtime: its values must equal gradgraph's.
 */
import { grad } from "@gradgraph/autograd";
import {
  fcParameters,
  type GraphCase,
  RANDOM_GRAPH_OPS,
  type RandomGraphOp,
  randomGraphArb,
  secondOrderCase,
} from "@gradgraph/autograd/testing";
import { castGraph, type DType, evaluate, ParamStore, type Tensor } from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exportOnnx } from "../src/index.js";
import { maxErrorRelativeToScale, runOrt } from "./helpers/ort.js";

/**
 * Random-graph ops whose float64 ONNX form ONNX Runtime's CPU provider cannot run (no float64
 * Conv or AveragePool kernel); float32 covers them.
 */
const NO_FLOAT64: readonly RandomGraphOp[] = ["conv2d", "avgPool2d"];

/**
 * Outputs smaller than this are compared in absolute terms: random graphs' values are O(1), and a
 * gradient that is mathematically zero (softmax's along a constant shift) is rounding noise.
 */
const SCALE_FLOOR = 1e-3;

/**
 * Exports the gradient graph of `c` in `dtype` and runs it in gradgraph and in ONNX Runtime. In
 * float64 the worst error is ONNX Runtime's against gradgraph's; in float32 it is how much further
 * ONNX Runtime's result lies from the float64 values than gradgraph's own float32 result does
 * (float32 gradients are sums whose cancellations, such as tanh's 1 − y², amplify a one-ulp
 * difference between the engines' elementary functions), each
 * relative to the output's largest value.
 */
async function worstError(
  c: GraphCase,
  dtype: DType,
  of = "loss",
): Promise<{ worst: number; output: string }> {
  const g64 = grad(c.graph, of, c.wrt, { prefix: `d${of}/d:` });
  const graph = dtype === "float64" ? g64 : castGraph(g64, dtype);
  const feeds = Object.fromEntries(Object.entries(c.feeds).map(([k, v]) => [k, (v as Tensor).astype(dtype)]));
  const params = new ParamStore(c.params.entries().map(([k, v]) => [k, v.astype(dtype)]));
  const ours = evaluate(graph, feeds, { params });
  const exact = dtype === "float64" ? ours : evaluate(g64, c.feeds, { params: c.params });
  // ONNX Runtime's graph optimisations may trade exactness (one changed a float64 loss by 2e-8
  // relative), so float64 runs compare the unoptimised graph
  const theirs = await runOrt(exportOnnx(graph, params), feeds, { noOptimize: dtype === "float64" });
  let worst = 0;
  let output = "";
  for (const name of Object.keys(ours)) {
    const e =
      dtype === "float64"
        ? maxErrorRelativeToScale(theirs[name]!, ours[name]!, SCALE_FLOOR)
        : maxErrorRelativeToScale(theirs[name]!, exact[name]!, SCALE_FLOOR) -
          4 * maxErrorRelativeToScale(ours[name]!, exact[name]!, SCALE_FLOOR);
    if (!(e <= worst)) [worst, output] = [e, name];
  }
  return { worst, output };
}

describe("random graphs and their gradients run in ONNX Runtime to gradgraph's values", () => {
  it("float64: every output of the gradient graph within 1e-9 of gradgraph's", async () => {
    const ops = RANDOM_GRAPH_OPS.filter((op) => !NO_FLOAT64.includes(op));
    await fc.assert(
      fc.asyncProperty(randomGraphArb({ ops }), async (c) => {
        const { worst, output } = await worstError(c, "float64");
        expect(worst, output).toBeLessThan(1e-9);
      }),
      fcParameters({ numRuns: 25 }),
    );
  });

  it("float32, every random-graph op: every output within 3e-4 of the float64 values, beyond 4x gradgraph's own float32 error", async () => {
    await fc.assert(
      fc.asyncProperty(randomGraphArb(), async (c) => {
        const { worst, output } = await worstError(c, "float32");
        expect(worst, output).toBeLessThan(3e-4);
      }),
      fcParameters({ numRuns: 25 }),
    );
  });

  it("second derivatives: the gradient of a gradient exports too (float64)", async () => {
    const ops = RANDOM_GRAPH_OPS.filter((op) => !NO_FLOAT64.includes(op));
    await fc.assert(
      fc.asyncProperty(randomGraphArb({ ops, maxNodes: 5 }), async (c) => {
        const { worst, output } = await worstError(secondOrderCase(c), "float64", "loss2");
        expect(worst, output).toBeLessThan(1e-9);
      }),
      fcParameters({ numRuns: 10 }),
    );
  });
});
