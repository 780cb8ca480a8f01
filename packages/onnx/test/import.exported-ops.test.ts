/**
 * Every op of core's op table, exported with exportOnnx and imported back with importOnnx: the
 * imported graph computes the original's values (op-spec cases, float32 and float64;
 * the composites of randomUniform (bit for bit), avgPool2dBackprop, conv2dBackpropFilter and
 * the MaxPool-Indices ones come back as those ops).
 */

import { fcParameters, OP_SPECS, opCaseGraph } from "@gradgraph/autograd/testing";
import {
  castGraph,
  type DType,
  evaluate,
  type Graph,
  OP_NAMES,
  type OpName,
  ParamStore,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exportOnnx, importOnnx } from "../src/index.js";
import { maxScaledError } from "./helpers/ort.js";

type OpCase = Parameters<typeof opCaseGraph<OpName>>[1];

/** Ops whose ONNX composite the importer recognises and reads back as the op itself. */
const COMES_BACK_WHOLE: ReadonlySet<OpName> = new Set<OpName>([
  "randomUniform",
  "avgPool2dBackprop",
  "conv2dBackpropFilter",
  "maxPool2dBackprop",
  "maxPool2dGather",
]);

function prepared(op: OpName, c: OpCase, dtype: DType) {
  const made = opCaseGraph(op, c);
  const graph: Graph = dtype === "float64" ? made.graph : castGraph(made.graph, dtype);
  const feeds = Object.fromEntries(Object.entries(made.feeds).map(([k, v]) => [k, v.astype(dtype)]));
  const params = new ParamStore(made.params.entries().map(([k, v]) => [k, v.astype(dtype)]));
  return { graph, feeds, params, bytes: exportOnnx(graph, params, { outputs: ["y"] }) };
}

describe("every exported op imports back to the same values", () => {
  for (const op of OP_NAMES) {
    it(op, () => {
      fc.assert(
        fc.property(OP_SPECS[op].cases as fc.Arbitrary<OpCase>, (c) => {
          for (const dtype of ["float32", "float64"] as const) {
            const { graph, feeds, params, bytes } = prepared(op, c, dtype);
            const m = importOnnx(bytes);
            if (COMES_BACK_WHOLE.has(op)) expect(m.graph.nodes.some((n) => n.op === op)).toBe(true);
            expect(Object.keys(m.graph.inputs).sort()).toEqual(Object.keys(graph.inputs).sort());
            const ours = evaluate(graph, feeds, { params });
            const back = evaluate(m.graph, feeds, { params: m.params });
            expect(back.y!.shape).toEqual(ours.y!.shape);
            const [tol, floor] = dtype === "float32" ? [1e-5, 1e-6] : [1e-12, 1e-300];
            expect(maxScaledError(back.y!, ours.y!, floor), `${op} ${dtype}`).toBeLessThan(tol);
          }
        }),
        fcParameters({ numRuns: 5 }),
      );
    });
  }
});
