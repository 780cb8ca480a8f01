import { compile, type Graph, GraphBuilder, Rng, setWasmEnabled, wasmBackend } from "@gradgraph/core";
import { afterEach, describe, expect, test } from "vitest";

/** Runs `graph` with the WebAssembly kernels on or off and returns the output values. */
function runWith(wasm: boolean, graph: Graph, feeds: Record<string, Float32Array>): number[] {
  setWasmEnabled(wasm);
  try {
    const exe = compile(graph);
    const shapes = Object.fromEntries(
      Object.entries(graph.inputs).map(([k, id]) => [k, graph.nodes[id]!.shape as number[]]),
    );
    const plan = exe.plan(shapes);
    for (const [k, v] of Object.entries(feeds)) plan.inputs[k]!.data.set(v);
    const out = plan.run().y!.toArray();
    exe.dispose();
    return out;
  } finally {
    setWasmEnabled(true);
  }
}

function special(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  const specials = [0, -0, Number.NaN, 1, -1, 2.5, -3];
  for (let i = 0; i < n; i++)
    a[i] = i % 11 === 0 ? specials[(i / 11) % specials.length]! : rng.uniform(-2, 2);
  return a;
}

describe.skipIf(!wasmBackend())("SIMD elementwise loops", () => {
  afterEach(() => setWasmEnabled(true));

  // shapes chosen so the vector body and the scalar tail both run, flat and per row
  test.each([
    [[7, 13], [13], [7, 1]],
    [[4, 8], [8], [4, 1]],
    [[3], [3], [1]],
    [[2, 5, 6], [6], [2, 5, 1]],
  ])("a fused group over every SIMD op equals the JS loop (x %j, suffix %j, rows %j)", (xs, ss, rs) => {
    const g = new GraphBuilder();
    const x = g.input("x", xs);
    const s = g.input("s", ss);
    const r = g.input("r", rs);
    const c = g.input("c", []);
    const t = g.where(x.greater(c), x.sub(s).mul(r).square(), g.neg(x).abs().sqrt());
    const u = t.maximum(s.div(r.add(3))).minimum(x.relu().add(1));
    const v = g.add(
      u,
      g.add(g.less(x, s), g.add(g.equal(x, r), g.add(g.greaterEqual(x, 0), g.lessEqual(x, 0.5)))),
    );
    g.output("y", v);
    const graph = g.build();
    const rng = new Rng(5);
    const size = (d: readonly number[]) => d.reduce((p, q) => p * q, 1);
    const feeds = {
      x: special(rng, size(xs)),
      s: special(rng, size(ss)),
      r: special(rng, size(rs)),
      c: new Float32Array([0.25]),
    };
    const simd = runWith(true, graph, feeds);
    const js = runWith(false, graph, feeds);
    expect(simd.length).toBe(js.length);
    // same values, NaN where JS gives NaN, and the same signed zeros
    simd.forEach((v2, i) => {
      const ref = js[i]!;
      if (Number.isNaN(ref)) expect(v2).toBeNaN();
      else if (ref === 0) expect(Object.is(v2, ref)).toBe(true);
      else expect(v2).toBeCloseTo(ref, 5);
    });
  });

  test("groups with transcendental ops keep the JavaScript loop and agree", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [5, 9]);
    g.output("y", x.mul(2).exp().add(x.tanh()));
    const graph = g.build();
    const feeds = { x: special(new Rng(2), 45) };
    expect(runWith(true, graph, feeds)).toEqual(runWith(false, graph, feeds));
  });
});
