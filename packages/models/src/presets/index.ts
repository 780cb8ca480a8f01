/**
 * The tutorial presets: each of the five networks in `SEEDS.md`, rebuilt from graph nodes with
 * gradients from autograd, with the tutorial's hyperparameters as defaults; and `"lenet-mnist"`, a
 * LeNet-5-style convolutional network on MNIST; `"rnn-mnist"`, a GRU or LSTM reading MNIST row by
 * row; `"vit-mnist"`, a small vision transformer on MNIST. Presets take data that is already loaded (so they run in browsers); the Node entry `@gradgraph/models/node` adds
 * `loadPresetData` and `runPreset`, which fetch the files first.
 * @module
 */
import { digitsSigmoid } from "./digits.js";
import { lenetMnist } from "./lenet.js";
import { moons } from "./moons.js";
import { ngEx4 } from "./ng-ex4.js";
import { nielsenMnist } from "./nielsen.js";
import { reluSoftmaxMnist } from "./relu-softmax.js";
import { rnnMnist } from "./rnn.js";
import type { Preset } from "./types.js";
import { vitMnist } from "./vit.js";

export {
  type DigitsSigmoidHyper,
  type DigitsSigmoidResult,
  type DigitsSplit,
  digitsSigmoid,
  prepareDigits,
} from "./digits.js";
export {
  LENET_ARCHS,
  LENET_FEATURES_OUTPUT,
  LENET_SCHEDULES,
  type LenetArch,
  type LenetData,
  type LenetFilters,
  type LenetHyper,
  type LenetResult,
  type LenetSchedule,
  lenetFeatureMaps,
  lenetMnist,
  translateImage,
} from "./lenet.js";
export {
  type DecisionGrid,
  decisionGrid,
  type LogisticBaseline,
  type LogisticOptions,
  logisticRegressionCV,
  type MoonsHyper,
  type MoonsModel,
  type MoonsResult,
  moons,
  moonsData,
  predictGrid,
  stratifiedFolds,
} from "./moons.js";
export {
  checkGradients,
  type Ex4WeightsLike,
  evaluatePretrained,
  ex4ClassIndices,
  type NgEx4Hyper,
  type NgEx4Result,
  type NgGradientCheck,
  type NgGradientCheckOptions,
  type NgPretrainedEvaluation,
  ngEx4,
  ngNetwork,
} from "./ng-ex4.js";
export { type NielsenData, type NielsenHyper, type NielsenResult, nielsenMnist } from "./nielsen.js";
export {
  type ReluSoftmaxData,
  type ReluSoftmaxHyper,
  type ReluSoftmaxResult,
  reluSoftmaxMnist,
} from "./relu-softmax.js";
export {
  RNN_CELLS,
  RNN_SCHEDULES,
  type RnnCell,
  type RnnData,
  type RnnHyper,
  type RnnResult,
  type RnnSchedule,
  rnnMnist,
  rnnRowProbabilities,
} from "./rnn.js";
export type {
  BatchProgress,
  ClassPredictions,
  Preset,
  PresetCredit,
  PresetHooks,
  PresetRunBase,
  StopSignal,
  TrainedModel,
} from "./types.js";
export {
  VIT_ACTIVATIONS,
  VIT_ATTENTION_OUTPUT,
  VIT_GRID,
  VIT_PATCH,
  VIT_POOLS,
  type VitActivation,
  type VitAttention,
  type VitData,
  type VitHyper,
  type VitPool,
  type VitResult,
  vitAttention,
  vitMnist,
  vitPatchify,
} from "./vit.js";

/** Every preset by name. */
export const PRESETS = {
  "digits-sigmoid": digitsSigmoid,
  moons,
  "nielsen-mnist": nielsenMnist,
  "ng-ex4": ngEx4,
  "relu-softmax-mnist": reluSoftmaxMnist,
  "lenet-mnist": lenetMnist,
  "rnn-mnist": rnnMnist,
  "vit-mnist": vitMnist,
} as const;

/** The registry's type. */
export type Presets = typeof PRESETS;

/**
 * A preset name: `"digits-sigmoid"`, `"moons"`, `"nielsen-mnist"`, `"ng-ex4"`, `"relu-softmax-mnist"`,
 * `"lenet-mnist"`, `"rnn-mnist"` or `"vit-mnist"`.
 */
export type PresetName = keyof Presets;

/** The hyperparameters of preset `N`. */
export type PresetHyperOf<N extends PresetName> =
  Presets[N] extends Preset<infer H, infer _D, infer _R> ? H : never;

/** The data preset `N`'s `run` takes. */
export type PresetDataOf<N extends PresetName> =
  Presets[N] extends Preset<infer _H, infer D, infer _R> ? D : never;

/** What preset `N`'s `run` returns. */
export type PresetResultOf<N extends PresetName> =
  Presets[N] extends Preset<infer _H, infer _D, infer R> ? R : never;

/** The preset names: the five of `SEEDS.md` in its order, then `"lenet-mnist"`, `"rnn-mnist"` and `"vit-mnist"`. */
export const PRESET_NAMES: readonly PresetName[] = Object.freeze(Object.keys(PRESETS) as PresetName[]);

/** True when `name` is a preset name. */
export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

/** The preset called `name`; throws a RangeError listing the names when there is none. */
export function getPreset<N extends PresetName>(name: N): Presets[N] {
  if (!isPresetName(name)) {
    throw new RangeError(`unknown preset '${String(name)}' (presets: ${PRESET_NAMES.join(", ")})`);
  }
  return PRESETS[name];
}
