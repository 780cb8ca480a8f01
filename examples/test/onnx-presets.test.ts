/**
 * `--onnx <file>` on every preset example: a short run of each writes its trained model as ONNX,
 * ONNX Runtime (onnxruntime-node, CPU) runs the file on the preset's test images (the first 1,000
 * for MNIST), and the results match gradgraph's own predictions from the `model.ggm` the same run
 * saved: the same predicted class for every image, and every output within 1e-5, scaled as
 * |a − e| / (|e| + 1e-6). Also: the option's validation, and the `onnx` field of `--json`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DType, Tensor } from "@gradgraph/core";
import { makeMoons } from "@gradgraph/datasets";
import { loadDigits, loadMnist } from "@gradgraph/datasets/node";
import { Model } from "@gradgraph/models";
import { loadModel, loadPresetData } from "@gradgraph/models/node";
import { describe, expect, test } from "vitest";
import { checkOnnxPath, EXIT, main } from "../src/cli.js";
import { EXAMPLES } from "../src/registry.js";
import { DATA_DIR, runCli, tempOut } from "./helpers.js";
import { recordRuns, runJson } from "./mnist-helpers.js";
import { argmaxRows, differences, maxScaledError, openOrt } from "./onnx-helpers.js";

/** Where each case's test rows come from. */
type Data = "moons" | "digits" | "ng-ex4" | "mnist";

/** One short preset run. */
interface Case {
  readonly example: string;
  readonly args: readonly string[];
  readonly data: Data;
}

/** Outputs are compared as |a − e| / (|e| + floor): relative above this floor, absolute below it. */
const FLOOR = 1e-6;

const MNIST_QUICK = ["--epochs", "1", "--train-size", "300"];

const CASES: readonly Case[] = [
  { example: "moons", args: ["--hidden", "3", "--epochs", "50"], data: "moons" },
  { example: "digits", args: ["--epochs", "2"], data: "digits" },
  { example: "nielsen", args: MNIST_QUICK, data: "mnist" },
  { example: "ng-ex4", args: ["--epochs", "2"], data: "ng-ex4" },
  { example: "relu-softmax", args: MNIST_QUICK, data: "mnist" },
  { example: "lenet", args: MNIST_QUICK, data: "mnist" },
  { example: "lenet", args: ["--arch", "bn", ...MNIST_QUICK], data: "mnist" },
  { example: "rnn", args: ["--hidden", "16", ...MNIST_QUICK], data: "mnist" },
  { example: "rnn", args: ["--cell", "lstm", "--hidden", "16", ...MNIST_QUICK], data: "mnist" },
  { example: "vit", args: MNIST_QUICK, data: "mnist" },
  { example: "vit", args: ["--arch", "cls", ...MNIST_QUICK], data: "mnist" },
];

/** MNIST test images the check runs. */
const MNIST_ROWS = 1000;

const haveData: Record<Data, boolean> = {
  moons: true,
  digits: existsSync(join(DATA_DIR, "sklearn-digits")),
  "ng-ex4": existsSync(join(DATA_DIR, "mnist")),
  mnist: existsSync(join(DATA_DIR, "mnist")),
};

/** The first `n` rows of a sample-major tensor. */
function firstRows(x: Tensor, n: number): Tensor {
  const rows = Math.min(n, x.shape[0]!);
  const per = x.size / x.shape[0]!;
  return new Tensor([rows, ...x.shape.slice(1)], x.data.slice(0, rows * per));
}

/** A `[a, b]` tensor transposed. */
function transpose2(t: Tensor): Tensor {
  const [a, b] = t.shape as [number, number];
  const out = t.dtype === "float64" ? new Float64Array(a * b) : new Float32Array(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = t.data[i * b + j]!;
  return new Tensor([b, a], out);
}

/** The check's input rows, sample-major (`[n, features]`), in `dtype`. */
async function testRows(data: Data, dtype: DType): Promise<Tensor> {
  let x: Tensor;
  if (data === "moons")
    x = makeMoons({ nSamples: 500, noise: 0.2, seed: 1, numpy: true, dtype: "float64" }).x;
  else if (data === "digits") {
    // the preset's scaling of the whole set (values 0..16 to [0, 1]); its test split is a random quarter of these
    const d = await loadDigits({ dir: DATA_DIR });
    x = new Tensor(
      [d.x.shape[0]!, 64],
      Float64Array.from(d.x.data, (v) => v / 16),
    );
  } else if (data === "ng-ex4") x = firstRows((await loadPresetData("ng-ex4", { dir: DATA_DIR })).x, 2000);
  else
    x = firstRows((await loadMnist({ dir: DATA_DIR, split: "train-test", trainSize: 1 })).test.x, MNIST_ROWS);
  if (x.rank !== 2) x = x.reshape([x.shape[0]!, x.size / x.shape[0]!]);
  return x.dtype === dtype ? x : x.astype(dtype);
}

describe("--onnx: every preset's trained model runs in ONNX Runtime with gradgraph's predictions", () => {
  test("every preset example has a case here", () => {
    const presets = EXAMPLES.filter((d) => d.preset !== undefined).map((d) => d.name);
    expect(presets.length).toBeGreaterThanOrEqual(8);
    for (const name of presets) expect(CASES.map((c) => c.example)).toContain(name);
    for (const def of EXAMPLES) expect(def.options.includes("onnx")).toBe(def.preset !== undefined);
  });

  for (const c of CASES) {
    test.skipIf(!haveData[c.data])(
      `${c.example} ${c.args.join(" ")}`,
      async () => {
        const out = tempOut(`onnx-${c.example}`);
        const file = join(out, "onnx", "model.onnx"); // a directory the run creates
        const { r, j } = await runJson([c.example, ...c.args, "--onnx", file], out);
        const bytes = readFileSync(file);
        expect(j.onnx).toEqual({ path: file, bytes: bytes.length });
        expect(r.stdout).toContain(`ONNX: wrote ${file} (${bytes.length.toLocaleString("en-US")} bytes; x [`);

        // gradgraph's predictions: the model.ggm of the same run
        const saved = await loadModel(join(out, "model.ggm"));
        const model = new Model(saved.graph, { params: saved.params });
        const dtype = saved.graph.nodes[saved.graph.inputs[model.input]!]!.dtype;
        const x = await testRows(c.data, dtype);
        const expected = model.predict(x);

        const session = await openOrt(bytes);
        try {
          expect(session.inputs).toEqual([model.input]);
          expect(session.outputs).toEqual([model.predictions]);
          const column = model.convention === "column";
          const got = (await session.run({ [model.input]: column ? transpose2(x) : x }))[model.predictions]!;
          const actual = column ? transpose2(got) : got;
          expect(actual.shape).toEqual(expected.shape);
          expect(actual.dtype).toBe(expected.dtype);
          expect(differences(argmaxRows(actual), argmaxRows(expected))).toEqual([]);
          expect(maxScaledError(actual, expected, FLOOR)).toBeLessThanOrEqual(1e-5);
        } finally {
          await session.release();
        }
      },
      120_000,
    );
  }
});

describe("--onnx: the option", () => {
  test("every preset takes --onnx <file>; an empty name or a directory name is a usage error", async () => {
    const { io, seen, err } = recordRuns((name, options) => ({ name, onnx: options.onnx }));
    expect(await main(["moons", "--onnx", "out/m.onnx"], io)).toBe(EXIT.ok);
    expect(await main(["lenet-mnist", "--onnx", "m.onnx"], io)).toBe(EXIT.ok);
    expect(await main(["moons"], io)).toBe(EXIT.ok);
    expect(seen).toEqual([
      { name: "moons", onnx: "out/m.onnx" },
      { name: "lenet", onnx: "m.onnx" },
      { name: "moons", onnx: undefined },
    ]);
    expect(await main(["moons", "--onnx", ""], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--onnx <file>.*expected a file name, got an empty string/);
    expect(await main(["digits", "--onnx", "out/"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/--onnx <file>.*expected a file name, got the directory "out\/"/);
    expect(await main(["scalar", "--onnx", "s.onnx"], io)).toBe(EXIT.usage);
    expect(err()).toMatch(/unknown option '--onnx'/);
    expect(seen).toHaveLength(3);
  });

  test("the file's directory is checked before anything runs", async () => {
    const dir = tempOut("onnx-path");
    expect(await checkOnnxPath(join(dir, "new", "m.onnx"))).toBeNull();
    mkdirSync(join(dir, "taken"));
    expect(await checkOnnxPath(join(dir, "taken"))).toBe("is a directory, not a file name");
    writeFileSync(join(dir, "file"), "x");
    expect(await checkOnnxPath(join(dir, "file", "m.onnx"))).toMatch(
      /cannot create the output directory '.*file'/,
    );
    const r = await runCli(["moons", "--hidden", "3", "--onnx", join(dir, "taken"), "--out", dir]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain(`pnpm example moons: --onnx '${join(dir, "taken")}': is a directory`);
    expect(r.stdout).not.toContain("Build a model"); // nothing ran
  });
});
