/**
 * Derivatives of the convolution and pooling ops:
 * - every attribute combination of issue 12 (stride 1 and 2, asymmetric padding, dilation 2,
 *   groups 1, 2 and depthwise, 1x1 kernels, non-square images): VJPs against central finite
 *   differences (float64) and JVPs against VJPs and finite differences, for conv2d (input and
 *   weights), conv2dTranspose, conv2dBackpropFilter, max and average pooling and their gradient ops;
 * - second order on a small CNN (conv -> tanh -> avgPool -> grouped conv -> tanh -> maxPool ->
 *   dense -> softmax cross-entropy, with a conv2dTranspose branch): Hessian-vector products by
 *   reverse-over-reverse, forward-over-reverse and finite differences of the gradient, gradgradcheck,
 *   and JVP/VJP consistency on the network and its gradient graph;
 * - the float32 fast path (WebAssembly kernels, params in the arena) against float64 for
 *   gradients, on random convolution problems, within the float32 summation bound.
 */
import {
  castGraph,
  compile,
  type Graph,
  GraphBuilder,
  type OpName,
  ParamStore,
  Rng,
  Tensor,
  type Value,
  wasmBackend,
} from "@gradgraph/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatGradcheckReport,
  grad,
  gradcheck,
  gradgradcheck,
  gradName,
  hvp,
  hvpName,
  VJP,
  type VjpFn,
} from "../src/index.js";
import {
  type ConvProblem,
  checkJvpVjpConsistency,
  checkOpCase,
  checkOpJvpCase,
  convProblemArb,
  fcParameters,
  type OpArg,
  type OpTestCase,
} from "../src/testing/index.js";

/** A float64 tensor of uniform values in [-1, 1). */
function rand(rng: Rng, shape: readonly number[]): Tensor {
  const t = Tensor.zeros(shape, "float64");
  rng.fillUniform(t.data, -1, 1);
  return t;
}

/** A float64 tensor of pairwise distinct values (a shuffled grid, spacing 0.05): no max-pooling ties. */
function distinct(rng: Rng, shape: readonly number[]): Tensor {
  const t = Tensor.zeros(shape, "float64");
  const n = t.size;
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  order.forEach((k, i) => {
    t.data[i] = (k - n / 2) * 0.05;
  });
  return t;
}

const fd = (value: Tensor): OpArg => ({ value, grad: "fd" });
const zero = (value: Tensor): OpArg => ({ value, grad: "zero" });

interface ConvCombo {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  strides: [number, number];
  padding: [number, number, number, number];
  dilations: [number, number];
  groups: number;
}

/** The attribute combinations of issue 12, each on its own and mixed. */
const CONV_COMBOS: ConvCombo[] = [
  {
    name: "plain 3x3",
    x: [2, 3, 5, 5],
    w: [2, 3, 3, 3],
    strides: [1, 1],
    padding: [0, 0, 0, 0],
    dilations: [1, 1],
    groups: 1,
  },
  {
    name: "stride 2",
    x: [1, 2, 7, 7],
    w: [3, 2, 3, 3],
    strides: [2, 2],
    padding: [1, 1, 1, 1],
    dilations: [1, 1],
    groups: 1,
  },
  {
    name: "asymmetric padding, non-square",
    x: [1, 2, 4, 7],
    w: [2, 2, 3, 2],
    strides: [1, 1],
    padding: [2, 0, 1, 3],
    dilations: [1, 1],
    groups: 1,
  },
  {
    name: "dilation 2",
    x: [1, 2, 7, 6],
    w: [2, 2, 3, 3],
    strides: [1, 1],
    padding: [1, 2, 0, 1],
    dilations: [2, 2],
    groups: 1,
  },
  {
    name: "groups 2",
    x: [2, 4, 5, 4],
    w: [4, 2, 3, 2],
    strides: [1, 2],
    padding: [1, 0, 0, 1],
    dilations: [1, 1],
    groups: 2,
  },
  {
    name: "depthwise (multiplier 2)",
    x: [1, 3, 6, 5],
    w: [6, 1, 3, 3],
    strides: [1, 1],
    padding: [1, 1, 1, 1],
    dilations: [2, 1],
    groups: 3,
  },
  {
    name: "1x1 kernel, stride 2",
    x: [2, 3, 5, 6],
    w: [4, 3, 1, 1],
    strides: [2, 2],
    padding: [0, 0, 0, 0],
    dilations: [1, 1],
    groups: 1,
  },
  {
    name: "1x1 kernel, padded, groups 2",
    x: [1, 4, 3, 4],
    w: [2, 2, 1, 1],
    strides: [1, 1],
    padding: [1, 0, 0, 1],
    dilations: [1, 1],
    groups: 2,
  },
  {
    name: "mixed: stride 2, dilation 2, groups 2, asymmetric, non-square",
    x: [2, 4, 7, 9],
    w: [6, 2, 2, 3],
    strides: [2, 1],
    padding: [0, 1, 2, 0],
    dilations: [2, 2],
    groups: 2,
  },
  {
    name: "padding wider than the kernel",
    x: [1, 1, 3, 2],
    w: [2, 1, 2, 2],
    strides: [2, 1],
    padding: [3, 2, 1, 3],
    dilations: [1, 1],
    groups: 1,
  },
];

const outLen = (size: number, k: number, s: number, d: number, p0: number, p1: number) =>
  Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;

function convOut(c: ConvCombo): [number, number, number, number] {
  return [
    c.x[0],
    c.w[0],
    outLen(c.x[2], c.w[2], c.strides[0], c.dilations[0], c.padding[0], c.padding[1]),
    outLen(c.x[3], c.w[3], c.strides[1], c.dilations[1], c.padding[2], c.padding[3]),
  ];
}

const attrsOf = (c: ConvCombo) => ({
  strides: c.strides,
  padding: c.padding,
  dilations: c.dilations,
  groups: c.groups,
});

/** Checks one op case's VJP (finite differences, exact zeros) and JVP (against the VJP and finite differences). */
function checkBoth(op: OpName, c: OpTestCase<object>): void {
  const r = checkOpCase(op, c as never);
  expect(r.ok, r.message).toBe(true);
  const j = checkOpJvpCase(op, c as never, { seed: 3 });
  expect(j.ok, j.message).toBe(true);
}

describe("convolution derivatives for every attribute combination (float64)", () => {
  it.each(CONV_COMBOS.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const rng = new Rng(c.x.concat(c.w).reduce((h, v) => h * 31 + v, 7) >>> 0);
    const y = convOut(c);
    expect(y[2] >= 1 && y[3] >= 1).toBe(true);
    const a = attrsOf(c);
    checkBoth("conv2d", { args: [fd(rand(rng, c.x)), { ...fd(rand(rng, c.w)), source: "param" }], attrs: a });
    checkBoth("conv2dTranspose", {
      args: [fd(rand(rng, y)), fd(rand(rng, c.w))],
      attrs: { ...a, outputSize: [c.x[2], c.x[3]] },
    });
    checkBoth("conv2dBackpropFilter", {
      args: [fd(rand(rng, c.x)), fd(rand(rng, y))],
      attrs: { ...a, kernelSize: [c.w[2], c.w[3]] },
    });
  });
});

interface PoolCombo {
  name: string;
  x: [number, number, number, number];
  kernelSize: [number, number];
  strides: [number, number];
  padding: [number, number, number, number];
}

const POOL_COMBOS: PoolCombo[] = [
  { name: "2x2 stride 2", x: [2, 2, 4, 6], kernelSize: [2, 2], strides: [2, 2], padding: [0, 0, 0, 0] },
  {
    name: "3x3 stride 1, padded (overlapping windows)",
    x: [1, 2, 5, 4],
    kernelSize: [3, 3],
    strides: [1, 1],
    padding: [1, 1, 1, 1],
  },
  {
    name: "3x2 stride [2, 1], asymmetric padding, non-square",
    x: [1, 3, 7, 5],
    kernelSize: [3, 2],
    strides: [2, 1],
    padding: [2, 0, 0, 1],
  },
  {
    name: "1x1 window stride 2 (subsampling)",
    x: [2, 1, 5, 5],
    kernelSize: [1, 1],
    strides: [2, 2],
    padding: [0, 0, 0, 0],
  },
  {
    name: "2x3 window stride 3 (gaps)",
    x: [1, 2, 6, 8],
    kernelSize: [2, 3],
    strides: [3, 3],
    padding: [1, 0, 1, 2],
  },
];

describe("pooling derivatives for every attribute combination (float64)", () => {
  it.each(POOL_COMBOS.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const rng = new Rng(c.x.concat(c.kernelSize).reduce((h, v) => h * 31 + v, 11) >>> 0);
    const a = { kernelSize: c.kernelSize, strides: c.strides, padding: c.padding };
    const y: [number, number, number, number] = [
      c.x[0],
      c.x[1],
      outLen(c.x[2], c.kernelSize[0], c.strides[0], 1, c.padding[0], c.padding[1]),
      outLen(c.x[3], c.kernelSize[1], c.strides[1], 1, c.padding[2], c.padding[3]),
    ];
    checkBoth("maxPool2d", { args: [fd(distinct(rng, c.x))], attrs: a });
    checkBoth("avgPool2d", { args: [fd(rand(rng, c.x))], attrs: a });
    checkBoth("maxPool2dBackprop", { args: [zero(distinct(rng, c.x)), fd(rand(rng, y))], attrs: a });
    checkBoth("maxPool2dGather", { args: [zero(distinct(rng, c.x)), fd(rand(rng, c.x))], attrs: a });
    checkBoth("avgPool2dBackprop", {
      args: [fd(rand(rng, y))],
      attrs: { ...a, inputSize: [c.x[2], c.x[3]] },
    });
  });
});

/**
 * A small CNN on `x [2, 2, 6, 5]`: conv 3x3 "same" + bias -> tanh -> avgPool 2 "same" -> grouped
 * conv 2x2 (asymmetric padding) -> tanh -> maxPool 2 stride 1 -> dense -> softmax cross-entropy,
 * plus a conv2dTranspose (stride 2) branch off the pooled features whose mean square joins the loss.
 */
function smallCnn(): { graph: Graph; feeds: Record<string, Tensor>; params: ParamStore } {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [2, 2, 6, 5]);
  const labels = b.input("labels", [2, 3]);
  const w1 = b.param("w1", [4, 2, 3, 3]);
  const b1 = b.param("b1", [1, 4, 1, 1]);
  const w2 = b.param("w2", [4, 2, 2, 2]);
  const wt = b.param("wt", [4, 1, 2, 2]);
  const W3 = b.param("W3", [16, 3]);
  const h1 = b.conv2d(x, w1, { padding: "same" }).add(b1).tanh();
  const p1 = b.avgPool2d(h1, 2, { padding: "same" }); // [2, 4, 3, 3]
  const h2 = b.conv2d(p1, w2, { groups: 2, padding: [1, 0, 0, 1] }).tanh(); // [2, 4, 3, 3]
  const p2 = b.maxPool2d(h2, 2, { strides: 1 }); // [2, 4, 2, 2]
  const logits = p2.reshape([2, 16]).matmul(W3);
  const ce = logits.logSoftmax(-1).mul(labels).sum(-1).mean().neg();
  const up = b.conv2dTranspose(p1, wt, { strides: 2 }); // [2, 1, 6, 6]
  b.output("loss", ce.add(up.square().mean().mul(0.5)));
  const graph = b.build();
  const rng = new Rng(2024);
  const params = new ParamStore();
  for (const [name, p] of Object.entries(graph.params)) {
    const t = rand(rng, graph.nodes[p.node]!.shape as number[]);
    for (let i = 0; i < t.size; i++) t.data[i] = t.data[i]! * 0.7;
    params.set(name, t);
  }
  const y = Tensor.zeros([2, 3], "float64");
  y.data[1] = 1;
  y.data[3 + 2] = 1;
  return { graph, feeds: { x: rand(rng, [2, 2, 6, 5]), labels: y }, params };
}

describe("second order on a small CNN (float64)", () => {
  const { graph, feeds, params } = smallCnn();
  const wrt = ["w1", "b1", "w2", "wt", "W3", "x"];

  it("first order: gradients equal finite differences", () => {
    const report = gradcheck(graph, feeds, { params, wrt });
    expect(report.ok, formatGradcheckReport(report)).toBe(true);
  });

  it("Hessian-vector products: reverse-over-reverse = forward-over-reverse = finite differences of the gradient", () => {
    const rng = new Rng(99);
    const shapes = wrt.map((w) => (params.has(w) ? params.get(w) : feeds[w]!).shape);
    const v = shapes.map((s) => rand(rng, s));
    // reverse over reverse: grad of sum_k <grad_k, v_k>
    const g1 = grad(graph, "loss", wrt);
    const b = GraphBuilder.extend(g1, { dtype: "float64" });
    let dot: Value | null = null;
    wrt.forEach((w, k) => {
      const term = b
        .ref(gradName(w))
        .mul(b.input(`v:${w}`, shapes[k]!))
        .sum();
      dot = dot ? dot.add(term) : term;
    });
    b.output("gv", dot!);
    const rr = grad(b.build(), "gv", wrt, { prefix: "rr:" });
    const vFeeds = Object.fromEntries(wrt.map((w, k) => [`v:${w}`, v[k]!]));
    const rrOut = compile(rr, { params, outputs: wrt.map((w) => gradName(w, "rr:")) }).run({
      ...feeds,
      ...vFeeds,
    });
    // forward over reverse
    const fr = hvp(graph, "loss", wrt, { tangentPrefix: "v:" });
    const frOut = compile(fr, { params, outputs: wrt.map((w) => hvpName(w)) }).run({ ...feeds, ...vFeeds });
    // finite differences of the gradient along v
    const eps = 1e-5;
    const at = (sign: number) => {
      const moved = params.clone();
      const f: Record<string, Tensor> = { ...feeds };
      wrt.forEach((w, k) => {
        const base = params.has(w) ? params.get(w) : feeds[w]!;
        const t = new Tensor(
          base.shape,
          base.data.map((x, i) => x + sign * eps * v[k]!.data[i]!),
        );
        if (params.has(w)) moved.set(w, t);
        else f[w] = t;
      });
      return compile(g1, { params: moved, outputs: wrt.map((w) => gradName(w)) }).run(f);
    };
    const plus = at(1);
    const minus = at(-1);
    for (const w of wrt) {
      const a = rrOut[gradName(w, "rr:")]!.data;
      const f = frOut[hvpName(w)]!.data;
      const p = plus[gradName(w)]!.data;
      const m = minus[gradName(w)]!.data;
      expect(a.length).toBe(p.length);
      for (let i = 0; i < a.length; i++) {
        const numeric = (p[i]! - m[i]!) / (2 * eps);
        const scale = Math.max(1, Math.abs(a[i]!));
        expect(Math.abs(a[i]! - f[i]!), `${w}[${i}] rev-rev ${a[i]} vs fwd-rev ${f[i]}`).toBeLessThanOrEqual(
          1e-12 * scale,
        );
        expect(
          Math.abs(a[i]! - numeric),
          `${w}[${i}] ${a[i]} vs finite differences ${numeric}`,
        ).toBeLessThanOrEqual(1e-6 * scale);
      }
    }
  });

  it("gradgradcheck: Hessian-vector products against finite differences (Richardson-refined)", () => {
    const rng = new Rng(5);
    const w = ["w1", "w2", "wt", "x"];
    const gradCotangents = Object.fromEntries(
      w.map((n) => [n, rand(rng, (params.has(n) ? params.get(n) : feeds[n]!).shape)]),
    );
    const report = gradgradcheck(graph, feeds, { params, wrt: w, gradCotangents });
    expect(report.ok, formatGradcheckReport(report)).toBe(true);
    expect(report.checked).toBeGreaterThan(100);
  });

  it("JVP = VJP and finite differences at every node of the network and of its gradient graph", () => {
    const computed = (g: Graph) =>
      g.nodes.filter((n) => !["input", "param", "constant", "fill"].includes(n.op)).map((n) => n.id);
    const r1 = checkJvpVjpConsistency(graph, { feeds, params, wrt, of: computed(graph), seed: 1 });
    expect(r1.ok, r1.message).toBe(true);
    const g1 = grad(graph, "loss", wrt);
    const r2 = checkJvpVjpConsistency(g1, {
      feeds,
      params,
      wrt,
      of: wrt.map((w) => gradName(w)),
      seed: 2,
    });
    expect(r2.ok, r2.message).toBe(true);
  });
});

describe("the checks catch wrong rules", () => {
  const dilated = CONV_COMBOS.find((c) => c.name === "dilation 2")!;
  const rng = new Rng(1);

  it("a conv2d VJP that mirrors the asymmetric padding (same shapes, wrong values) fails the finite-difference check", () => {
    const [t, bo, l, r] = dilated.padding;
    const rule: VjpFn<"conv2d"> = (args) =>
      (VJP.conv2d as VjpFn<"conv2d">)({ ...args, attrs: { ...args.attrs, padding: [bo, t, r, l] } });
    const c = { args: [fd(rand(rng, dilated.x)), fd(rand(rng, dilated.w))], attrs: attrsOf(dilated) };
    expect(checkOpCase("conv2d", c).ok).toBe(true);
    expect(checkOpCase("conv2d", c, { rules: { conv2d: rule } }).ok).toBe(false);
  });

  it("a maxPool2d JVP through average pooling fails the JVP check", () => {
    const c = POOL_COMBOS[1]!;
    const a = { kernelSize: c.kernelSize, strides: c.strides, padding: c.padding };
    const r = checkOpJvpCase(
      "maxPool2d",
      { args: [fd(distinct(rng, c.x))], attrs: a },
      { jvpRules: { maxPool2d: ({ b, t, attrs }) => b.op("avgPool2d", [t[0]!], attrs) } },
    );
    expect(r.ok).toBe(false);
  });

  it("a conv2dBackpropFilter VJP off by a factor passes first order and fails second order on the CNN", () => {
    const { graph, feeds, params } = smallCnn();
    const base = VJP.conv2dBackpropFilter as VjpFn<"conv2dBackpropFilter">;
    const rules = {
      conv2dBackpropFilter: (args: Parameters<typeof base>[0]) =>
        base(args).map((v, i) => (v && i === 1 ? args.b.mul(v, 1.5) : v)),
    };
    expect(gradcheck(graph, feeds, { params, wrt: ["w1"], rules }).ok).toBe(true);
    const w1 = params.get("w1");
    const report = gradgradcheck(graph, feeds, {
      params,
      wrt: ["w1"],
      rules,
      gradCotangents: { w1: rand(rng, w1.shape) },
    });
    expect(report.ok).toBe(false);
  });
});

describe("float32 fast path against float64 for gradients", () => {
  /** loss = sum(f(conv(x, w)) * u), f an average pooling or the identity; gradients in x and w. */
  function gradGraph(p: ReturnType<typeof convOf>, pool: boolean): Graph {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", p.x);
    const w = b.param("w", p.w);
    let y = b.op("conv2d", [x, w], p.attrs);
    if (pool) y = b.avgPool2d(y, [Math.min(2, p.y[2]), Math.min(2, p.y[3])], { strides: 1 });
    const u = b.input("u", y.shape);
    b.output("loss", y.mul(u).sum());
    return grad(b.build(), "loss", ["x", "w"]);
  }

  function convOf(p: ConvProblem) {
    return {
      x: p.x,
      w: p.w,
      y: p.y,
      attrs: { strides: p.strides, padding: p.padding, dilations: p.dilations, groups: p.groups },
    };
  }

  it.runIf(wasmBackend() !== null)("random convolution problems, with and without average pooling", () => {
    fc.assert(
      fc.property(convProblemArb({ maxBatch: 3, maxSize: 9 }), fc.boolean(), fc.nat(), (prob, pool, seed) => {
        const p = convOf(prob);
        const g64 = gradGraph(p, pool);
        const rng = new Rng(seed);
        const f32 = (s: readonly number[]) => {
          const t = rand(rng, s);
          for (let i = 0; i < t.size; i++) t.data[i] = Math.fround(t.data[i]!);
          return t;
        };
        const uShape = g64.nodes[g64.inputs.u!]!.shape as number[];
        const feeds = { x: f32(p.x), u: f32(uShape) };
        const wv = f32(p.w);
        const abs = (t: Tensor) => new Tensor(t.shape, t.data.map(Math.abs));
        const run64 = (fx: Record<string, Tensor>, w: Tensor) =>
          compile(g64, { params: new ParamStore([["w", w]]) }).run(fx);
        const ref = run64(feeds, wv);
        const bound = run64({ x: abs(feeds.x), u: abs(feeds.u) }, abs(wv));
        const g32 = castGraph(g64, "float32");
        const p32 = ParamStore.init(g32, 0); // float32 params live in the WebAssembly arena, as in training
        p32.get("w").data.set(wv.data);
        const out = compile(g32, { params: p32 }).run({
          x: feeds.x.astype("float32"),
          u: feeds.u.astype("float32"),
        });
        const [O, , kh, kw] = p.w;
        const terms = { "grad:x": (O / p.attrs.groups) * kh * kw, "grad:w": p.x[0] * p.y[2] * p.y[3] };
        for (const k of ["grad:x", "grad:w"] as const) {
          const r = ref[k]!.data;
          const a = bound[k]!.data;
          const o = out[k]!.data;
          expect(out[k]!.dtype).toBe("float32");
          for (let i = 0; i < r.length; i++) {
            // the float32 summation bound; pooling adds up to 4 more roundings per cotangent
            const tol = (terms[k] + 6) * 2 ** -24 * a[i]!;
            expect(Math.abs(o[i]! - r[i]!), `${k}[${i}] float32 ${o[i]} vs ${r[i]}`).toBeLessThanOrEqual(tol);
          }
        }
      }),
      fcParameters({ numRuns: 40 }),
    );
  });
});
