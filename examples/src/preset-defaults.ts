/**
 * The defaults of the `@gradgraph/models` presets that the CLI shows in `--help` and fills in,
 * copied here so that the CLI's own thread never loads `@gradgraph/models` (about 18 MB of code
 * and heap in a process whose whole budget is a few hundred): only the example's worker does.
 * `test/presets.test.ts` checks that every value equals the preset's own default, and the types
 * come from the presets' hyperparameter interfaces (a type-only import, erased at run time).
 * @module
 */
import type {
  DigitsSigmoidHyper,
  LenetHyper,
  MoonsHyper,
  NgEx4Hyper,
  NielsenHyper,
  PresetName,
  ReluSoftmaxHyper,
  RnnHyper,
  VitHyper,
} from "@gradgraph/models";

/** The preset defaults the examples use, by preset name (each a subset of `PRESETS[name].defaults`). */
export const PRESET_DEFAULTS = {
  moons: { passes: 20000, lr: 0.01, hiddenSizes: [1, 2, 3, 4, 5, 20, 50], seed: 0 } satisfies Pick<
    MoonsHyper,
    "passes" | "lr" | "hiddenSizes" | "seed"
  >,
  "digits-sigmoid": { epochs: 1000, lr: 0.1, batchSize: 1, seed: 0 } satisfies Pick<
    DigitsSigmoidHyper,
    "epochs" | "lr" | "batchSize" | "seed"
  >,
  "nielsen-mnist": {
    epochs: 30,
    lr: 3.0,
    batchSize: 10,
    sizes: [784, 30, 10],
    seed: 0,
    trainSize: 50000,
  } satisfies Pick<NielsenHyper, "epochs" | "lr" | "batchSize" | "sizes" | "seed" | "trainSize">,
  "ng-ex4": { maxIter: 50, layers: [400, 25, 10], lambda: 1, seed: 0 } satisfies Pick<
    NgEx4Hyper,
    "maxIter" | "layers" | "lambda" | "seed"
  >,
  "relu-softmax-mnist": { epochs: 6, lr: 10 ** -0.35, batchSize: 100, hidden: 90, seed: 0 } satisfies Pick<
    ReluSoftmaxHyper,
    "epochs" | "lr" | "batchSize" | "hidden" | "seed"
  >,
  "lenet-mnist": { arch: "lenet5", epochs: 10, lr: 0.002, batchSize: 64, seed: 0 } satisfies Pick<
    LenetHyper,
    "arch" | "epochs" | "lr" | "batchSize" | "seed"
  >,
  "vit-mnist": { epochs: 8, lr: 0.002, batchSize: 128, seed: 0 } satisfies Pick<
    VitHyper,
    "epochs" | "lr" | "batchSize" | "seed"
  >,
  "rnn-mnist": { cell: "gru", hidden: 128, epochs: 3, lr: 0.003, batchSize: 128, seed: 0 } satisfies Pick<
    RnnHyper,
    "cell" | "hidden" | "epochs" | "lr" | "batchSize" | "seed"
  >,
} as const satisfies Record<PresetName, object>;
