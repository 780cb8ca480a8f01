import { formatGradcheckReport, gradcheck } from "@gradgraph/autograd";
import { fcParameters, tensorArb } from "@gradgraph/autograd/testing";
import {
  evaluate,
  type Graph,
  GraphBuilder,
  ParamStore,
  Rng,
  ShapeError,
  Tensor,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { init } from "../src/init.js";
import {
  ACTIVATIONS,
  type ActivationName,
  activation,
  appendOnes,
  type BiasMode,
  dense,
  denseLayer,
  layersOf,
  mlp,
  weightsOf,
} from "../src/layers.js";

function randTensor(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const t = Tensor.zeros(shape, "float64");
  rng.fillUniform(t.data, -1, 1);
  return t;
}

function transpose2(t: Tensor): Tensor {
  const [r, c] = t.shape as [number, number];
  const out = Tensor.zeros([c, r], "float64");
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = t.data[i * c + j]!;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** `loss = sum(out * r)` with a fixed random cotangent input `r` of out's shape. */
function withProbe(b: GraphBuilder, out: Value): void {
  b.output("out", out);
  const r = b.input("r", out.shape);
  b.output("loss", b.sum(b.mul(out, r)));
}

function expectGradOk(graph: Graph, feeds: Record<string, Tensor>, wrt?: string[]): void {
  const report = gradcheck(graph, feeds, { of: "loss", ...(wrt ? { wrt } : {}) });
  if (!report.ok) throw new Error(formatGradcheckReport(report));
}

describe("activation", () => {
  it("computes each named activation", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [1, 3]);
    for (const a of ACTIVATIONS) b.output(a, activation(b, x, a));
    const out = evaluate(b.build(), { x: Tensor.from([[-1, 0, 2]]) });
    expect(out.identity!.toArray()).toEqual([-1, 0, 2]);
    expect(out.relu!.toArray()).toEqual([0, 0, 2]);
    expect(out.sigmoid!.data[0]).toBeCloseTo(1 / (1 + Math.E), 12);
    expect(out.tanh!.data[2]).toBeCloseTo(Math.tanh(2), 12);
    const e = [Math.exp(-1), 1, Math.exp(2)];
    const s = e[0]! + e[1]! + e[2]!;
    expect(
      maxAbsDiff(
        out.softmax!.data,
        e.map((v) => v / s),
      ),
    ).toBeLessThan(1e-12);
  });

  it("returns the input itself for identity", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 3]);
    expect(activation(b, x, "identity")).toBe(x);
  });
});

describe("appendOnes", () => {
  it("appends or prepends a ones column, with a symbolic batch", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2]);
    const last = appendOnes(b, x);
    const first = appendOnes(b, x, { position: "first" });
    expect(last.shape).toEqual(["N", 3]);
    b.output("last", last);
    b.output("first", first);
    const col = appendOnes(b, b.input("xc", [2, "M"]), { axis: 0 });
    expect(col.shape).toEqual([3, "M"]);
    b.output("col", col);
    const out = evaluate(b.build(), {
      x: Tensor.from([
        [1, 2],
        [3, 4],
      ]),
      xc: Tensor.from([
        [1, 2],
        [3, 4],
      ]),
    });
    expect(out.last!.toNested()).toEqual([
      [1, 2, 1],
      [3, 4, 1],
    ]);
    expect(out.first!.toNested()).toEqual([
      [1, 1, 2],
      [1, 3, 4],
    ]);
    expect(out.col!.toNested()).toEqual([
      [1, 2],
      [3, 4],
      [1, 1],
    ]);
  });
});

describe("dense", () => {
  it("declares <name>/W and <name>/b with the right shapes per convention and layout", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 4]);
    const h = dense(b, x, 3, { name: "row" });
    expect(h.shape).toEqual(["N", 3]);
    dense(b, x, 3, { name: "rowT", weightLayout: "out-in" });
    dense(b, b.input("xc", [4, "N"]), 3, { name: "col", convention: "column" });
    dense(b, x, 3, { name: "ng", bias: "ones-first", weightLayout: "out-in" });
    dense(b, x, 3, { name: "pis", bias: "ones-last" });
    dense(b, x, 3, { name: "nob", bias: false });
    const g = b.build();
    const shapes = Object.fromEntries(Object.entries(g.params).map(([k, p]) => [k, p.shape]));
    expect(shapes).toEqual({
      "row/W": [4, 3],
      "row/b": [3],
      "rowT/W": [3, 4],
      "rowT/b": [3],
      "col/W": [3, 4],
      "col/b": [3, 1],
      "ng/W": [3, 5],
      "pis/W": [5, 3],
      "nob/W": [4, 3],
    });
  });

  it("gives unique default names", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 2]);
    dense(b, dense(b, x, 3), 2);
    expect(layersOf(b).map((l) => l.name)).toEqual(["dense1", "dense2"]);
    expect(Object.keys(b.build().params)).toEqual(["dense1/W", "dense1/b", "dense2/W", "dense2/b"]);
  });

  it("row x·W + b and column W·a + b agree when the weights are transposed", () => {
    const N = 5;
    const b = new GraphBuilder({ dtype: "float64" });
    const xr = b.input("xr", [N, 4]);
    const xc = b.input("xc", [4, N]);
    b.output("row", dense(b, xr, 3, { name: "r", activation: "sigmoid" }));
    b.output("col", dense(b, xc, 3, { name: "c", activation: "sigmoid", convention: "column" }));
    b.output("rowOutIn", dense(b, xr, 3, { name: "ro", activation: "sigmoid", weightLayout: "out-in" }));
    b.output(
      "colInOut",
      dense(b, xc, 3, { name: "ci", activation: "sigmoid", convention: "column", weightLayout: "in-out" }),
    );
    const g = b.build();
    const W = randTensor([4, 3], 1); // [in, out]
    const bias = randTensor([3], 2);
    const params = new ParamStore([
      ["r/W", W],
      ["r/b", bias],
      ["c/W", transpose2(W)],
      ["c/b", bias.reshape([3, 1])],
      ["ro/W", transpose2(W)],
      ["ro/b", bias],
      ["ci/W", W],
      ["ci/b", bias.reshape([3, 1])],
    ]);
    const x = randTensor([N, 4], 3);
    const out = evaluate(g, { xr: x, xc: transpose2(x) }, { params });
    expect(maxAbsDiff(out.row!.data, transpose2(out.col!).data)).toBeLessThan(1e-14);
    expect(maxAbsDiff(out.row!.data, out.rowOutIn!.data)).toBeLessThan(1e-14);
    expect(maxAbsDiff(out.row!.data, transpose2(out.colInOut!).data)).toBeLessThan(1e-14);
  });

  it("softmax in the column convention normalises over the features (axis 0)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    b.output(
      "p",
      dense(b, b.input("x", [2, "N"]), 3, {
        convention: "column",
        activation: "softmax",
        biasInit: init.normal(),
      }),
    );
    const g = b.build();
    const p = evaluate(g, { x: randTensor([2, 4], 5) }, { params: ParamStore.init(g, 0) }).p!;
    for (let j = 0; j < 4; j++) expect(p.data[j]! + p.data[4 + j]! + p.data[8 + j]!).toBeCloseTo(1, 12);
  });

  it("the ones-column bias equals a separate bias stored in W's extra row/column", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    b.output("sep", dense(b, x, 2, { name: "sep" }));
    b.output("ng", dense(b, x, 2, { name: "ng", bias: "ones-first", weightLayout: "out-in" }));
    b.output("pis", dense(b, x, 2, { name: "pis", bias: "ones-last" }));
    const W = randTensor([3, 2], 7);
    const bias = randTensor([2], 8);
    // Ng: Theta [out, in+1] with the bias as column 0
    const theta = Tensor.zeros([2, 4], "float64");
    for (let o = 0; o < 2; o++) {
      theta.data[o * 4] = bias.data[o]!;
      for (let i = 0; i < 3; i++) theta.data[o * 4 + 1 + i] = W.data[i * 2 + o]!;
    }
    // PyImageSearch: W [in+1, out] with the bias as the last row
    const wp = Tensor.zeros([4, 2], "float64");
    wp.data.set(W.data);
    wp.data.set(bias.data, 6);
    const params = new ParamStore([
      ["sep/W", W],
      ["sep/b", bias],
      ["ng/W", theta],
      ["pis/W", wp],
    ]);
    const out = evaluate(b.build(), { x: randTensor([4, 3], 9) }, { params });
    expect(maxAbsDiff(out.sep!.data, out.ng!.data)).toBeLessThan(1e-14);
    expect(maxAbsDiff(out.sep!.data, out.pis!.data)).toBeLessThan(1e-14);
  });

  it("fills fan-in/fan-out of initialisers from the layer, not from the storage layout", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 400]);
    denseLayer(b, x, 25, {
      name: "t1",
      bias: "ones-first",
      weightLayout: "out-in",
      weightInit: init.glorotUniform(),
    });
    denseLayer(b, x, 25, { name: "s", weightInit: init.scaledNormal() });
    denseLayer(b, x, 25, { name: "f", weightInit: init.scaledNormal({ fanIn: 7 }) });
    const g = b.build();
    expect(g.params["t1/W"]!.init).toEqual({ kind: "glorotUniform", fanIn: 400, fanOut: 25 });
    expect(g.params["s/W"]!.init).toEqual({ kind: "scaledNormal", fanIn: 400 });
    expect(g.params["f/W"]!.init).toEqual({ kind: "scaledNormal", fanIn: 7 });
    const p = ParamStore.init(g, 0);
    const eps = Math.sqrt(6 / 425);
    const t = p.get("t1/W").data;
    let max = 0;
    for (const v of t) max = Math.max(max, Math.abs(v));
    expect(max).toBeLessThanOrEqual(eps);
    expect(max).toBeGreaterThan(eps * 0.95);
  });

  it("debugSin fills Ng's Theta column-major with sin(1..n)/10", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    denseLayer(b, b.input("x", ["N", 3]), 5, {
      name: "t",
      bias: "ones-first",
      weightLayout: "out-in",
      weightInit: init.debugSin(),
    });
    const theta = ParamStore.init(b.build(), 0).get("t/W"); // [5, 4]
    expect(theta.shape).toEqual([5, 4]);
    expect(theta.get(0, 0)).toBeCloseTo(Math.sin(1) / 10, 7);
    expect(theta.get(1, 0)).toBeCloseTo(Math.sin(2) / 10, 7);
    expect(theta.get(0, 1)).toBeCloseTo(Math.sin(6) / 10, 7);
  });

  it("shape errors name the layer", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 4]);
    expect(() => dense(b, x, 3, { name: "hidden", inputSize: 5 })).toThrow(
      /dense 'hidden'.*5 input features/,
    );
    expect(() => dense(b, b.input("v", [4]), 3, { name: "flat" })).toThrow(ShapeError);
    expect(() => dense(b, b.input("c", [4, "N"]), 3, { name: "wrongconv" })).toThrow(
      /dense 'wrongconv'.*symbolic/,
    );
    expect(() => mlp(b, x, [5, 3, 2])).toThrow(/mlp: sizes\[0\] is 5/);
    // an op error inside the layer names its scope
    const h = dense(b, x, 3, { name: "ok" });
    expect(() => b.scope("head", () => b.matmul(h, b.input("w", [4, 2])))).toThrow(/head/);
  });
});

describe("mlp", () => {
  it("builds the stack with the requested activations and shapes", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 2]);
    const out = mlp(b, x, [2, 16, 16, 2], { activation: ["relu", "tanh", "softmax"] });
    expect(out.shape).toEqual(["N", 2]);
    expect(out.node.op).toBe("softmax");
    expect(layersOf(b).map((l) => l.output.node.op)).toEqual(["relu", "tanh", "softmax"]);
    const g = b.build();
    expect(Object.entries(g.params).map(([k, p]) => `${k}:${p.shape.join("x")}`)).toEqual([
      "layer1/W:2x16",
      "layer1/b:16",
      "layer2/W:16x16",
      "layer2/b:16",
      "layer3/W:16x2",
      "layer3/b:2",
    ]);
  });

  it("reproduces PyImageSearch's 64-32-16-10 layout with ones on the input only", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 64]);
    const out = mlp(b, x, [64, 32, 16, 10], { bias: "ones-input", weightInit: init.scaledNormal() });
    expect(out.shape).toEqual(["N", 10]);
    const g = b.build();
    expect(Object.entries(g.params).map(([k, p]) => `${k}:${p.shape.join("x")}`)).toEqual([
      "layer1/W:65x33",
      "layer2/W:33x17",
      "layer3/W:17x10",
    ]);
    // randn / sqrt(layers[i]): the nominal width, without the bias column
    expect(Object.values(g.params).map((p) => p.init)).toEqual([
      { kind: "scaledNormal", fanIn: 64 },
      { kind: "scaledNormal", fanIn: 32 },
      { kind: "scaledNormal", fanIn: 16 },
    ]);
  });

  it("reproduces Ng's Theta layout and leaves the bias column out of weightsOf", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 400]);
    mlp(b, x, [400, 25, 10], { bias: "ones-per-layer", weightLayout: "out-in", names: ["Theta1", "Theta2"] });
    const ws = weightsOf(b);
    expect(ws.map((w) => w.shape)).toEqual([
      [25, 400],
      [10, 25],
    ]);
    const g = b.build();
    expect(Object.entries(g.params).map(([k, p]) => `${k}:${p.shape.join("x")}`)).toEqual([
      "Theta1/W:25x401",
      "Theta2/W:10x26",
    ]);
  });

  it("Nielsen's column convention", () => {
    const b = new GraphBuilder();
    const a = b.input("x", [784, "N"]);
    const out = mlp(b, a, [784, 30, 10], {
      convention: "column",
      weightInit: init.normal(),
      biasInit: init.normal(),
    });
    expect(out.shape).toEqual([10, "N"]);
    const g = b.build();
    expect(Object.entries(g.params).map(([k, p]) => `${k}:${p.shape.join("x")}`)).toEqual([
      "layer1/W:30x784",
      "layer1/b:30x1",
      "layer2/W:10x30",
      "layer2/b:10x1",
    ]);
  });

  it("mixes with raw builder ops (a residual connection)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 3]);
    const h = dense(b, x, 3, { activation: "tanh" });
    b.output("y", dense(b, b.add(h, x), 1));
    const g = b.build();
    const out = evaluate(g, { x: randTensor([2, 3], 1) }, { params: ParamStore.init(g, 0) });
    expect(out.y!.shape).toEqual([2, 1]);
  });
});

describe("layer gradients (property: autograd = finite differences)", () => {
  const biasModes: BiasMode[] = [true, false, "ones-first", "ones-last"];
  const acts: ActivationName[] = ["identity", "sigmoid", "tanh", "relu", "softmax"];

  it("dense, every activation, bias mode, convention and layout", () => {
    const caseArb = fc
      .record({
        n: fc.integer({ min: 1, max: 3 }),
        fin: fc.integer({ min: 1, max: 3 }),
        units: fc.integer({ min: 1, max: 3 }),
        act: fc.constantFrom(...acts),
        bias: fc.constantFrom(...biasModes),
        convention: fc.constantFrom("row" as const, "column" as const),
        layout: fc.constantFrom("in-out" as const, "out-in" as const),
        seed: fc.integer({ min: 0, max: 1000 }),
      })
      .chain((c) =>
        fc.record({
          c: fc.constant(c),
          x: tensorArb(c.convention === "row" ? [c.n, c.fin] : [c.fin, c.n], { min: -2, max: 2, avoid: [0] }),
          r: tensorArb(c.convention === "row" ? [c.n, c.units] : [c.units, c.n]),
        }),
      );
    fc.assert(
      fc.property(caseArb, ({ c, x, r }) => {
        const b = new GraphBuilder({ dtype: "float64" });
        const xin = b.input("x", c.convention === "row" ? ["N", c.fin] : [c.fin, "N"]);
        const out = dense(b, xin, c.units, {
          name: "d",
          activation: c.act,
          bias: c.bias,
          convention: c.convention,
          weightLayout: c.layout,
          weightInit: init.normal(),
          biasInit: init.normal({ mean: 0.3 }),
        });
        withProbe(b, out);
        expectGradOk(b.build(), { x, r });
        // the input gradient too
        const b2 = new GraphBuilder({ dtype: "float64" });
        withProbe(
          b2,
          dense(b2, b2.input("x", xin.shape), c.units, {
            name: "d",
            activation: c.act,
            bias: c.bias,
            convention: c.convention,
            weightLayout: c.layout,
            weightInit: init.normal(),
            biasInit: init.normal({ mean: 0.3 }),
          }),
        );
        const report = gradcheck(b2.build(), { x, r }, { of: "loss", wrt: ["x", "d/W"], seed: c.seed });
        if (!report.ok) throw new Error(formatGradcheckReport(report));
      }),
      fcParameters({ numRuns: 40 }),
    );
  });

  it("appendOnes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("first" as const, "last" as const),
        tensorArb([3, 2]),
        tensorArb([3, 3]),
        (position, x, r) => {
          const b = new GraphBuilder({ dtype: "float64" });
          const xin = b.input("x", ["N", 2]);
          withProbe(b, b.tanh(appendOnes(b, xin, { position })));
          expectGradOk(b.build(), { x, r }, ["x"]);
        },
      ),
      fcParameters({ numRuns: 10 }),
    );
  });

  it("activation (each kind)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...acts),
        tensorArb([2, 3], { avoid: [0] }),
        tensorArb([2, 3]),
        fc.constantFrom(0, -1),
        (kind, x, r, axis) => {
          const b = new GraphBuilder({ dtype: "float64" });
          const xin = b.input("x", [2, 3]);
          withProbe(b, activation(b, xin, kind, { axis }));
          expectGradOk(b.build(), { x, r }, ["x"]);
        },
      ),
      fcParameters({ numRuns: 20 }),
    );
  });

  it("mlp stacks, every bias scheme", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("vector" as const, "none" as const, "ones-per-layer" as const, "ones-input" as const),
        fc.constantFrom("row" as const, "column" as const),
        tensorArb([3, 2], { avoid: [0] }),
        fc.integer({ min: 0, max: 100 }),
        (bias, convention, x, seed) => {
          const b = new GraphBuilder({ dtype: "float64" });
          const xin = b.input("x", convention === "row" ? ["N", 2] : [2, "N"]);
          const out = mlp(b, xin, [2, 3, 2], {
            bias,
            convention,
            activation: ["tanh", "sigmoid"],
            weightInit: init.normal(),
            biasInit: init.normal(),
          });
          withProbe(b, out);
          const xs = convention === "row" ? x : transpose2(x);
          const r = randTensor(convention === "row" ? [3, 2] : [2, 3], seed);
          const report = gradcheck(b.build(), { x: xs, r }, { of: "loss", seed });
          if (!report.ok) throw new Error(formatGradcheckReport(report));
        },
      ),
      fcParameters({ numRuns: 16 }),
    );
  });
});
