import {
  compile,
  evaluate,
  FeedError,
  type Graph,
  GraphBuilder,
  GraphError,
  NumericsError,
  ParamStore,
  ShapeError,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { mismatch, referenceRun } from "./helpers/reference.js";
import { Rng, randTensor } from "./helpers/util.js";

function mlp(dtype: "float32" | "float64" = "float64"): Graph {
  const g = new GraphBuilder({ dtype });
  const x = g.input("x", ["N", 4]);
  const W = g.param("W", [4, 3], { init: { kind: "glorotUniform" } });
  const b = g.param("b", [3], { init: { kind: "constant", value: 0.1 } });
  const h = x.matmul(W).add(b).tanh();
  g.output("y", h.sum(1));
  g.output("h", h);
  return g.build();
}

const xs = (n: number, seed = 1) => randTensor(new Rng(seed), [n, 4]);

describe("plans", () => {
  test("one plan per input-shape signature; symbolic batch resolved from feeds", () => {
    const graph = mlp();
    const params = ParamStore.init(graph, 0);
    const exe = compile(graph, { params });
    expect(exe.cachedPlans).toBe(0);
    expect(exe.inputNames).toEqual(["x"]);
    exe.run({ x: xs(2) });
    expect(exe.cachedPlans).toBe(1);
    exe.run({ x: xs(2, 2) });
    expect(exe.cachedPlans).toBe(1);
    const out5 = exe.run({ x: xs(5) });
    expect(exe.cachedPlans).toBe(2);
    expect(out5.y!.shape).toEqual([5]);
    expect(out5.h!.shape).toEqual([5, 3]);
    const out2 = exe.run({ x: xs(2) });
    expect(exe.cachedPlans).toBe(2);
    expect(out2.y!.shape).toEqual([2]);
    const p = exe.plan({ x: [5, 4] });
    expect(p.dims.get("N")).toBe(5);
    expect(exe.plan({ x: [5, 4] })).toBe(p);
    expect(p.outputs).toBe(out5);
  });

  test("a plan disposed on its own leaves the cache: its shapes compile a fresh plan, runs still work", () => {
    const graph = mlp();
    const exe = compile(graph, { params: ParamStore.init(graph, 0) });
    const want = exe.run({ x: xs(3) }).y!.toArray();
    const p = exe.plan({ x: [3, 4] });
    exe.plan({ x: [7, 4] });
    expect(exe.cachedPlans).toBe(2);
    p.dispose();
    expect(exe.cachedPlans).toBe(1);
    expect(() => p.run()).toThrow(/disposed/);
    expect(exe.run({ x: xs(3) }).y!.toArray()).toEqual(want);
    expect(exe.plan({ x: [3, 4] })).not.toBe(p);
    exe.dispose();
    expect(exe.cachedPlans).toBe(0);
  });

  test("outputs are the same Tensor objects across runs, overwritten in place", () => {
    const graph = mlp();
    const params = ParamStore.init(graph, 0);
    const exe = compile(graph, { params });
    const a = exe.run({ x: xs(3, 1) });
    const y1 = a.y!;
    const first = y1.toArray();
    const b = exe.run({ x: xs(3, 2) });
    expect(b).toBe(a);
    expect(b.y).toBe(y1);
    expect(y1.toArray()).not.toEqual(first);
    // evaluate() hands out copies instead
    const e1 = evaluate(graph, { x: xs(3, 1) }, { params });
    expect(e1.y!.toArray()).toEqual(first);
    const e2 = evaluate(graph, { x: xs(3, 2) }, { params });
    expect(e1.y!.toArray()).toEqual(first);
    expect(e2.y).not.toBe(e1.y);
  });

  test("params are read in place: changing the store changes the next result without recompiling", () => {
    const graph = mlp();
    const params = ParamStore.init(graph, 0);
    const exe = compile(graph, { params });
    const x = xs(2);
    const before = exe.run({ x }).y!.toArray();
    params.get("W").data[0] = 3;
    const after = exe.run({ x }).y!.toArray();
    expect(after).not.toEqual(before);
    expect(exe.cachedPlans).toBe(1);
    // ParamStore.set copies into the bound buffer too
    params.set("b", Tensor.from([5, 5, 5]));
    const h = exe.run({ x }).h!.toArray();
    const x0 = x.toArray();
    const W = params.get("W");
    const manual = Math.tanh(
      x0[0]! * W.get(0, 0) + x0[1]! * W.get(1, 0) + x0[2]! * W.get(2, 0) + x0[3]! * W.get(3, 0) + 5,
    );
    expect(h[0]).toBeCloseTo(manual, 12);
    expect(exe.cachedPlans).toBe(1);
  });

  test("plan inputs can be filled directly, and typed arrays / numbers can be fed", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [2, 2]);
    const s = g.input("s", []);
    g.output("y", x.mul(s));
    const exe = compile(g.build());
    const p = exe.plan({ x: [2, 2], s: [] });
    p.inputs.x!.data.set([1, 2, 3, 4]);
    p.inputs.s!.data[0] = 10;
    expect(p.run().y!.toArray()).toEqual([10, 20, 30, 40]);
    expect(exe.run({ x: new Float64Array([1, 1, 2, 2]), s: 3 }).y!.toArray()).toEqual([3, 3, 6, 6]);
    // a feed that already is the plan's buffer is used without a copy
    expect(p.run({ x: p.inputs.x!, s: 1 }).y!.toArray()).toEqual([1, 1, 2, 2]);
  });

  test("a bare typed array can fill a single symbolic dim", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    g.output("y", g.input("x", ["N", 2]).sum(1));
    const exe = compile(g.build());
    expect(exe.run({ x: new Float64Array([1, 2, 3, 4, 5, 6]) }).y!.toArray()).toEqual([3, 7, 11]);
    expect(() => exe.run({ x: new Float64Array([1, 2, 3]) })).toThrow(FeedError);
  });

  test("output selection compiles only what is needed", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const a = g.input("a", [2]);
    const b = g.input("b", [2]);
    g.output("fromA", a.exp());
    g.output("fromB", b.exp());
    const graph = g.build();
    const exe = compile(graph, { outputs: ["fromA"] });
    expect(exe.inputNames).toEqual(["a"]);
    expect(Object.keys(exe.run({ a: Tensor.from([0, 0]) }))).toEqual(["fromA"]);
    expect(() => compile(graph, { outputs: ["nope"] })).toThrow(
      /no output named 'nope' \(outputs: fromA, fromB\)/,
    );
    expect(() => compile(new GraphBuilder().build())).toThrow(/the graph has no outputs to compute/);
  });
});

describe("memory and folding", () => {
  test("liveness-based reuse: a long elementwise chain needs two buffers, not one per node", () => {
    const g = new GraphBuilder();
    let v = g.input("x", [100, 100]);
    // every value is read twice by its consumer, so no step can be fused away: 60 kernel steps
    for (let i = 0; i < 60; i++) v = i % 3 === 0 ? v.maximum(v) : i % 3 === 1 ? v.minimum(v) : v.add(v);
    g.output("y", v);
    const exe = compile(g.build());
    const plan = exe.plan({ x: [100, 100] });
    const n = 100 * 100;
    expect(plan.stats.steps).toBe(60);
    expect(plan.stats.unpooledElements).toBe(59 * n); // the output is pinned, not pooled
    expect(plan.stats.pooledElements).toBeLessThanOrEqual(2 * n);
    expect(plan.stats.pooledElements).toBeLessThan(plan.stats.unpooledElements / 20);
    const x = Tensor.full([100, 100], 1, "float32");
    expect(exe.run({ x }).y!.data[0]).toBe(2 ** 20);
  });

  test("constants and everything computed only from constants are folded", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [3]);
    const c = g.constant([1, 2, 3]).mul(2).add(1).exp().log(); // constant, fill 2, mul, fill 1, add, exp, log
    g.output("y", x.add(c));
    const exe = compile(g.build());
    const plan = exe.plan({ x: [3] });
    expect(plan.stats.folded).toBe(7);
    expect(plan.stats.steps).toBe(1);
    expect(exe.run({ x: Tensor.from([0, 0, 0]) }).y!.toArray()).toEqual(
      [3, 5, 7].map((v) => Math.log(Math.exp(v))),
    );
  });

  test("a graph of constants only runs no steps", () => {
    const g = new GraphBuilder({ dtype: "float64" });
    g.output("y", g.constant([1, 2]).reshape([2, 1]).sum());
    const exe = compile(g.build());
    expect(exe.plan({}).stats.steps).toBe(0);
    expect(exe.run().y!.item()).toBe(3);
  });

  test("random DAGs with fan-out and aliases match the reference (buffer reuse never clobbers live values)", () => {
    for (let seed = 0; seed < 30; seed++) {
      const rng = new Rng(seed);
      const g = new GraphBuilder({ dtype: "float64" });
      const vals: Value[] = [g.input("x", [4, 6]), g.input("z", [4, 6])];
      const pick = () => vals[vals.length - 1 - rng.int(Math.min(vals.length, 6))]!;
      for (let i = 0; i < 40; i++) {
        const k = rng.int(8);
        const a = pick();
        let v: Value;
        if (k === 0) v = a.add(pick());
        else if (k === 1) v = a.mul(pick());
        else if (k === 2) v = a.tanh();
        else if (k === 3)
          v = a.reshape([6, 4]).reshape([4, 6]); // alias of an alias
        else if (k === 4) v = a.stopGradient();
        else if (k === 5) v = a.sub(a.sum(1, true));
        else if (k === 6) v = a.maximum(pick().neg());
        else v = a.transpose().transpose();
        vals.push(v);
      }
      // several outputs, some of them aliases of intermediates that stay in use
      g.output("last", vals.at(-1)!);
      g.output("mid", vals[20]!.reshape([24]));
      g.output("early", vals[5]!);
      const graph = g.build();
      const exe = compile(graph);
      const all = { x: randTensor(rng, [4, 6]), z: randTensor(rng, [4, 6]) };
      const feeds = Object.fromEntries(Object.entries(all).filter(([k]) => exe.inputNames.includes(k)));
      const out = exe.run(feeds);
      const ref = referenceRun(graph, feeds);
      for (const k of ["last", "mid", "early"]) {
        expect(mismatch(out[k]!, ref[k]!, { rtol: 1e-9, atol: 1e-9 }), `seed ${seed} output ${k}`).toBeNull();
      }
    }
  });
});

describe("feed errors", () => {
  const graph = (() => {
    const g = new GraphBuilder();
    const x = g.input("x", ["N", 4]);
    const m = g.input("m", ["N", 1]);
    g.output("y", x.mul(m));
    return g.build();
  })();
  const f32 = (shape: number[]) => Tensor.zeros(shape, "float32");

  test("missing feed", () => {
    const exe = compile(graph);
    expect(() => exe.run({ x: f32([2, 4]) })).toThrow(FeedError);
    expect(() => exe.run({ x: f32([2, 4]) })).toThrow(/missing feed for input 'm' \(declared \[N,1\]\)/);
    exe.run({ x: f32([2, 4]), m: f32([2, 1]) });
    // also once a plan exists
    expect(() => exe.run({ x: f32([2, 4]) })).toThrow(/missing feed for input 'm'/);
  });

  test("unknown feed", () => {
    const exe = compile(graph);
    expect(() => exe.run({ x: f32([2, 4]), m: f32([2, 1]), q: 1 })).toThrow(
      /unknown feed 'q' \(inputs: x, m\)/,
    );
    exe.run({ x: f32([2, 4]), m: f32([2, 1]) });
    expect(() => exe.run({ x: f32([2, 4]), m: f32([2, 1]), q: 1 })).toThrow(/unknown feed 'q'/);
  });

  test("wrong shape names the input, the fed shape and the declared shape", () => {
    const exe = compile(graph);
    const e = (() => {
      try {
        exe.run({ x: f32([2, 5]), m: f32([2, 1]) });
      } catch (err) {
        return err as Error;
      }
      throw new Error("no throw");
    })();
    expect(e).toBeInstanceOf(FeedError);
    expect(e.message).toBe(
      "input 'x': fed shape [2,5] does not match declared [N,4]: dim 1 is 5, expected 4",
    );
    expect(() => exe.run({ x: f32([2, 4, 1]), m: f32([2, 1]) })).toThrow(
      /input 'x': fed shape \[2,4,1\] does not match declared \[N,4\]: rank 3, expected 2/,
    );
    expect(exe.cachedPlans).toBe(0);
  });

  test("wrong dtype", () => {
    const exe = compile(graph);
    expect(() => exe.run({ x: Tensor.zeros([2, 4], "float64"), m: f32([2, 1]) })).toThrow(
      /input 'x': fed float64, expected float32/,
    );
    expect(() => exe.run({ x: new Float64Array(8), m: f32([2, 1]) })).toThrow(FeedError);
    const g = new GraphBuilder();
    g.output("y", g.input("v", [2]).exp());
    expect(() => compile(g.build()).run({ v: new Float64Array(2) })).toThrow(
      /input 'v': fed a Float64Array, expected float32/,
    );
  });

  test("inconsistent symbolic dims across two inputs", () => {
    const exe = compile(graph);
    expect(() => exe.run({ x: f32([2, 4]), m: f32([3, 1]) })).toThrow(
      /input 'm': fed shape \[3,1\] does not match declared \[N,1\]: dim 0 \('N'\) is 3 but 'N' is 2 elsewhere/,
    );
  });

  test("a number fed to a non-scalar input, and unsupported feeds", () => {
    const g = new GraphBuilder();
    const v = g.input("v", [2]);
    g.output("y", v.exp());
    const exe = compile(g.build());
    exe.run({ v: f32([2]) });
    expect(() => exe.run({ v: 3 })).toThrow(/input 'v': a number was fed but the input has shape \[2\]/);
    expect(() => exe.plan({ v: [2] }).run({ v: 3 })).toThrow(
      /input 'v': a number was fed but the input has shape \[2\]/,
    );
    expect(() => exe.run({ v: "x" as never })).toThrow(/unsupported feed/);
  });

  test("a symbolic dim bound by no input", () => {
    const g = new GraphBuilder();
    g.output("y", g.fill(1, ["M", 2]));
    const exe = compile(g.build());
    expect(() => exe.run({})).toThrow(ShapeError);
    expect(() => exe.run({})).toThrow(/node #0 fill: symbolic dim 'M' is not bound by any fed input/);
  });
});

describe("params", () => {
  test("missing ParamStore or missing param", () => {
    const graph = mlp();
    expect(() => compile(graph).run({ x: xs(2) })).toThrow(
      /node #1 param 'W' needs param 'W' but no ParamStore was given/,
    );
    const partial = new ParamStore([["W", Tensor.zeros([4, 3], "float64")]]);
    expect(() => compile(graph, { params: partial }).run({ x: xs(2) })).toThrow(GraphError);
    expect(() => compile(graph, { params: partial }).run({ x: xs(2) })).toThrow(
      /param 'b' \(node #2\) is missing from the ParamStore \(has: W\)/,
    );
  });

  test("a param of the wrong shape or dtype in the store", () => {
    const graph = mlp();
    const store = ParamStore.init(graph);
    const wrong = new ParamStore([
      ["W", Tensor.zeros([3, 4], "float64")],
      ["b", store.get("b")],
    ]);
    expect(() => compile(graph, { params: wrong }).run({ x: xs(2) })).toThrow(
      /param 'W': store holds float64 \[3,4\], graph declares float64 \[4,3\]/,
    );
    const f32 = new ParamStore([
      ["W", Tensor.zeros([4, 3], "float32")],
      ["b", store.get("b")],
    ]);
    expect(() => compile(graph, { params: f32 }).run({ x: xs(2) })).toThrow(
      /store holds float32 \[4,3\], graph declares float64/,
    );
  });
});

describe("numerics check", () => {
  function logGraph(): Graph {
    const g = new GraphBuilder({ dtype: "float64" });
    const x = g.input("x", [3]);
    g.output("y", x.log().named("logx").mul(2).exp());
    return g.build();
  }

  test("names the first node producing NaN", () => {
    const exe = compile(logGraph(), { checkNumerics: true });
    let err: unknown;
    try {
      exe.run({ x: Tensor.from([1, -1, 2]) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NumericsError);
    const ne = err as NumericsError;
    expect(ne.node.op).toBe("log");
    expect(ne.node.id).toBe(1);
    expect(ne.index).toBe(1);
    expect(ne.value).toBeNaN();
    expect(ne.message).toBe("node #1 log 'logx' produced NaN at element 1 (inputs: #0 input 'x')");
  });

  test("names the first node producing Inf", () => {
    const exe = compile(logGraph(), { checkNumerics: true });
    expect(() => exe.run({ x: Tensor.from([1, 0, 2]) })).toThrow(
      /node #1 log 'logx' produced -Infinity at element 1/,
    );
    expect(() => exe.run({ x: Tensor.from([1, 1e200, 1]) })).toThrow(
      /node #4 exp produced Infinity at element 1/,
    );
  });

  test("silent when values are finite, and off by default", () => {
    const checked = compile(logGraph(), { checkNumerics: true });
    expect(checked.run({ x: Tensor.from([1, 2, 3]) }).y!.toArray()[1]).toBeCloseTo(4, 12);
    expect(checked.plan({ x: [3] }).checksNumerics).toBe(true);
    const unchecked = compile(logGraph());
    expect(unchecked.run({ x: Tensor.from([1, -1, 2]) }).y!.toArray()[1]).toBeNaN();
  });
});
