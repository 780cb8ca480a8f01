/**
 * The `"vit-mnist"` preset: the patches cut in the graph against a loop over the pixels, the
 * network's params and outputs for both poolings, the attention it reports (rows summing to 1),
 * hyperparameter errors, and a quick run on a small MNIST subset (above chance; the same seed
 * gives the same bits, another seed does not). The full default run is too long for a test:
 * examples/README.md gives its command and measured figures.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile, GraphBuilder, Tensor } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { loadMnist } from "@gradgraph/datasets/node";
import { beforeAll, describe, expect, it } from "vitest";
import {
  Model,
  VIT_ATTENTION_OUTPUT,
  type VitData,
  vitAttention,
  vitMnist,
  vitPatchify,
} from "../src/index.js";
import { expectSameBits } from "./helpers/sameBits.js";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DATA_DIR = process.env.GRADGRAPH_DATA_DIR ?? path.resolve(REPO_ROOT, "../shared/datasets");
const haveMnist = existsSync(path.join(DATA_DIR, "mnist"));

/** `n` images of pseudo-random pixels in [0, 1). */
function images(n: number, salt = 0): Tensor {
  return new Tensor(
    [n, 784],
    Float32Array.from({ length: n * 784 }, (_, i) => (((i + salt) * 2654435761) % 1000) / 1000),
  );
}

describe("vit-mnist: patches", () => {
  it("patch 4i+j holds rows 7i..7i+6 and columns 7j..7j+6 of the image, row-major", () => {
    const b = new GraphBuilder();
    const x = b.input("x", ["N", 784]);
    b.output("p", vitPatchify(b, x));
    const g = b.build();
    expect(g.nodes[g.outputs.p!]!.shape).toEqual(["N", 16, 49]);
    const x2 = new Tensor(
      [2, 784],
      Float32Array.from({ length: 2 * 784 }, (_, i) => i),
    );
    const out = compile(g).run({ x: x2 }).p!;
    expect(out.shape).toEqual([2, 16, 49]);
    for (let n = 0; n < 2; n++) {
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          for (let r = 0; r < 7; r++) {
            for (let c = 0; c < 7; c++) {
              const got = out.data[n * 784 + (4 * i + j) * 49 + 7 * r + c];
              expect(got).toBe(n * 784 + (7 * i + r) * 28 + 7 * j + c);
            }
          }
        }
      }
    }
  });

  it("refuses anything but [N, 784]", () => {
    const b = new GraphBuilder();
    expect(() => vitPatchify(b, b.input("x", ["N", 28, 28]))).toThrow(
      /vitPatchify: expects images \[N, 784\], got \[N, 28, 28\]/,
    );
  });
});

describe("vit-mnist: the network", () => {
  it("mean pooling: the params of the patch embedding, positions, blocks and head; attention over 16 tokens", () => {
    const m = vitMnist.build({ depth: 2 });
    expect(m.params.get("embed/W").shape).toEqual([49, 64]);
    expect(m.params.get("pos/E").shape).toEqual([16, 64]);
    expect(m.params.get("block1/attn/Wq").shape).toEqual([64, 64]);
    expect(m.params.get("block2/mlp1/W").shape).toEqual([64, 128]);
    expect(m.params.get("ln/gamma").shape).toEqual([64]);
    expect(m.params.get("head/W").shape).toEqual([64, 10]);
    expect(m.params.names()).not.toContain("cls/E");
    expect(m.params.names().some((n) => n.startsWith("block3/"))).toBe(false);
    // embedding 49·64+64, positions 16·64, per block 4·(64·64+64) + 2·2·64 + 64·128+128 + 128·64+64,
    // final layer norm 2·64, head 64·10+10
    const block = 4 * (64 * 64 + 64) + 4 * 64 + (64 * 128 + 128) + (128 * 64 + 64);
    expect(m.parameterCount).toBe(49 * 64 + 64 + 16 * 64 + 2 * block + 2 * 64 + 64 * 10 + 10);
    const x = images(3);
    const p = m.predict(x);
    expect(p.shape).toEqual([3, 10]);
    for (let i = 0; i < 3; i++) {
      let s = 0;
      for (let k = 0; k < 10; k++) s += p.data[i * 10 + k]!;
      expect(s).toBeCloseTo(1, 5);
    }
    const a = vitAttention(m, x);
    expect(a.weights.shape).toEqual([3, 4, 16, 16]);
    expect(a.patches.shape).toEqual([3, 4, 16]);
    for (let r = 0; r < 3 * 4 * 16; r++) {
      let s = 0;
      for (let k = 0; k < 16; k++) s += a.weights.data[r * 16 + k]!;
      expect(s).toBeCloseTo(1, 5);
    }
    // the mean over the queries: column means of each head's weights
    for (let h = 0; h < 4; h++) {
      for (let j = 0; j < 16; j++) {
        let s = 0;
        for (let q = 0; q < 16; q++) s += a.weights.data[(h * 16 + q) * 16 + j]!;
        expect(a.patches.data[h * 16 + j]).toBeCloseTo(s / 16, 6);
      }
    }
  });

  it("class-token pooling: 17 tokens; the picture is the class token's row without itself, renormalised", () => {
    const m = vitMnist.build({ pool: "cls", depth: 1, width: 32, heads: 2, mlpDim: 64, activation: "gelu" });
    expect(m.params.get("cls/E").shape).toEqual([1, 1, 32]);
    const x = images(2, 7);
    const a = vitAttention(m, x);
    expect(a.weights.shape).toEqual([2, 2, 17, 17]);
    expect(a.patches.shape).toEqual([2, 2, 16]);
    for (let i = 0; i < 4; i++) {
      const row = a.weights.data.subarray(i * 17 * 17, i * 17 * 17 + 17);
      const rest = 1 - row[0]!;
      for (let j = 0; j < 16; j++) expect(a.patches.data[i * 16 + j]).toBeCloseTo(row[j + 1]! / rest, 5);
    }
    expect(m.predict(x).shape).toEqual([2, 10]);
  });

  it("vitAttention needs the attention output", () => {
    const model = Model.define((b) => {
      const x = b.input("x", ["N", 784]);
      const y = b.input("y", ["N", 10]);
      const p = b.softmax(b.matmul(x, b.param("W", [784, 10])));
      return { input: x, target: y, predictions: p, loss: b.sum(b.square(b.sub(p, y))) };
    });
    expect(() => vitAttention(model, Tensor.zeros([1, 784]))).toThrow(
      new RegExp(`no '${VIT_ATTENTION_OUTPUT}' output`),
    );
  });

  it("names a bad hyperparameter", () => {
    expect(() => vitMnist.build({ heads: 3 })).toThrow(/heads \(3\) must divide width \(64\)/);
    expect(() => vitMnist.build({ pool: "max" as never })).toThrow(
      /pool must be one of mean, cls, got 'max'/,
    );
    expect(() => vitMnist.build({ activation: "relu" as never })).toThrow(
      /activation must be one of gelu, gelu-tanh, got 'relu'/,
    );
    expect(() => vitMnist.build({ depth: 0 })).toThrow(/depth/);
    expect(() => vitMnist.build({ shift: 28 })).toThrow(/shift must be below 28/);
    expect(() => vitMnist.build({ weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => vitMnist.build({ width: 64, heads: 4, mlpDim: 1.5 })).toThrow(/mlpDim/);
  });
});

/** The first `n` rows of a data set (views). */
function head(set: LabeledData, n: number): LabeledData {
  return { x: new Tensor([n, 784], set.x.data.subarray(0, n * 784)), y: set.y.subarray(0, n) };
}

describe.runIf(haveMnist)("vit-mnist on a small MNIST subset", () => {
  let small: VitData;
  beforeAll(async () => {
    const d = await loadMnist({ dir: DATA_DIR, split: "train-validation-test", trainSize: 1000 });
    small = { train: d.train, validation: head(d.validation, 200), test: head(d.test, 300) };
  });

  it("two epochs on 1,000 images: above chance; the same seed gives the same bits, another seed does not", async () => {
    const o = { depth: 2, epochs: 2, batchSize: 50, warmupSteps: 4, seed: 3 };
    const epochs: number[] = [];
    const a = await vitMnist.run(small, o, { onEpochEnd: (e) => epochs.push(e) });
    const b = await vitMnist.run(small, o);
    const c = await vitMnist.run(small, { ...o, seed: 4 });
    expect(epochs).toEqual([0, 1]);
    expect(a.history.steps).toBe(40);
    expect(a.history.loss).toHaveLength(2);
    expect(a.history.valMetrics.accuracy).toHaveLength(2);
    expect(a.test.outputs.shape).toEqual([300, 10]);
    expect(a.test.predicted).toHaveLength(300);
    // chance is 0.1
    expect(a.test.accuracy).toBeGreaterThan(0.4);
    expect(a.validationAccuracy).toBeGreaterThan(0.4);
    expect(a.test.loss).toBeLessThan(Math.log(10));
    let right = 0;
    for (let i = 0; i < 300; i++) if (a.test.predicted[i] === small.test.y[i]) right++;
    expect(a.test.accuracy).toBe(right / 300);
    expect(a.log[0]).toMatch(/^ViT: 16 patches of 7x7, width 64, 2 blocks of 4 heads/);
    expect(a.log.at(-1)).toBe(`test accuracy: ${a.test.accuracy}`);
    expectSameBits(b, a);
    expect(c.history.loss).not.toEqual(a.history.loss);
    expect(Array.from(c.model.params.get("pos/E").data)).not.toEqual(
      Array.from(a.model.params.get("pos/E").data),
    );
  }, 300_000);
});
