/**
 * Every op of core's op table, exported and run in ONNX Runtime against gradgraph's own kernels:
 * cases from the op test specs (the same generators the gradient checks use), in float32 and in
 * float64 where ONNX Runtime's CPU provider has the kernels.
 */

import { fcParameters, OP_SPECS, opCaseGraph } from "@gradgraph/autograd/testing";
import {
  castGraph,
  type DType,
  evaluate,
  type Graph,
  GraphBuilder,
  OP_NAMES,
  type OpName,
  ParamStore,
  Tensor,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exportOnnx } from "../src/index.js";
import { maxScaledError, runOrt } from "./helpers/ort.js";

/**
 * Ops whose float64 form ONNX Runtime 1.30's CPU provider cannot run (no float64 kernel for Conv,
 * ConvTranspose or AveragePool, which they export to). The exported models are still valid ONNX; these ops are checked in
 * float32 only.
 */
const NO_FLOAT64_IN_ORT: ReadonlySet<OpName> = new Set<OpName>([
  "conv2d",
  "conv2dTranspose",
  "conv2dBackpropFilter",
  "avgPool2d",
  "avgPool2dBackprop",
]);

/**
 * float32 errors are scaled as |a − e| / (|e| + floor): relative above the floor, absolute below
 * (the op specs keep gelu's inputs where ONNX Runtime's float32 Erf is accurate; see
 * export-special.test.ts for its tail).
 */
const FLOAT32_FLOOR = 1e-6;

/** Exported ops produce the same float32 values to this scaled error. */
const FLOAT32_TOLERANCE = 1e-5;
/** ... and the same float64 values to this one. */
const FLOAT64_TOLERANCE = 1e-12;

function castFeeds(feeds: Readonly<Record<string, Tensor>>, dtype: DType): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.astype(dtype)]));
}

/** Runs one op case in gradgraph and in ONNX Runtime; returns the scaled error of output `y`. */
async function caseError(
  op: OpName,
  c: Parameters<typeof opCaseGraph<OpName>>[1],
  dtype: DType,
): Promise<number> {
  const made = opCaseGraph(op, c);
  const graph: Graph = dtype === "float64" ? made.graph : castGraph(made.graph, dtype);
  const feeds = castFeeds(made.feeds, dtype);
  const params = new ParamStore(made.params.entries().map(([k, v]) => [k, v.astype(dtype)]));
  const ours = evaluate(graph, feeds, { params });
  // float64 compares the unoptimised graph: ONNX Runtime's optimisations may trade exactness
  const theirs = await runOrt(exportOnnx(graph, params, { outputs: ["y"] }), feeds, {
    noOptimize: dtype === "float64",
  });
  const floor = dtype === "float64" ? 1e-300 : FLOAT32_FLOOR;
  return maxScaledError(theirs.y!, ours.y!, floor);
}

describe("every op runs in ONNX Runtime to gradgraph's values", () => {
  for (const op of OP_NAMES) {
    const dtypes: DType[] = NO_FLOAT64_IN_ORT.has(op) ? ["float32"] : ["float32", "float64"];
    it(`${op} (${dtypes.join(", ")})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          OP_SPECS[op].cases as fc.Arbitrary<Parameters<typeof opCaseGraph<OpName>>[1]>,
          async (c) => {
            for (const dtype of dtypes) {
              const err = await caseError(op, c, dtype);
              expect(err, `${op} ${dtype}`).toBeLessThan(
                dtype === "float32" ? FLOAT32_TOLERANCE : FLOAT64_TOLERANCE,
              );
            }
          },
        ),
        fcParameters({ numRuns: 6 }),
      );
    });
  }
});

describe("float32 elementwise exports keep relative accuracy where values are tiny", () => {
  it("sigmoid, tanh and exp over [-20, 20] in steps of 1e-4 are within 1e-6 relative of float64 math", async () => {
    const n = 400_001;
    const xs = new Float32Array(n);
    for (let i = 0; i < n; i++) xs[i] = -20 + (40 * i) / (n - 1);
    const b = new GraphBuilder({ dtype: "float32" });
    const x = b.input("x", [n]);
    b.output("sigmoid", x.sigmoid());
    b.output("tanh", x.tanh());
    b.output("exp", x.exp());
    const out = await runOrt(exportOnnx(b.build(), new ParamStore()), { x: new Tensor([n], xs) });
    const exact = { sigmoid: (v: number) => 1 / (1 + Math.exp(-v)), tanh: Math.tanh, exp: Math.exp };
    for (const [name, f] of Object.entries(exact)) {
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const e = f(xs[i]!);
        // tanh(0) = 0 exactly: compare it absolutely
        worst = Math.max(worst, Math.abs(out[name]!.data[i]! - e) / (e === 0 ? 1 : Math.abs(e)));
      }
      expect(worst, name).toBeLessThan(1e-6);
    }
  });
});
