import { formatGradcheckReport, gradcheck } from "@gradgraph/autograd";
import { evaluate, GraphBuilder, ParamStore, Rng, ShapeError, Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import { init } from "../src/init.js";
import { meanSquaredError } from "../src/losses.js";
import { Model } from "../src/model.js";
import { sgd } from "../src/optim/index.js";
import {
  embedding,
  layerNorm,
  multiHeadAttention,
  multiHeadAttentionLayer,
  transformerEncoderBlock,
} from "../src/sequence.js";

function randTensor(shape: number[], seed: number): Tensor {
  const t = Tensor.zeros(shape, "float64");
  new Rng(seed).fillUniform(t.data, -1, 1);
  return t;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("embedding", () => {
  it("looks up rows of <name>/E for ids of any shape with a symbolic batch", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const ids = b.input("ids", ["N", 3]);
    const e = embedding(b, ids, 5, 2, {
      name: "emb",
      init: init.values([0, 1, 10, 11, 20, 21, 30, 31, 40, 41]),
    });
    expect(e.shape).toEqual(["N", 3, 2]);
    b.output("e", e);
    const g = b.build();
    expect(Object.keys(g.params)).toEqual(["emb/E"]);
    const out = evaluate(
      g,
      {
        ids: Tensor.from(
          [
            [4, 0, 2],
            [1, 1, 3],
          ],
          { dtype: "float64" },
        ),
      },
      {
        params: ParamStore.init(g, 0),
      },
    );
    expect(out.e!.shape).toEqual([2, 3, 2]);
    expect(out.e!.toArray()).toEqual([40, 41, 0, 1, 20, 21, 10, 11, 10, 11, 30, 31]);
  });

  it("accumulates the gradient of repeated ids into their rows (gradcheck w.r.t. the table)", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const ids = b.input("ids", [2, 2]);
    const e = embedding(b, ids, 3, 2, { name: "emb" });
    const r = b.input("r", [2, 2, 2]);
    b.output("loss", b.sum(b.mul(b.square(e), r)));
    const g = b.build();
    const feeds = {
      ids: Tensor.from(
        [
          [1, 1],
          [2, 1],
        ],
        { dtype: "float64" },
      ),
      r: randTensor([2, 2, 2], 4),
    };
    const report = gradcheck(g, feeds, { of: "loss", params: randomParams(g, 8) });
    if (!report.ok) throw new Error(formatGradcheckReport(report));
    expect(report.wrt).toEqual(["emb/E"]);
  });

  it("rejects a bad vocab or dim, naming the layer", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const ids = b.input("ids", [3]);
    expect(() => embedding(b, ids, 0, 2, { name: "tok" })).toThrow(/embedding 'tok': vocab/);
    expect(() => embedding(b, ids, 4, 1.5, { name: "tok" })).toThrow(/embedding 'tok': dim/);
  });
});

describe("layerNorm", () => {
  it("matches a hand computation over the last axis, with gain and bias", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", ["N", 4]);
    const y = layerNorm(b, x, { name: "ln", epsilon: 1e-3 });
    expect(y.shape).toEqual(["N", 4]);
    b.output("y", y);
    const g = b.build();
    expect(Object.entries(g.params).map(([k, p]) => `${k}:${p.shape.join("x")}`)).toEqual([
      "ln/gamma:4",
      "ln/beta:4",
    ]);
    const params = new ParamStore([
      ["ln/gamma", Tensor.from([1, 2, 3, 4], { dtype: "float64" })],
      ["ln/beta", Tensor.from([0.5, 0, -0.5, 1], { dtype: "float64" })],
    ]);
    const rows = [
      [1, 2, 3, 6],
      [-2, 0, 0, 2],
    ];
    const out = evaluate(g, { x: Tensor.from(rows, { dtype: "float64" }) }, { params });
    const gamma = [1, 2, 3, 4];
    const beta = [0.5, 0, -0.5, 1];
    const want: number[] = [];
    for (const r of rows) {
      const mu = (r[0]! + r[1]! + r[2]! + r[3]!) / 4; // row 0: 3; row 1: 0
      const v = r.reduce((s, xi) => s + (xi - mu) ** 2, 0) / 4; // row 0: 3.5; row 1: 2
      r.forEach((xi, j) => {
        want.push(((xi - mu) / Math.sqrt(v + 1e-3)) * gamma[j]! + beta[j]!);
      });
    }
    expect(maxAbsDiff(out.y!.data, want)).toBeLessThan(1e-12);
  });

  it("normalises a non-last axis with broadcast params", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [3, 2]);
    b.output("y", layerNorm(b, x, { name: "ln", axis: 0 }));
    const g = b.build();
    expect(g.params["ln/gamma"]!.shape).toEqual([3, 1]);
    const out = evaluate(
      g,
      {
        x: Tensor.from(
          [
            [1, 5],
            [2, 5],
            [3, 8],
          ],
          { dtype: "float64" },
        ),
      },
      {
        params: ParamStore.init(g, 0),
      },
    );
    const s = Math.sqrt(2 / 3 + 1e-5);
    const s2 = Math.sqrt(2 + 1e-5);
    expect(maxAbsDiff(out.y!.data, [-1 / s, -1 / s2, 0, -1 / s2, 1 / s, 2 / s2])).toBeLessThan(1e-12);
  });

  it("rejects a symbolic normalised axis", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    const x = b.input("x", [2, "F"]);
    expect(() => layerNorm(b, x, { name: "ln" })).toThrow(ShapeError);
  });
});

/** Per-head loop reference of self-attention in float64, from the layer's params. */
function attentionRef(
  x: Tensor,
  p: ParamStore,
  name: string,
  heads: number,
  causal: boolean,
): { out: number[]; weights: number[] } {
  const [N, T, D] = x.shape as [number, number, number];
  const dk = D / heads;
  const get = (k: string) => p.get(`${name}/${k}`).data;
  const lin = (
    W: ArrayLike<number>,
    bias: ArrayLike<number>,
    inp: ArrayLike<number>,
    n: number,
    t: number,
  ) => {
    const r: number[] = [];
    for (let j = 0; j < D; j++) {
      let s = bias[j]!;
      for (let i = 0; i < D; i++) s += inp[(n * T + t) * D + i]! * W[i * D + j]!;
      r.push(s);
    }
    return r;
  };
  const ctx = new Array<number>(N * T * D).fill(0);
  const weights: number[] = [];
  for (let n = 0; n < N; n++) {
    const q: number[][] = [];
    const k: number[][] = [];
    const v: number[][] = [];
    for (let t = 0; t < T; t++) {
      q.push(lin(get("Wq"), get("bq"), x.data, n, t));
      k.push(lin(get("Wk"), get("bk"), x.data, n, t));
      v.push(lin(get("Wv"), get("bv"), x.data, n, t));
    }
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < T; i++) {
        const s: number[] = [];
        for (let j = 0; j < T; j++) {
          let d = 0;
          for (let c = 0; c < dk; c++) d += q[i]![h * dk + c]! * k[j]![h * dk + c]!;
          s.push(causal && j > i ? Number.NEGATIVE_INFINITY : d / Math.sqrt(dk));
        }
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const tot = e.reduce((a, c) => a + c, 0);
        const w = e.map((z) => z / tot);
        weights.push(...w);
        for (let c = 0; c < dk; c++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += w[j]! * v[j]![h * dk + c]!;
          ctx[(n * T + i) * D + h * dk + c] = acc;
        }
      }
    }
  }
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) out.push(...lin(get("Wo"), get("bo"), ctx, n, t));
  return { out, weights };
}

function randomParams(g: ReturnType<GraphBuilder["build"]>, seed: number): ParamStore {
  const rng = new Rng(seed);
  return new ParamStore(
    Object.entries(g.params).map(([k, p]) => {
      const t = Tensor.zeros([...p.shape], "float64");
      rng.fillUniform(t.data, -1, 1);
      return [k, t] as [string, Tensor];
    }),
  );
}

describe("multiHeadAttention", () => {
  for (const causal of [false, true]) {
    it(`matches a per-head loop reference (causal: ${causal}) and exposes the weights`, () => {
      const b = new GraphBuilder({ dtype: "float64" });
      const x = b.input("x", ["N", 3, 4]);
      const layer = multiHeadAttentionLayer(b, x, { name: "att", heads: 2, causal });
      expect(layer.output.shape).toEqual(["N", 3, 4]);
      expect(layer.weights.shape).toEqual(["N", 2, 3, 3]);
      b.output("y", layer.output);
      b.output("w", layer.weights);
      const g = b.build();
      expect(Object.keys(g.params).sort()).toEqual(
        ["Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo"].map((k) => `att/${k}`).sort(),
      );
      const params = randomParams(g, 3);
      const xt = randTensor([2, 3, 4], 11);
      const out = evaluate(g, { x: xt }, { params });
      const ref = attentionRef(xt, params, "att", 2, causal);
      expect(maxAbsDiff(out.y!.data, ref.out)).toBeLessThan(1e-12);
      expect(maxAbsDiff(out.w!.data, ref.weights)).toBeLessThan(1e-12);
      if (causal) {
        const w = out.w!.data;
        for (let r = 0; r < 2 * 2; r++)
          for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) expect(w[r * 9 + i * 3 + j]).toBe(0);
        // the first query sees only itself
        for (let r = 0; r < 4; r++) expect(w[r * 9]).toBe(1);
      }
    });
  }

  it("rejects bad heads, ranks and a causal mask on a symbolic T", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    expect(() => multiHeadAttention(b, b.input("a", [2, 3, 4]), { name: "m", heads: 3 })).toThrow(
      /multiHeadAttention 'm': heads/,
    );
    expect(() => multiHeadAttention(b, b.input("c", [3, 4]), { name: "m", heads: 2 })).toThrow(ShapeError);
    expect(() =>
      multiHeadAttention(b, b.input("d", ["N", "T", 4]), { name: "m", heads: 2, causal: true }),
    ).toThrow(/concrete sequence length/);
    // without the mask a symbolic T is fine
    expect(multiHeadAttention(b, b.input("e", ["N", "T", 4]), { name: "m2", heads: 2 }).shape).toEqual([
      "N",
      "T",
      4,
    ]);
  });
});

describe("transformerEncoderBlock", () => {
  for (const norm of ["pre", "post"] as const) {
    it(`(${norm}-norm) keeps [N, T, D] and passes a float64 gradcheck w.r.t. every param`, () => {
      const b = new GraphBuilder({ dtype: "float64" });
      const x = b.input("x", ["N", 3, 4]);
      const y = transformerEncoderBlock(b, x, {
        name: "enc",
        heads: 2,
        mlpDim: 5,
        norm,
        causal: norm === "pre",
      });
      expect(y.shape).toEqual(["N", 3, 4]);
      const r = b.input("r", ["N", 3, 4]);
      b.output("loss", b.sum(b.mul(y, r)));
      const g = b.build();
      expect(Object.keys(g.params)).toContain("enc/mlp2/W");
      expect(Object.keys(g.params)).toContain("enc/ln1/gamma");
      const params = randomParams(g, 5);
      const report = gradcheck(
        g,
        { x: randTensor([2, 3, 4], 1), r: randTensor([2, 3, 4], 2) },
        {
          of: "loss",
          params,
        },
      );
      if (!report.ok) throw new Error(formatGradcheckReport(report));
      expect(report.wrt).toEqual(expect.arrayContaining(["enc/attn/Wq", "enc/ln2/beta", "enc/mlp1/W"]));
    });
  }

  it("builds the README example: a causal block on embedded tokens with a symbolic batch", () => {
    const b = new GraphBuilder({ dtype: "float32" });
    const ids = b.input("ids", ["N", 16]);
    const h = embedding(b, ids, 1000, 32, { name: "tok" });
    const y = transformerEncoderBlock(b, h, { name: "enc1", heads: 4, mlpDim: 64, causal: true });
    const z = layerNorm(b, y, { name: "final" });
    expect([h.shape, y.shape, z.shape]).toEqual([
      ["N", 16, 32],
      ["N", 16, 32],
      ["N", 16, 32],
    ]);
    b.output("z", z);
    const g = b.build();
    expect(g.params["tok/E"]!.shape).toEqual([1000, 32]);
    expect(g.params["enc1/mlp1/W"]!.shape).toEqual([32, 64]);
    const out = evaluate(
      g,
      { ids: Tensor.from([Array.from({ length: 16 }, (_, i) => i * 7)], { dtype: "float32" }) },
      {
        params: ParamStore.init(g, 0),
      },
    );
    expect(out.z!.shape).toEqual([1, 16, 32]);
    expect(Array.from(out.z!.data).every(Number.isFinite)).toBe(true);
  });

  it("rejects a bad input or mlpDim, naming the block", () => {
    const b = new GraphBuilder({ dtype: "float64" });
    expect(() =>
      transformerEncoderBlock(b, b.input("a", [2, 4]), { name: "blk", heads: 2, mlpDim: 4 }),
    ).toThrow(/transformerEncoderBlock 'blk'/);
    expect(() =>
      transformerEncoderBlock(b, b.input("c", [2, 3, 4]), { name: "blk", heads: 2, mlpDim: 0 }),
    ).toThrow(/mlpDim/);
  });

  it("a few SGD steps on a tiny sequence model decrease the loss", () => {
    const model = Model.define(
      (b) => {
        const ids = b.input("ids", ["N", 3]);
        const y = b.input("y", ["N", 3, 4]);
        const h = embedding(b, ids, 6, 4, { name: "emb" });
        const out = transformerEncoderBlock(b, h, { name: "enc", heads: 2, mlpDim: 8, activation: "relu" });
        return { input: ids, target: y, predictions: out, loss: meanSquaredError(b, out, y) };
      },
      { seed: 0, dtype: "float64" },
    );
    const ids = Tensor.from(
      [
        [0, 1, 2],
        [3, 4, 5],
        [5, 0, 3],
      ],
      { dtype: "float64" },
    );
    const y = randTensor([3, 3, 4], 7);
    const opt = sgd({ lr: 0.05 });
    const start = model.evaluate(ids, y).loss;
    for (let i = 0; i < 20; i++) model.trainStep(ids, y, opt);
    const end = model.evaluate(ids, y).loss;
    expect(Number.isFinite(end)).toBe(true);
    expect(end).toBeLessThan(start * 0.9);
  });
});
