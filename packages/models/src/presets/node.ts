/**
 * Node-only glue for the presets: loading each preset's data files with `@gradgraph/datasets/node`
 * (the `dir` option, else `GRADGRAPH_DATA_DIR`, else the per-user cache, downloading what is missing),
 * then running the preset. Re-exported by `@gradgraph/models/node`.
 * @module
 */
import type { DType } from "@gradgraph/core";
import type { Ex4Weights } from "@gradgraph/datasets";
import { type LoadOptions, loadDigits, loadEx4, loadEx4Weights, loadMnist } from "@gradgraph/datasets/node";
import {
  evaluatePretrained,
  getPreset,
  type NgPretrainedEvaluation,
  type PresetDataOf,
  type PresetHooks,
  type PresetHyperOf,
  type PresetName,
  type PresetResultOf,
} from "./index.js";

/** Options of {@link loadPresetData}: where the files are, plus a few per-data-set choices. */
export interface PresetLoadOptions extends LoadOptions {
  /** Path of the course's `ex4data1.mat` for `"ng-ex4"` (default: the MNIST-derived substitute). */
  ex4Path?: string;
  /** Path of `ex4weights.mat` (default: the data directory, or a download). */
  ex4WeightsPath?: string;
  /** Element type of the loaded images (default float32). */
  dtype?: DType;
}

/**
 * Loads the data preset `name` trains on: the digits (raw, the preset scales and splits them),
 * MNIST (`{ train, test }` for Nielsen, `{ train, validation, test }` for the relu/softmax network
 * LeNet and the RNN),
 * the ex4 digits, or nothing for `"moons"` (its points are generated from the hyperparameters).
 */
export async function loadPresetData<N extends PresetName>(
  name: N,
  options: PresetLoadOptions = {},
): Promise<PresetDataOf<N>> {
  getPreset(name);
  const { ex4Path, ex4WeightsPath: _w, ...load } = options;
  let data: unknown;
  switch (name as PresetName) {
    case "digits-sigmoid":
      data = await loadDigits(load);
      break;
    case "moons":
      data = undefined;
      break;
    case "nielsen-mnist":
    case "relu-softmax-mnist":
    case "lenet-mnist":
    case "rnn-mnist":
    case "vit-mnist":
      data = await loadMnist({ ...load, split: "train-validation-test" });
      break;
    case "ng-ex4":
      data = await loadEx4(ex4Path === undefined ? load : { ...load, path: ex4Path });
      break;
  }
  return data as PresetDataOf<N>;
}

/** Loads the data of preset `name` ({@link loadPresetData}) and runs it. */
export async function runPreset<N extends PresetName>(
  name: N,
  overrides?: Partial<PresetHyperOf<N>>,
  hooks?: PresetHooks,
  options: PresetLoadOptions = {},
): Promise<PresetResultOf<N>> {
  const preset = getPreset(name) as unknown as {
    run(data: unknown, o?: object, h?: PresetHooks): Promise<PresetResultOf<N>>;
  };
  const data = await loadPresetData(name, options);
  return preset.run(data, overrides, hooks);
}

/** Loads the course's pretrained ex4 weights (`ex4weights.mat`), in float64 unless `dtype` says otherwise. */
export function loadNgPretrainedWeights(options: PresetLoadOptions = {}): Promise<Ex4Weights> {
  const { ex4Path: _p, ex4WeightsPath, dtype, ...rest } = options;
  const load = { ...rest, dtype: dtype ?? "float64" };
  return loadEx4Weights(ex4WeightsPath === undefined ? load : { ...load, path: ex4WeightsPath });
}

/**
 * Ng's pretrained-weights check on files: loads `ex4weights.mat` and the ex4 data (the course's file
 * when `ex4Path` is given, else the MNIST-derived substitute), in float64 by default, and runs
 * {@link evaluatePretrained}.
 */
export async function evaluateNgPretrained(
  options: PresetLoadOptions & { lambdas?: readonly number[] } = {},
): Promise<NgPretrainedEvaluation> {
  const { lambdas, ...rest } = options;
  // float64 throughout, as in the course, so that the costs are exact to the printed digits
  const load = { ...rest, dtype: rest.dtype ?? "float64" };
  const [weights, data] = await Promise.all([loadNgPretrainedWeights(load), loadPresetData("ng-ex4", load)]);
  return evaluatePretrained(weights, data, lambdas ? { lambdas } : {});
}
