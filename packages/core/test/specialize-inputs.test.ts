import {
  compile,
  type Graph,
  GraphBuilder,
  GraphError,
  graphToJSON,
  ParamStore,
  parseGraph,
  pruneGraph,
  specializeInputs,
  Tensor,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { Rng, randTensor } from "./helpers/util.js";

/**
 * A dropout followed by a batch-norm-like centring, switched by a scalar `t` input: training
 * draws a mask from the key `k` and centres on the batch mean; evaluation passes `x` through and
 * centres on the running mean `rm`, which an `update:rm` output moves towards the batch mean.
 */
function modeGraph(): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const t = b.input("t", []);
  const k = b.input("k", []);
  const x = b.input("x", ["N", 3]);
  const rm = b.param("rm", [3], { init: { kind: "values", values: [0.5, -1, 2] } });
  const u = b.randomUniform(k, ["N", 3], 7);
  const dropped = b.div(b.mul(x, b.greaterEqual(u, 0.25)), 0.75);
  const y = b.where(t, dropped, x);
  const batchMean = b.mean(y, 0);
  const out = b.where(t, b.sub(y, batchMean), b.sub(y, rm));
  b.output("out", out);
  b.output("update:rm", b.where(t, b.add(b.mul(rm, 0.9), b.mul(batchMean, 0.1)), rm));
  return b.build();
}

const opsOf = (g: Graph) => g.nodes.map((n) => n.op);

function topologicallyOrdered(g: Graph): boolean {
  return g.nodes.every((n, i) => n.id === i && n.inputs.every((j) => j < i));
}

describe("specializeInputs", () => {
  test("evaluation (t = 0): no random numbers, no batch statistics, the key input is gone", () => {
    const g = modeGraph();
    const e = specializeInputs(g, { t: 0 });
    expect(opsOf(e)).not.toContain("randomUniform");
    expect(opsOf(e)).not.toContain("mean");
    expect(opsOf(e)).not.toContain("where");
    expect(Object.keys(e.inputs)).toEqual(["x"]);
    expect(Object.keys(e.outputs)).toEqual(["out", "update:rm"]);
    expect(e.outputs["update:rm"]).toBe(e.params.rm!.node); // the state is left as it is
    expect(topologicallyOrdered(e)).toBe(true);
    expect(parseGraph(graphToJSON(e))).toEqual(e);

    const params = ParamStore.init(g, 0);
    const x = randTensor(new Rng(1), [4, 3]);
    const got = compile(e, { params }).run({ x }).out!.toArray();
    const rm = [0.5, -1, 2];
    expect(got).toEqual(x.toArray().map((v, i) => v - rm[i % 3]!));
  });

  test("training (t = 1): no running-statistics branch, same bits as feeding t = 1", () => {
    const g = modeGraph();
    const s = specializeInputs(g, { t: 1 });
    expect(opsOf(s)).not.toContain("where");
    expect(opsOf(s)).toContain("randomUniform");
    expect(Object.keys(s.inputs).sort()).toEqual(["k", "x"]);
    expect(topologicallyOrdered(s)).toBe(true);
    // the forward output no longer reads the running mean
    const forward = pruneGraph(s, ["out"]);
    expect(Object.keys(forward.params)).toEqual([]);
    expect(opsOf(forward)).toContain("mean");

    const params = ParamStore.init(g, 0);
    const x = randTensor(new Rng(2), [5, 3]);
    const k = Tensor.scalar(12345, "float64");
    const full = compile(g, { params }).run({ x, k, t: Tensor.scalar(1, "float64") });
    const spec = compile(s, { params }).run({ x, k });
    expect(spec.out!.toArray()).toEqual(full.out!.toArray());
    expect(spec["update:rm"]!.toArray()).toEqual(full["update:rm"]!.toArray());
    // and the evaluation specialisation matches t = 0
    const e = compile(specializeInputs(g, { t: 0 }), { params }).run({ x });
    const full0 = compile(g, { params }).run({ x, k, t: Tensor.scalar(0, "float64") });
    expect(e.out!.toArray()).toEqual(full0.out!.toArray());
  });

  test("conditions computed from the fixed input, constant and broadcast branches", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const t = b.input("t", []);
    const x = b.input("x", [2, 3]);
    const row = b.input("row", [3]);
    const on = b.greater(t, 0.5);
    b.output("broadcast", b.where(on, row, x)); // row [3] -> [2, 3]
    b.output("constant", b.where(b.sub(1, on), x, 4)); // 4 -> fill [2, 3]
    b.output("notFixed", b.where(x, row, 0)); // x is not fixed: kept
    const g = b.build();
    const s = specializeInputs(g, { t: 0.75 });
    expect(Object.keys(s.inputs)).toEqual(["x", "row"]);
    const byOut = (name: string) => s.nodes[s.outputs[name]!]!;
    expect(byOut("broadcast").op).toBe("broadcastTo");
    expect(byOut("broadcast").shape).toEqual([2, 3]);
    expect(byOut("constant").op).toBe("fill");
    expect(byOut("constant").attrs).toEqual({ value: 4, shape: [2, 3], dtype: "float64" });
    expect(byOut("notFixed").op).toBe("where");
    expect(topologicallyOrdered(s)).toBe(true);
    const feeds = { x: randTensor(new Rng(3), [2, 3]), row: randTensor(new Rng(4), [3]) };
    const want = compile(g).run({ ...feeds, t: Tensor.scalar(0.75, "float64") });
    const got = compile(s).run(feeds);
    for (const k of ["broadcast", "constant", "notFixed"])
      expect(got[k]!.toArray()).toEqual(want[k]!.toArray());
    // with the other value
    const s0 = specializeInputs(g, { t: 0.25 });
    expect(s0.nodes[s0.outputs.broadcast!]!.op).toBe("input");
    expect(s0.nodes[s0.outputs.constant!]!.op).toBe("input");
  });

  test("bad names, values and symbolic inputs are errors naming the input", () => {
    const g = modeGraph();
    expect(() => specializeInputs(g, { nope: 1 })).toThrow(GraphError);
    expect(() => specializeInputs(g, { nope: 1 })).toThrow(/no input named 'nope' \(inputs: t, k, x\)/);
    expect(() => specializeInputs(g, { x: 1 })).toThrow(/input 'x' has the symbolic shape \[N,3\]/);
    expect(() => specializeInputs(g, { t: "1" as unknown as number })).toThrow(
      /the value of input 't' is 1, not a number/,
    );
  });

  test("no values: the graph pruned to its outputs, computing the same", () => {
    const g = modeGraph();
    expect(specializeInputs(g, {})).toEqual(pruneGraph(g));
  });
});
