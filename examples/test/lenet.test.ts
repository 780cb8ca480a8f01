/**
 * `pnpm example lenet` with small settings (a few hundred training images, one epoch): its lines,
 * the JSON summary, every chart (curves, confusion matrix, digit grid, first-layer filters and
 * feature maps) and the saved model; `--arch` validation; and the preset's determinism (same seed,
 * same bits; another seed, other weights) for both architectures. The full default run (about
 * 99% test accuracy) is too long for a test: examples/README.md gives its command and figures.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Tensor } from "@gradgraph/core";
import type { LabeledData } from "@gradgraph/datasets";
import { loadMnist } from "@gradgraph/datasets/node";
import {
  LENET_ARCHS,
  LENET_FEATURES_OUTPUT,
  type LenetArch,
  type LenetData,
  lenetFeatureMaps,
  lenetMnist,
  Model,
  translateImage,
} from "@gradgraph/models";
import { beforeAll, describe, expect, test } from "vitest";
import { EXIT, main } from "../src/cli.js";
import { featureMapsChart, filtersChart, heatmapGridChart } from "../src/plots.js";
import { findExample, LENET_ARCH_NAMES } from "../src/registry.js";
import { checkChart, DATA_DIR, marks, readJson, tempOut } from "./helpers.js";
import { checkMnistRun, recordRuns, runJson, savedModelPrediction } from "./mnist-helpers.js";

const haveMnist = existsSync(join(DATA_DIR, "mnist"));

describe("lenet: options", () => {
  test("the CLI offers the preset's architectures and defaults", () => {
    expect([...LENET_ARCH_NAMES]).toEqual([...LENET_ARCHS]);
    const def = findExample("lenet")!;
    expect(def.preset).toBe("lenet-mnist");
    expect(def.defaults).toEqual({
      arch: lenetMnist.defaults.arch,
      epochs: lenetMnist.defaults.epochs,
      lr: lenetMnist.defaults.lr,
      batchSize: lenetMnist.defaults.batchSize,
      seed: lenetMnist.defaults.seed,
    });
  });

  test("--arch takes lenet5 or bn; anything else is a usage error naming the choices", async () => {
    const { io, seen, err } = recordRuns((_name, options) => options.arch);
    expect(await main(["lenet"], io)).toBe(EXIT.ok);
    expect(await main(["lenet", "--arch", "bn"], io)).toBe(EXIT.ok);
    expect(seen).toEqual(["lenet5", "bn"]);
    expect(await main(["lenet", "--arch", "resnet"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--arch <name>.*expected one of lenet5, bn, got "resnet"/);
    expect(seen).toHaveLength(2);
  });

  test("the preset refuses an unknown architecture or schedule", async () => {
    const empty = { x: Tensor.zeros([0, 784]), y: new Uint8Array(0) };
    const data = { train: empty, validation: empty, test: empty };
    await expect(lenetMnist.run(data, { arch: "vgg" as LenetArch })).rejects.toThrow(
      /arch must be one of lenet5, bn, got 'vgg'/,
    );
    await expect(lenetMnist.run(data, { schedule: "step" as never })).rejects.toThrow(
      /schedule must be one of/,
    );
  });
});

describe("lenet: random shifts", () => {
  test("translateImage moves an image by whole pixels and fills the rest with 0", () => {
    // a 3x4 image 1..12
    const src = Float32Array.from({ length: 12 }, (_, i) => i + 1);
    const dst = new Float32Array(12).fill(-1);
    translateImage(src, dst, 3, 4, 1, -1); // one row down, one column left
    expect(Array.from(dst)).toEqual([0, 0, 0, 0, 2, 3, 4, 0, 6, 7, 8, 0]);
    translateImage(src, dst, 3, 4, 0, 0);
    expect(Array.from(dst)).toEqual(Array.from(src));
    translateImage(src, dst, 3, 4, -2, 3);
    expect(Array.from(dst)).toEqual([0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
    translateImage(src, dst, 3, 4, 3, 0);
    expect(Array.from(dst)).toEqual(new Array(12).fill(0));
    expect(() => translateImage(src, new Float32Array(11), 3, 4, 0, 0)).toThrow(/needs 12 values/);
  });

  test("the preset refuses a shift that is negative, fractional or a whole image", async () => {
    const empty = { x: Tensor.zeros([0, 784]), y: new Uint8Array(0) };
    const data = { train: empty, validation: empty, test: empty };
    await expect(lenetMnist.run(data, { shift: -1 })).rejects.toThrow(/shift must be an integer >= 0/);
    await expect(lenetMnist.run(data, { shift: 1.5 })).rejects.toThrow(/shift must be an integer >= 0/);
    await expect(lenetMnist.run(data, { shift: 28 })).rejects.toThrow(/shift must be below 28/);
  });
});

describe("lenet: charts of filters and feature maps", () => {
  test("one framed, labelled panel per filter; per channel when there are several", () => {
    const w = Array.from({ length: 6 * 25 }, (_, i) => Math.sin(i));
    const spec = JSON.stringify(filtersChart(w, [6, 1, 5, 5], { title: "t" }));
    expect(spec).toContain("6 filters of 5x5");
    const two = filtersChart(
      Array.from({ length: 3 * 2 * 9 }, (_, i) => i - 20),
      [3, 2, 3, 3],
    ) as unknown as { layer: { data: { values: unknown[] } }[] };
    expect(two.layer[1]!.data.values).toHaveLength(6); // frames
    expect((two.layer[2]!.data.values as { text: string }[]).map((l) => l.text)).toEqual([
      "1.1",
      "1.2",
      "2.1",
      "2.2",
      "3.1",
      "3.2",
    ]);
    expect(() => filtersChart([1, 2, 3], [1, 1, 2, 2])).toThrow(/3 weights for the shape \[1, 1, 2, 2\]/);
  });

  test("feature maps: the input, then one panel per channel; a wrong size throws", () => {
    const image = Array.from({ length: 16 }, (_, i) => i / 15);
    const maps = Array.from({ length: 3 * 4 * 4 }, (_, i) => (i % 7) - 2);
    const spec = featureMapsChart(image, { width: 4, height: 4 }, maps, [3, 4, 4]) as unknown as {
      layer: { data: { values: { text?: string }[] } }[];
    };
    expect(spec.layer[2]!.data.values.map((l) => l.text)).toEqual(["input", "map 1", "map 2", "map 3"]);
    expect(() => featureMapsChart(image, { width: 4, height: 4 }, maps, [2, 4, 4])).toThrow(
      /48 values for the maps \[2, 4, 4\]/,
    );
    expect(() => heatmapGridChart([{ title: "a", values: [1, 2], width: 2, height: 2 }])).toThrow(
      /panel 'a' has 2 values for 2x2 cells/,
    );
  });

  test("a diverging panel colours negative blue and positive red around a white 0", () => {
    const spec = heatmapGridChart([{ title: "w", values: [-1, 0, 1], width: 3, height: 1 }], {
      scale: "diverging",
    }) as unknown as { layer: { data: { values: { fill: string; x: number }[] } }[] };
    const cells = spec.layer[0]!.data.values;
    // the 0 cell is left to the white background
    expect(cells.map((c) => [c.x, c.fill])).toEqual([
      [0, "#2166ac"],
      [2, "#b2182b"],
    ]);
  });
});

/** The first `n` rows of a data set (views). */
function head(set: LabeledData, n: number): LabeledData {
  return { x: new Tensor([n, 784], set.x.data.subarray(0, n * 784)), y: set.y.subarray(0, n) };
}

describe.runIf(haveMnist)("lenet on MNIST", () => {
  let small: LenetData;
  beforeAll(async () => {
    const d = await loadMnist({ dir: DATA_DIR, split: "train-validation-test", trainSize: 256 });
    small = { train: d.train, validation: head(d.validation, 200), test: head(d.test, 200) };
  });

  test.each(LENET_ARCHS.map((a) => [a]))(
    "%s: the same seed gives the same weights, history and predictions to the bit; another seed does not",
    async (arch) => {
      const o = { arch, epochs: 2, batchSize: 64, seed: 5 };
      const a = await lenetMnist.run(small, o);
      const b = await lenetMnist.run(small, o);
      const c = await lenetMnist.run(small, { ...o, seed: 6 });
      expect(a.history.loss).toHaveLength(2);
      expect(b.history.loss).toEqual(a.history.loss);
      expect(b.history.valLoss).toEqual(a.history.valLoss);
      expect(Array.from(b.test.outputs.data)).toEqual(Array.from(a.test.outputs.data));
      for (const name of a.model.params.names()) {
        expect([name, Array.from(b.model.params.get(name).data)]).toEqual([
          name,
          Array.from(a.model.params.get(name).data),
        ]);
      }
      expect(c.history.loss).not.toEqual(a.history.loss);
      expect(Array.from(c.filters.weights.data)).not.toEqual(Array.from(a.filters.weights.data));
      // the filters are a copy of the first layer's weights, [filters, 1, kh, kw]
      expect(Array.from(a.filters.weights.data)).toEqual(Array.from(a.model.params.get("conv1/W").data));
      expect(a.filters.weights.shape).toEqual(arch === "lenet5" ? [6, 1, 5, 5] : [8, 1, 3, 3]);
      const maps = lenetFeatureMaps(a.model, head(small.test, 3).x);
      expect(maps.shape).toEqual(arch === "lenet5" ? [3, 6, 28, 28] : [3, 8, 28, 28]);
      // after a ReLU
      expect(Math.min(...maps.data)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...maps.data)).toBeGreaterThan(0);
    },
  );

  test("lenetFeatureMaps needs the features output", () => {
    const model = Model.define((b) => {
      const x = b.input("x", ["N", 784]);
      const y = b.input("y", ["N", 10]);
      const p = b.softmax(b.matmul(x, b.param("W", [784, 10])));
      return { input: x, target: y, predictions: p, loss: b.sum(b.square(b.sub(p, y))) };
    });
    expect(() => lenetFeatureMaps(model, Tensor.zeros([1, 784]))).toThrow(
      new RegExp(`no '${LENET_FEATURES_OUTPUT}' output`),
    );
  });

  test("pnpm example lenet: one epoch on 500 images writes every chart, the model and the JSON summary", async () => {
    const out = tempOut("lenet");
    const { r, j } = await runJson(["lenet", "--epochs", "1", "--train-size", "500", "--seed", "3"], out);
    const m = checkMnistRun(r, j, out, { example: "lenet", preset: "lenet-mnist", params: 61706 });
    expect(r.stdout).toMatch(/lenet5: 61706 params; 1 epochs of 8 batches of 64/);
    expect(j.hyper).toEqual({
      preset: "lenet-mnist",
      arch: "lenet5",
      epochs: 1,
      batchSize: 64,
      lr: 0.002,
      schedule: "cosine",
      shift: 2,
      seed: 3,
      trainSize: 500,
    });
    // one epoch on 500 images is far from converged, but above chance (0.1)
    expect(m.testAccuracy).toBeGreaterThan(0.15);
    const filters = checkChart(out, "filters");
    expect(filters).toContain("6 filters of 5x5");
    expect(marks(filters, "text mark")).toBe(6); // one label per panel
    const features = checkChart(out, "feature-maps");
    expect(features).toMatch(/feature maps of test image 0 \(true 7, predicted \d\)/);
    expect(marks(features, "text mark")).toBe(7); // the input and 6 maps
    const metrics = readJson(join(out, "metrics.json"));
    expect(metrics.featureMaps).toMatchObject({ testImage: 0, actual: 7, shape: [6, 28, 28] });
    // the saved model, loaded back, predicts for test image 0 the class the feature-map chart names
    const saved = await savedModelPrediction(out, small.test.x.data.slice(0, 784) as Float32Array);
    expect(saved.outputs).toContain(LENET_FEATURES_OUTPUT);
    expect(saved.predicted).toBe((metrics.featureMaps as { predicted: number }).predicted);
  });
});
