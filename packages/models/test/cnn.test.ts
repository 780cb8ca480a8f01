import { formatGradcheckReport, gradcheck } from "@gradgraph/autograd";
import {
  evaluate,
  type Graph,
  GraphBuilder,
  ParamStore,
  Rng,
  ShapeError,
  specializeInputs,
  Tensor,
  uniformAt,
} from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import {
  avgPool2d,
  batchNorm,
  conv2d,
  conv2dTranspose,
  dropout,
  flatten,
  globalAvgPool,
  maxPool2d,
} from "../src/cnn.js";
import { init } from "../src/init.js";
import { KEY_INPUT, randomKey, TRAINING_INPUT, trainingFlag } from "../src/modes.js";

function randTensor(shape: readonly number[], seed: number, lo = -1, hi = 1): Tensor {
  const t = Tensor.zeros(shape, "float64");
  new Rng(seed).fillUniform(t.data, lo, hi);
  return t;
}

const scalar = (v: number) => Tensor.scalar(v, "float64");

/** Direct convolution, stride s, symmetric zero padding p, one group: x [N,C,H,W], w [O,C,kh,kw]. */
function refConv(x: Tensor, w: Tensor, bias: readonly number[], s: number, p: number): number[][][][] {
  const [N, C, H, W] = x.shape as number[] as [number, number, number, number];
  const [O, , kh, kw] = w.shape as number[] as [number, number, number, number];
  const Ho = Math.floor((H + 2 * p - kh) / s) + 1;
  const Wo = Math.floor((W + 2 * p - kw) / s) + 1;
  const at = (n: number, c: number, i: number, j: number) =>
    i < 0 || j < 0 || i >= H || j >= W ? 0 : x.data[((n * C + c) * H + i) * W + j]!;
  const out: number[][][][] = [];
  for (let n = 0; n < N; n++) {
    out.push([]);
    for (let o = 0; o < O; o++) {
      out[n]!.push([]);
      for (let i = 0; i < Ho; i++) {
        const row: number[] = [];
        for (let j = 0; j < Wo; j++) {
          let acc = bias[o]!;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++)
                acc += at(n, c, i * s - p + u, j * s - p + v) * w.data[((o * C + c) * kh + u) * kw + v]!;
          row.push(acc);
        }
        out[n]![o]!.push(row);
      }
    }
  }
  return out;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-12): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tol);
}

describe("conv2d and conv2dTranspose layers", () => {
  test("conv2d: params, shapes and values match a direct convolution plus bias", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2, 5, 6]);
    const y = conv2d(b, x, 3, 3, { strides: 2, padding: 1, biasInit: init.normal() });
    expect(y.shape).toEqual(["N", 3, 3, 3]);
    b.output("y", y);
    const g = b.build();
    expect(Object.keys(g.params)).toEqual(["conv1/W", "conv1/b"]);
    expect(g.params["conv1/W"]!.shape).toEqual([3, 2, 3, 3]);
    expect(g.params["conv1/b"]!.shape).toEqual([3]);
    // Keras/PyTorch fans: in-channels x kh x kw, filters x kh x kw
    expect(g.params["conv1/W"]!.init).toEqual({ kind: "glorotUniform", fanIn: 18, fanOut: 27 });
    const params = ParamStore.init(g, 3);
    const xv = randTensor([2, 2, 5, 6], 1);
    const got = evaluate(g, { x: xv }, { params }).y!;
    const want = refConv(xv, params.get("conv1/W"), params.get("conv1/b").toArray(), 2, 1);
    expectClose(got.data, want.flat(3), 1e-12);
  });

  test("conv2d: same padding, groups, no bias, activation and dtype", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 4, 7, 7]);
    const y = conv2d(b, x, 6, [3, 1], {
      name: "grouped",
      padding: "same",
      groups: 2,
      bias: false,
      activation: "relu",
      weightInit: init.heNormal(),
    });
    expect(y.shape).toEqual(["N", 6, 7, 7]);
    expect(y.node.op).toBe("relu");
    b.output("y", y);
    const g = b.build();
    expect(Object.keys(g.params)).toEqual(["grouped/W"]);
    expect(g.params["grouped/W"]!.shape).toEqual([6, 2, 3, 1]);
    expect(g.params["grouped/W"]!.init).toEqual({ kind: "heNormal", fanIn: 6 });
    expect(g.params["grouped/W"]!.dtype).toBe("float32");
  });

  test("conv2dTranspose: PyTorch weight layout, output sizes, inverse shape of a strided conv", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 4, 7, 7]);
    const up = conv2dTranspose(b, x, 6, 2, { strides: 2 });
    expect(up.shape).toEqual(["N", 6, 14, 14]);
    const same = conv2dTranspose(b, x, 2, 3, { strides: 2, padding: "same", groups: 2, name: "dec" });
    expect(same.shape).toEqual(["N", 2, 14, 14]);
    const padded = conv2dTranspose(b, x, 3, 3, { strides: 2, padding: 1, outputPadding: 1 });
    expect(padded.shape).toEqual(["N", 3, 14, 14]);
    b.output("up", up);
    b.output("same", same);
    b.output("padded", padded);
    const g = b.build();
    expect(g.params["convTranspose1/W"]!.shape).toEqual([4, 6, 2, 2]);
    expect(g.params["convTranspose1/W"]!.init).toEqual({ kind: "glorotUniform", fanIn: 24, fanOut: 16 });
    expect(g.params["dec/W"]!.shape).toEqual([4, 1, 3, 3]);
    expect(g.params["convTranspose2/W"]!.shape).toEqual([4, 3, 3, 3]);
    // a stride-2 kernel-2 transposed conv puts every input pixel times the kernel in its own 2x2 block
    const params = ParamStore.init(g, 1);
    params.get("convTranspose1/b").data.set([0.5, -0.5, 1, 0, 0, 2]);
    const xv = randTensor([1, 4, 7, 7], 2);
    const out = evaluate(g, { x: xv }, { params }).up!;
    const w = params.get("convTranspose1/W");
    for (const [o, i, j] of [
      [0, 0, 0],
      [5, 13, 6],
      [3, 8, 9],
    ] as const) {
      let want = params.get("convTranspose1/b").data[o]!;
      for (let c = 0; c < 4; c++)
        want +=
          xv.data[(c * 7 + (i >> 1)) * 7 + (j >> 1)]! * w.data[((c * 6 + o) * 2 + (i & 1)) * 2 + (j & 1)]!;
      expect(Math.abs(out.data[(o * 14 + i) * 14 + j]! - want)).toBeLessThan(1e-12);
    }
  });

  test("default names are unique and skip names given explicitly", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 1, 8, 8]);
    conv2d(b, x, 2, 3, { name: "conv1" });
    conv2d(b, x, 2, 3);
    conv2d(b, x, 2, 3);
    const g = b.build();
    expect(Object.keys(g.params)).toEqual(["conv1/W", "conv1/b", "conv2/W", "conv2/b", "conv3/W", "conv3/b"]);
  });

  test("bad shapes and arguments are errors naming the layer", () => {
    const b = new GraphBuilder();
    const img = b.input("img", ["N", 3, 8, 8]);
    const flat = b.input("flat", ["N", 12]);
    expect(() => conv2d(b, flat, 4, 3, { name: "c" })).toThrow(ShapeError);
    expect(() => conv2d(b, flat, 4, 3, { name: "c" })).toThrow(/conv2d 'c': expects an NCHW image batch/);
    expect(() => conv2d(b, img, 4, 3, { name: "c", groups: 2 })).toThrow(
      /conv2d 'c': 3 input channels are not a multiple of groups = 2/,
    );
    expect(() => conv2d(b, img, 0, 3, { name: "c" })).toThrow(
      /conv2d 'c': filters must be a positive integer/,
    );
    expect(() => conv2d(b, img, 2, [3, 0], { name: "c" })).toThrow(/conv2d 'c': kernelSize must be/);
    // the kernel is larger than the image: the builder's error, in the layer's scope
    expect(() => conv2d(b, img, 2, 9, { name: "big" })).toThrow(/'big'/);
    expect(() => conv2dTranspose(b, img, 4, 2, { name: "t", groups: 3 })).toThrow(
      /conv2dTranspose 't': 4 filters are not a multiple of groups = 3/,
    );
    expect(() => maxPool2d(b, flat, 2, { name: "p" })).toThrow(/maxPool2d 'p': expects an NCHW/);
    expect(() => avgPool2d(b, img, 0, { name: "q" })).toThrow(/avgPool2d 'q': poolSize must be/);
    expect(() => globalAvgPool(b, flat, { name: "gap" })).toThrow(/globalAvgPool 'gap'/);
    const sym = b.input("sym", ["N", "T"]);
    expect(() => flatten(b, sym, { name: "f" })).toThrow(/flatten 'f': only the batch dim may be symbolic/);
    expect(() => batchNorm(b, sym, { name: "bn" })).toThrow(
      /batchNorm 'bn': the feature axis 1 of \[N,T\] is symbolic/,
    );
    expect(() => batchNorm(b, img, { name: "bn", axis: 4 })).toThrow(
      /batchNorm 'bn': axis 4 is out of range/,
    );
    expect(() => batchNorm(b, img, { name: "bn", momentum: 2 })).toThrow(/momentum must be in \[0, 1\]/);
    expect(() => dropout(b, img, 1, { name: "d" })).toThrow(/dropout 'd': rate must be in \[0, 1\), got 1/);
    expect(() => dropout(b, img, -0.1)).toThrow(RangeError);
  });
});

describe("pooling, flatten", () => {
  test("shapes and values", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2, 4, 6]);
    const mp = maxPool2d(b, x, 2);
    const ap = avgPool2d(b, x, [2, 3], { strides: 1, padding: "same" });
    const gap = globalAvgPool(b, x);
    const fl = flatten(b, mp);
    expect(mp.shape).toEqual(["N", 2, 2, 3]);
    expect(ap.shape).toEqual(["N", 2, 4, 6]);
    expect(gap.shape).toEqual(["N", 2]);
    expect(fl.shape).toEqual(["N", 12]);
    b.output("mp", mp);
    b.output("gap", gap);
    b.output("fl", fl);
    const g = b.build();
    const xv = randTensor([3, 2, 4, 6], 5);
    const out = evaluate(g, { x: xv });
    // max of each 2x2 block, flattened in channel, row, column order
    const want: number[] = [];
    const gapWant: number[] = [];
    for (let n = 0; n < 3; n++)
      for (let c = 0; c < 2; c++) {
        let s = 0;
        for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) s += xv.data[((n * 2 + c) * 4 + i) * 6 + j]!;
        gapWant.push(s / 24);
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 3; j++) {
            let m = -Infinity;
            for (let u = 0; u < 2; u++)
              for (let v = 0; v < 2; v++)
                m = Math.max(m, xv.data[((n * 2 + c) * 4 + 2 * i + u) * 6 + 2 * j + v]!);
            want.push(m);
          }
      }
    expect(out.fl!.toArray()).toEqual(want);
    expect(out.mp!.toArray()).toEqual(want);
    expectClose(out.gap!.data, gapWant, 1e-14);
  });
});

/** A batch-norm graph on `shape` with its running stats and output exposed. */
function bnGraph(shape: (string | number)[], axis?: number): Graph {
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", shape);
  b.output("y", batchNorm(b, x, { name: "bn", ...(axis !== undefined ? { axis } : {}) }));
  return b.build();
}

/** Per-feature mean and biased variance of `x` [N, C, ...] over every axis but `axis`. */
function featureStats(x: Tensor, axis: number): { mean: number[]; variance: number[]; count: number } {
  const shape = x.shape as number[];
  const C = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const sums = new Array(C).fill(0);
  const counts = new Array(C).fill(0);
  for (let i = 0; i < x.size; i++) {
    const c = Math.floor(i / inner) % C;
    sums[c] += x.data[i]!;
    counts[c]++;
  }
  const mean = sums.map((s, c) => s / counts[c]);
  const sq = new Array(C).fill(0);
  for (let i = 0; i < x.size; i++) {
    const c = Math.floor(i / inner) % C;
    sq[c] += (x.data[i]! - mean[c]) ** 2;
  }
  return { mean, variance: sq.map((s, c) => s / counts[c]), count: counts[0] };
}

describe("batchNorm", () => {
  test("params, state updates and the training/evaluation branches against a hand computation", () => {
    for (const [shape, axis] of [
      [[4, 3, 2, 5], 1],
      [[6, 4], 1],
      [[5, 2, 3], -1],
    ] as const) {
      const g = bnGraph(["N", ...shape.slice(1)], axis);
      const rank = shape.length;
      const ax = axis < 0 ? axis + rank : axis;
      const C = shape[ax]!;
      expect(Object.keys(g.params)).toEqual(["bn/gamma", "bn/beta", "bn/runningMean", "bn/runningVar"]);
      expect(Object.keys(g.outputs)).toEqual(["update:bn/runningMean", "update:bn/runningVar", "y"].sort());
      expect(g.inputs[TRAINING_INPUT]).toBeDefined();
      const params = ParamStore.init(g, 0);
      expect(params.get("bn/gamma").toArray()).toEqual(new Array(C).fill(1));
      expect(params.get("bn/runningVar").toArray()).toEqual(new Array(C).fill(1));
      const rng = new Rng(9);
      for (const name of ["bn/gamma", "bn/beta", "bn/runningMean"])
        rng.fillUniform(params.get(name).data, -1, 1);
      rng.fillUniform(params.get("bn/runningVar").data, 0.5, 2);
      const gamma = params.get("bn/gamma").toArray();
      const beta = params.get("bn/beta").toArray();
      const rm = params.get("bn/runningMean").toArray();
      const rv = params.get("bn/runningVar").toArray();
      const x = randTensor(shape, 11, -2, 3);
      // permute so that the feature axis is 1 for the reference (for axis -1 of rank 3: [N, A, C])
      const inner = (shape as readonly number[]).slice(ax + 1).reduce((p, d) => p * d, 1);
      const featureOf = (i: number) => Math.floor(i / inner) % C;
      const { mean, variance, count } = featureStats(x, ax);
      const train = evaluate(g, { x, [TRAINING_INPUT]: scalar(1) }, { params });
      const trainWant = x.toArray().map((v, i) => {
        const c = featureOf(i);
        return ((v - mean[c]!) / Math.sqrt(variance[c]! + 1e-5)) * gamma[c]! + beta[c]!;
      });
      expectClose(train.y!.data, trainWant, 1e-12);
      expectClose(
        train["update:bn/runningMean"]!.data,
        rm.map((r, c) => 0.9 * r + 0.1 * mean[c]!),
        1e-14,
      );
      expectClose(
        train["update:bn/runningVar"]!.data,
        rv.map((r, c) => 0.9 * r + 0.1 * variance[c]! * (count / (count - 1))),
        1e-14,
      );
      const ev = evaluate(g, { x, [TRAINING_INPUT]: scalar(0) }, { params });
      const evWant = x.toArray().map((v, i) => {
        const c = featureOf(i);
        return ((v - rm[c]!) / Math.sqrt(rv[c]! + 1e-5)) * gamma[c]! + beta[c]!;
      });
      expectClose(ev.y!.data, evWant, 1e-12);
      expect(ev["update:bn/runningMean"]!.toArray()).toEqual(rm);
      expect(ev["update:bn/runningVar"]!.toArray()).toEqual(rv);
    }
  });

  test("scale and center off: no gamma, beta; one value per feature keeps the variance finite", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 2]);
    b.output("y", batchNorm(b, x, { scale: false, center: false, momentum: 0.5, epsilon: 0.01 }));
    const g = b.build();
    expect(Object.keys(g.params)).toEqual(["batchNorm1/runningMean", "batchNorm1/runningVar"]);
    const params = ParamStore.init(g, 0);
    const one = evaluate(
      g,
      { x: Tensor.from([[3, -4]], { dtype: "float64" }), [TRAINING_INPUT]: scalar(1) },
      { params },
    );
    expect(one.y!.toArray()).toEqual([0, 0]);
    expect(one["update:batchNorm1/runningMean"]!.toArray()).toEqual([1.5, -2]);
    expect(one["update:batchNorm1/runningVar"]!.toArray()).toEqual([0.5, 0.5]);
  });

  test("the training specialisation has correct gradients (float64 gradcheck)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3, 2, 3, 3]);
    const r = b.input("r", [3, 4, 3, 3]);
    const h = batchNorm(b, conv2d(b, x, 4, 2, { padding: "same", bias: false }), { name: "bn" });
    b.output("loss", b.sum(b.mul(b.tanh(h), r)));
    const g = specializeInputs(b.build(), { [TRAINING_INPUT]: 1 });
    expect(g.nodes.some((n) => n.op === "where")).toBe(false);
    const params = ParamStore.init(g, 4);
    new Rng(5).fillUniform(params.get("bn/gamma").data, 0.5, 1.5);
    new Rng(6).fillUniform(params.get("bn/beta").data, -0.5, 0.5);
    const report = gradcheck(
      g,
      { x: randTensor([3, 2, 3, 3], 7), r: randTensor([3, 4, 3, 3], 8) },
      {
        of: "loss",
        wrt: ["conv1/W", "bn/gamma", "bn/beta", "x"],
        params,
      },
    );
    if (!report.ok) throw new Error(formatGradcheckReport(report));
  });
});

describe("dropout", () => {
  test("training: x·(u >= rate)/(1 - rate) from the key, a salt per layer; evaluation: x", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 50]);
    const d1 = dropout(b, x, 0.3);
    const d2 = dropout(b, x, 0.3, { name: "second" });
    expect(dropout(b, x, 0)).toBe(x);
    b.output("d1", d1);
    b.output("d2", d2);
    const g = b.build();
    expect(Object.keys(g.inputs).sort()).toEqual([KEY_INPUT, TRAINING_INPUT, "x"].sort());
    const salts = g.nodes
      .filter((n) => n.op === "randomUniform")
      .map((n) => (n.attrs as { salt: number }).salt);
    expect(salts).toEqual([1, 2]);
    const xv = randTensor([4, 50], 3, 0.5, 2);
    const key = 4321;
    const out = evaluate(g, { x: xv, [TRAINING_INPUT]: scalar(1), [KEY_INPUT]: scalar(key) });
    for (const [name, salt] of [
      ["d1", 1],
      ["d2", 2],
    ] as const) {
      const want = xv.toArray().map((v, i) => (uniformAt(key, salt, i) >= 0.3 ? v / 0.7 : 0));
      expectClose(out[name]!.data, want, 1e-15);
    }
    const dropped = out.d1!.toArray().filter((v) => v === 0).length;
    expect(dropped).toBeGreaterThan(30); // 30% of 200, with room for chance
    expect(dropped).toBeLessThan(90);
    expect(out.d1!.toArray()).not.toEqual(out.d2!.toArray());
    const other = evaluate(g, { x: xv, [TRAINING_INPUT]: scalar(1), [KEY_INPUT]: scalar(key + 1) });
    expect(other.d1!.toArray()).not.toEqual(out.d1!.toArray());
    const ev = evaluate(g, { x: xv, [TRAINING_INPUT]: scalar(0), [KEY_INPUT]: scalar(key) });
    expect(ev.d1!.toArray()).toEqual(xv.toArray());
  });

  test("the mode inputs are made once per builder and reused by a builder extending the graph", () => {
    const b = new GraphBuilder();
    expect(trainingFlag(b)).toBe(trainingFlag(b));
    expect(randomKey(b)).toBe(randomKey(b));
    const x = b.input("x", ["N", 3]);
    b.output("y", dropout(b, x, 0.5));
    const g = b.build();
    const e = GraphBuilder.extend(g);
    expect(trainingFlag(e).id).toBe(g.inputs[TRAINING_INPUT]);
    expect(randomKey(e).id).toBe(g.inputs[KEY_INPUT]);
    e.output("z", dropout(e, e.ref("x"), 0.5));
    const salts = e
      .build()
      .nodes.filter((n) => n.op === "randomUniform")
      .map((n) => (n.attrs as { salt: number }).salt);
    expect(salts).toEqual([1, 2]);
  });
});
