import {
  castGraph,
  compile,
  type Graph,
  GraphBuilder,
  GraphError,
  graphToJSON,
  ParamStore,
  parseGraph,
  pruneGraph,
  Tensor,
  withOutputs,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { Rng, randTensor } from "./helpers/util.js";

function twoHeads(): Graph {
  const g = new GraphBuilder();
  const x = g.input("x", ["N", 3]);
  const z = g.input("z", ["N", 2]);
  const W = g.param("W", [3, 2], { init: { kind: "glorotUniform" } });
  const V = g.param("V", [2, 2], { init: { kind: "normal" } });
  const a = x
    .matmul(W)
    .add(g.constant([0.5, -0.5]))
    .tanh()
    .named("a");
  const b = z.matmul(V).sigmoid();
  g.output("a", a.softmax());
  g.output("b", b);
  g.output("ab", a.mul(b).sum());
  return g.build();
}

describe("castGraph", () => {
  test("float32 -> float64 casts every node, attr and param, and gives close results", () => {
    const g32 = twoHeads();
    const g64 = castGraph(g32, "float64");
    expect(g64.nodes.every((n) => n.dtype === "float64")).toBe(true);
    for (const n of g64.nodes) {
      const d = (n.attrs as { dtype?: string }).dtype;
      if (d !== undefined) expect(d).toBe("float64");
    }
    expect(Object.values(g64.params).every((p) => p.dtype === "float64")).toBe(true);
    expect(g32.nodes.every((n) => n.dtype === "float32")).toBe(true); // original untouched
    expect(Object.isFrozen(g64.nodes[0])).toBe(true);
    expect(parseGraph(graphToJSON(g64))).toEqual(g64); // still a valid graph

    const p32 = ParamStore.init(g32, 4);
    const p64 = new ParamStore(p32.entries().map(([k, t]) => [k, t.astype("float64")]));
    const rng = new Rng(8);
    const x = randTensor(rng, [5, 3]);
    const z = randTensor(rng, [5, 2]);
    const o32 = compile(g32, { params: p32 }).run({ x: x.astype("float32"), z: z.astype("float32") });
    const o64 = compile(g64, { params: p64 }).run({ x, z });
    for (const k of ["a", "b", "ab"]) {
      expect(o64[k]!.dtype).toBe("float64");
      expect(o32[k]!.dtype).toBe("float32");
      const a = o32[k]!.toArray();
      o64[k]!.toArray().forEach((v, i) => {
        expect(Math.abs(v - a[i]!)).toBeLessThan(1e-5);
      });
    }
  });

  test("casting to the graph's own dtype changes nothing", () => {
    const g = twoHeads();
    expect(castGraph(g, "float32")).toBe(g);
    const back = castGraph(castGraph(g, "float64"), "float32");
    expect(back).toEqual(g);
  });
});

describe("pruneGraph", () => {
  test("drops unused nodes, inputs and params; renumbers; stays valid and computes the same", () => {
    const g = twoHeads();
    const p = pruneGraph(g, ["a"]);
    expect(Object.keys(p.outputs)).toEqual(["a"]);
    expect(Object.keys(p.inputs)).toEqual(["x"]);
    expect(Object.keys(p.params)).toEqual(["W"]);
    expect(p.nodes.map((n) => n.op)).toEqual([
      "input",
      "param",
      "matmul",
      "constant",
      "add",
      "tanh",
      "softmax",
    ]);
    expect(p.nodes.map((n) => n.id)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(p.nodes.find((n) => n.op === "tanh")!.name).toBe("a");
    expect(p.params.W!.node).toBe(1);
    expect(p.params.W!.init).toEqual({ kind: "glorotUniform" });
    expect(parseGraph(graphToJSON(p))).toEqual(p); // tables and ids are consistent

    const params = ParamStore.init(g, 2);
    const x = randTensor(new Rng(3), [4, 3]).astype("float32");
    const z = Tensor.zeros([4, 2]);
    const full = compile(g, { params }).run({ x, z }).a!.toArray();
    expect(compile(p, { params }).run({ x }).a!.toArray()).toEqual(full);
  });

  test("keeps everything by default and rejects unknown outputs", () => {
    const g = twoHeads();
    const p = pruneGraph(g);
    expect(p.nodes.length).toBe(g.nodes.length);
    expect(p).toEqual(g);
    expect(() => pruneGraph(g, ["nope"])).toThrow(GraphError);
    expect(() => pruneGraph(g, ["nope"])).toThrow(/no output named 'nope'/);
  });

  test("removes dead nodes between live ones", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2]);
    x.exp(); // dead
    const unusedInput = g.input("u", [2]);
    unusedInput.neg(); // dead
    g.param("P", [2]); // unused param
    g.output("y", x.tanh());
    const p = pruneGraph(g.build());
    expect(p.nodes.map((n) => n.op)).toEqual(["input", "tanh"]);
    expect(p.nodes[1]!.inputs).toEqual([0]);
    expect(p.inputs).toEqual({ x: 0 });
    expect(p.params).toEqual({});
    expect(p.outputs).toEqual({ y: 1 });
  });
});

describe("withOutputs", () => {
  test("replaces the outputs by node id or existing output name, sharing nodes", () => {
    const g = twoHeads();
    const tanhId = g.nodes.findIndex((n) => n.op === "tanh");
    const w = withOutputs(g, { hidden: tanhId, prob: "b" });
    expect(w.outputs).toEqual({ hidden: tanhId, prob: g.outputs.b });
    expect(w.nodes).toBe(g.nodes);
    expect(Object.keys(g.outputs)).toEqual(["a", "b", "ab"]);
    expect(Object.isFrozen(w.outputs)).toBe(true);
    const params = ParamStore.init(g, 0);
    const out = compile(w, { params }).run({ x: Tensor.zeros([1, 3]), z: Tensor.zeros([1, 2]) });
    expect(out.hidden!.toArray().map((v) => Number(v.toFixed(6)))).toEqual([0.462117, -0.462117]);
    expect(out.prob!.toArray()).toEqual([0.5, 0.5]);
  });

  test("rejects unknown references", () => {
    const g = twoHeads();
    expect(() => withOutputs(g, { q: 999 })).toThrow(/output 'q': no node 999/);
    expect(() => withOutputs(g, { q: "nope" })).toThrow(/output 'q': no node "nope"/);
  });
});
