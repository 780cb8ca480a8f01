/**
 * Helpers of the tests of the MNIST preset examples (lenet, rnn, vit) and of the other examples
 * run through the CLI: a stand-in for the CLI's runner that records what each run receives, a
 * `--json` run, the outputs every MNIST classifier writes, and the saved model's prediction.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tensor } from "@gradgraph/core";
import { Model } from "@gradgraph/models";
import { loadModel } from "@gradgraph/models/node";
import { expect } from "vitest";
import { EXIT, type main } from "../src/cli.js";
import type { ExampleOptions } from "../src/options.js";
import type { ExampleDef } from "../src/registry.js";
import { type CliRun, checkChart, lastJson, marks, readJson, runCli } from "./helpers.js";

/** The io argument of the CLI's `main`. */
export type CliIo = NonNullable<Parameters<typeof main>[1]>;

/** What {@link recordRuns} returns. */
export interface RunRecorder<T> {
  /** Pass as `main`'s io: nothing is written to the terminal and no example runs. */
  readonly io: CliIo;
  /** What `pick` returned for each run, in order. */
  readonly seen: T[];
  /** The usage errors written so far. */
  err(): string;
}

/**
 * An io for the CLI's `main` that runs no example: it records `pick(example name, options)` for
 * each run `main` would start, and the text written to stderr.
 */
export function recordRuns<T>(pick: (name: string, options: ExampleOptions) => T): RunRecorder<T> {
  const seen: T[] = [];
  let err = "";
  const io: CliIo = {
    writeOut: () => {},
    writeErr: (s: string) => {
      err += s;
    },
    run: async (def: ExampleDef, options: ExampleOptions) => {
      seen.push(pick(def.name, options));
      return EXIT.ok;
    },
  };
  return { io, seen, err: () => err };
}

/**
 * Runs the CLI with `args` then `--json --out <out>`, expects exit code 0 (showing stderr
 * otherwise) and returns the run and its JSON summary (the last line of stdout).
 */
export async function runJson(
  args: readonly string[],
  out: string,
): Promise<{ r: CliRun; j: Record<string, unknown> }> {
  const r = await runCli([...args, "--json", "--out", out]);
  expect(r.code, r.stderr).toBe(0);
  return { r, j: lastJson(r.stdout) };
}

/**
 * Checks what a one-epoch run of an MNIST classifier preset on 500 training images printed and
 * wrote: the epoch and test lines, the example and preset of the summary, its metrics (one epoch
 * completed, 500 images, `params` parameters, a test accuracy of at most 1 and a positive test
 * loss), the curves (loss and accuracy, train and validation), the 10x10 confusion matrix, the digit
 * grid and history.json. Returns the metrics.
 */
export function checkMnistRun(
  r: CliRun,
  j: Record<string, unknown>,
  out: string,
  expected: { example: string; preset: string; params: number },
): Record<string, number> {
  expect(r.stdout).toMatch(
    /epoch 1\/1: loss [\d.]+, accuracy [\d.]+; validation loss [\d.]+, accuracy [\d.]+/,
  );
  expect(r.stdout).toMatch(/test accuracy: [\d.]+/);
  expect(j.example).toBe(expected.example);
  expect(j.preset).toBe(expected.preset);
  const m = j.metrics as Record<string, number>;
  expect(m.testAccuracy).toBeLessThanOrEqual(1);
  expect(m).toMatchObject({ epochsCompleted: 1, trainSize: 500, params: expected.params });
  expect(m.testLoss).toBeGreaterThan(0);
  expect((j.training as { epochsCompleted: number }).epochsCompleted).toBe(1);
  const history = checkChart(out, "history");
  expect(marks(history, "line mark")).toBe(4); // loss and accuracy, train and validation
  expect(marks(checkChart(out, "confusion-matrix"), "rect mark")).toBe(100);
  expect(checkChart(out, "predictions")).toMatch(/mistakes in red: \d+ of \d+ shown/);
  expect(readJson(join(out, "history.json")).epochs).toBe(1);
  return m;
}

/**
 * Loads `<out>/model.ggm` (checking its magic) and returns its graph's output names and the class
 * the loaded model predicts for the 784 `pixels`.
 */
export async function savedModelPrediction(
  out: string,
  pixels: Float32Array,
): Promise<{ outputs: string[]; predicted: number }> {
  const path = join(out, "model.ggm");
  expect(readFileSync(path).subarray(0, 7).toString("latin1")).toBe("GGMODEL");
  const saved = await loadModel(path);
  const loaded = new Model(saved.graph, { params: saved.params });
  const p = loaded.predict(new Tensor([1, 784], pixels)).data;
  return { outputs: Object.keys(saved.graph.outputs), predicted: Array.from(p).indexOf(Math.max(...p)) };
}
