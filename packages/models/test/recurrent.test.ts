import { formatGradcheckReport, gradcheck, gradParams } from "@gradgraph/autograd";
import { compile, GraphBuilder, ParamStore, Rng, ShapeError, Tensor } from "@gradgraph/core";
import { describe, expect, test } from "vitest";
import { fit } from "../src/fit.js";
import { init } from "../src/init.js";
import { meanSquaredError } from "../src/losses.js";
import { Model } from "../src/model.js";
import { adam } from "../src/optim/index.js";
import { gru, gruCell, lstm, lstmCell } from "../src/recurrent.js";

function randTensor(shape: readonly number[], seed: number, lo = -1, hi = 1): Tensor {
  const t = Tensor.zeros(shape, "float64");
  new Rng(seed).fillUniform(t.data, lo, hi);
  return t;
}

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** Row-vector times matrix plus bias, plain float64: pre[j] = Σ_k v[k]·W[k, j]. */
function affine(v: readonly number[], W: Tensor, cols: number): number[] {
  const out = new Array<number>(cols).fill(0);
  for (let k = 0; k < v.length; k++) for (let j = 0; j < cols; j++) out[j]! += v[k]! * W.data[k * cols + j]!;
  return out;
}

/** Reference GRU/LSTM over x [N, T, F] from a zero state; returns every hidden state [N][T][u]. */
function reference(
  kind: "gru" | "lstm",
  x: Tensor,
  Wx: Tensor,
  Wh: Tensor,
  bias: Tensor,
  u: number,
): number[][][] {
  const [N, T, F] = x.shape as number[] as [number, number, number];
  const G = kind === "gru" ? 3 : 4;
  const out: number[][][] = [];
  for (let n = 0; n < N; n++) {
    let h = new Array<number>(u).fill(0);
    let c = new Array<number>(u).fill(0);
    const seq: number[][] = [];
    for (let t = 0; t < T; t++) {
      const xt = Array.from({ length: F }, (_, f) => x.data[(n * T + t) * F + f]!);
      const gx = affine(xt, Wx, G * u).map((v, j) => v + bias.data[j]!);
      const gh = affine(h, Wh, G * u);
      const next: number[] = [];
      const nextC: number[] = [];
      for (let j = 0; j < u; j++) {
        if (kind === "gru") {
          const r = sig(gx[j]! + gh[j]!);
          const z = sig(gx[u + j]! + gh[u + j]!);
          const nn = Math.tanh(gx[2 * u + j]! + r * gh[2 * u + j]!);
          next.push((1 - z) * nn + z * h[j]!);
        } else {
          const p = (k: number) => gx[k * u + j]! + gh[k * u + j]!;
          const cj = sig(p(1)) * c[j]! + sig(p(0)) * Math.tanh(p(2));
          nextC.push(cj);
          next.push(sig(p(3)) * Math.tanh(cj));
        }
      }
      h = next;
      c = nextC;
      seq.push(h);
    }
    out.push(seq);
  }
  return out;
}

function expectClose(got: ArrayLike<number>, want: readonly number[], tol = 1e-12): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tol);
}

describe.each(["gru", "lstm"] as const)("%s layer", (kind) => {
  const layer = kind === "gru" ? gru : lstm;
  const G = kind === "gru" ? 3 : 4;

  test("params and shapes; last and all states match a float64 loop reference", () => {
    const [N, T, F, u] = [3, 4, 2, 5];
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", T, F]);
    const last = layer(b, x, u, { name: "rnn", biasInit: init.normal() });
    const all = layer(b, x, u, { name: "seq", returnSequences: true });
    expect(last.shape).toEqual(["N", u]);
    expect(all.shape).toEqual(["N", T, u]);
    b.output("last", last);
    b.output("all", all);
    const g = b.build();
    expect(g.params["rnn/Wx"]!.shape).toEqual([F, G * u]);
    expect(g.params["rnn/Wh"]!.shape).toEqual([u, G * u]);
    expect(g.params["rnn/b"]!.shape).toEqual([G * u]);
    const params = ParamStore.init(g, 3);
    // make "seq" the same layer as "rnn" so one reference checks both outputs
    for (const p of ["Wx", "Wh", "b"]) params.get(`seq/${p}`).data.set(params.get(`rnn/${p}`).data);
    const xs = randTensor([N, T, F], 11, -2, 2);
    const out = compile(g, { params }).run({ x: xs });
    const want = reference(kind, xs, params.get("rnn/Wx"), params.get("rnn/Wh"), params.get("rnn/b"), u);
    expect(out.last!.shape).toEqual([N, u]);
    expect(out.all!.shape).toEqual([N, T, u]);
    expectClose(
      out.last!.data,
      want.flatMap((seq) => seq[T - 1]!),
    );
    expectClose(out.all!.data, want.flat(2));
  });

  test("float64 gradcheck of a tiny layer (N=2, T=3, F=2, u=3)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2, 3, 2]);
    const r = b.input("r", [2, 3, 3]);
    const hs = layer(b, x, 3, { name: "rnn", returnSequences: true, biasInit: init.normal({ std: 0.5 }) });
    b.output("loss", b.sum(b.mul(hs, r)));
    const g = b.build();
    const params = ParamStore.init(g, 5);
    const report = gradcheck(
      g,
      { x: randTensor([2, 3, 2], 7), r: randTensor([2, 3, 3], 8) },
      { of: "loss", wrt: ["rnn/Wx", "rnn/Wh", "rnn/b", "x"], params },
    );
    if (!report.ok) throw new Error(formatGradcheckReport(report));
  });

  test("a bad input shape is a ShapeError naming the layer", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    expect(() => layer(b, b.input("x", ["N", 4]), 3, { name: "bad" })).toThrow(ShapeError);
    expect(() => layer(b, b.input("y", ["N", "T", 4]), 3, { name: "bad2" })).toThrow(/bad2.*sequence length/);
    expect(() => layer(b, b.input("z", ["N", 2, 4]), 0, { name: "bad3" })).toThrow(/units/);
  });
});

describe("cells", () => {
  test("gruCell and lstmCell match the reference for one step from a given state", () => {
    const [N, F, u] = [2, 3, 2];
    const Wx3 = randTensor([F, 3 * u], 1);
    const Wh3 = randTensor([u, 3 * u], 2);
    const b3 = randTensor([3 * u], 3);
    const Wx4 = randTensor([F, 4 * u], 4);
    const Wh4 = randTensor([u, 4 * u], 5);
    const b4 = randTensor([4 * u], 6);
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", F]);
    const h = b.input("h", ["N", u]);
    const c = b.input("c", ["N", u]);
    const gp = { Wx: b.constant(Wx3), Wh: b.constant(Wh3), b: b.constant(b3) };
    const lp = { Wx: b.constant(Wx4), Wh: b.constant(Wh4), b: b.constant(b4) };
    b.output("gh", gruCell(b, x, h, gp));
    const [lh, lc] = lstmCell(b, x, [h, c], lp);
    b.output("lh", lh);
    b.output("lc", lc);
    expect(() => gruCell(b, x, h, lp)).toThrow(ShapeError);
    const xs = randTensor([N, F], 7);
    const hs = randTensor([N, u], 8);
    const cs = randTensor([N, u], 9);
    const out = compile(b.build()).run({ x: xs, h: hs, c: cs });
    const wantG: number[] = [];
    const wantH: number[] = [];
    const wantC: number[] = [];
    for (let n = 0; n < N; n++) {
      const xv = Array.from(xs.data.subarray(n * F, (n + 1) * F));
      const hv = Array.from(hs.data.subarray(n * u, (n + 1) * u));
      const cv = Array.from(cs.data.subarray(n * u, (n + 1) * u));
      const gx = affine(xv, Wx3, 3 * u).map((v, j) => v + b3.data[j]!);
      const gh = affine(hv, Wh3, 3 * u);
      const p = affine(xv, Wx4, 4 * u).map((v, j) => v + b4.data[j]! + affine(hv, Wh4, 4 * u)[j]!);
      for (let j = 0; j < u; j++) {
        const r = sig(gx[j]! + gh[j]!);
        const z = sig(gx[u + j]! + gh[u + j]!);
        const nn = Math.tanh(gx[2 * u + j]! + r * gh[2 * u + j]!);
        wantG.push((1 - z) * nn + z * hv[j]!);
        const cj = sig(p[u + j]!) * cv[j]! + sig(p[j]!) * Math.tanh(p[2 * u + j]!);
        wantC.push(cj);
        wantH.push(sig(p[3 * u + j]!) * Math.tanh(cj));
      }
    }
    expectClose(out.gh!.data, wantG);
    expectClose(out.lh!.data, wantH);
    expectClose(out.lc!.data, wantC);
  });
});

describe("long unrolls and training", () => {
  test("a length-100 GRU builds, compiles, runs and differentiates quickly and stays finite", () => {
    const start = performance.now();
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 100, 3]);
    const h = gru(b, x, 8, { name: "long" });
    b.output("loss", b.mean(b.square(h)));
    const g = gradParams(b.build(), "loss");
    const params = ParamStore.init(g, 1);
    const out = compile(g, { params }).run({ x: randTensor([4, 100, 3], 2) });
    const loss = out.loss!.item();
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(0);
    for (const p of ["long/Wx", "long/Wh", "long/b"]) {
      const gp = out[`grad:${p}`]!;
      expect(gp.shape).toEqual(params.get(p).shape);
      expect(Array.from(gp.data).every(Number.isFinite)).toBe(true);
      expect(Array.from(gp.data).some((v) => v !== 0)).toBe(true);
    }
    expect(performance.now() - start).toBeLessThan(20_000);
  });

  test.each(["gru", "lstm"] as const)(
    "%s: a few Adam steps on a tiny sequence task lower the loss",
    (kind) => {
      // target: the mean of a length-5 sequence of scalars
      const n = 32;
      const xs = randTensor([n, 5, 1], 21);
      const ys = Tensor.zeros([n, 1], "float64");
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let t = 0; t < 5; t++) s += xs.data[i * 5 + t]!;
        ys.data[i] = s / 5;
      }
      const model = Model.define(
        (b) => {
          const x = b.input("x", ["N", 5, 1]);
          const y = b.input("y", ["N", 1]);
          const h = (kind === "gru" ? gru : lstm)(b, x, 6, { name: "rnn" });
          const W = b.param("out/W", [6, 1], { init: init.glorotUniform() });
          const pred = b.matmul(h, W);
          return { input: x, target: y, predictions: pred, loss: meanSquaredError(b, pred, y) };
        },
        { seed: 3, dtype: "float64" },
      );
      const before = model.evaluate(xs, ys).loss;
      const { history } = fit(
        model,
        { x: xs, y: ys },
        { optimizer: adam({ lr: 0.02 }), epochs: 15, batchSize: 8, seed: 4 },
      );
      const after = model.evaluate(xs, ys).loss;
      expect(history.epochs).toBe(15);
      expect(after).toBeLessThan(0.5 * before);
    },
  );
});
