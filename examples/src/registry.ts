/**
 * The table of examples: name, one-line summary, the options each takes with their defaults, and
 * a lazy loader of its module (so `--help` and option errors never load the heavy code).
 * @module
 */
import type { PresetName } from "@gradgraph/models";
import type { ExampleModule } from "./context.js";
import {
  customNetwork,
  moonsNetwork,
  type NetworkEstimate,
  ngEx4Network,
  nielsenNetwork,
  reluSoftmaxNetwork,
} from "./limits.js";
import { intInRange, LIMITS, type OptionKey, type OptionSpec, oneOf, positiveIntList } from "./options.js";
import { PRESET_DEFAULTS } from "./preset-defaults.js";

/** One runnable example. */
export interface ExampleDef {
  /** Name on the command line. */
  readonly name: string;
  /** One line for `pnpm example --help`. */
  readonly summary: string;
  /** A paragraph for `pnpm example <name> --help`. */
  readonly description: string;
  /** Options it takes (besides `--out` and `--json`). */
  readonly options: readonly OptionKey[];
  /** Default values, shown in `--help` and filled in before the example runs. */
  readonly defaults: Readonly<Partial<Record<OptionKey, number | number[] | string>>>;
  /** How a default is shown in `--help` when not as its value (e.g. `10^-0.35`). */
  readonly defaultText?: Readonly<Partial<Record<OptionKey, string>>>;
  /**
   * The downloadable data set it reads, if any: `"mnist"` for the examples that train on MNIST or on
   * digits derived from it (`bench/preset-memory.ts` measures those), `"digits"` for scikit-learn's.
   */
  readonly data?: "mnist" | "digits";
  /** The `@gradgraph/models` preset it runs, if any (also accepted as the command's name). */
  readonly preset?: PresetName;
  /** Per-example changes to an option's description or parser. */
  readonly overrides?: Readonly<Partial<Record<OptionKey, Partial<OptionSpec>>>>;
  /**
   * The network it builds for a `--hidden` value, checked against the size limits of `limits.ts`
   * before the example runs (examples without `--hidden` have none).
   */
  readonly network?: NetworkEstimate;
  /** Loads the module. */
  readonly load: () => Promise<ExampleModule>;
  /**
   * True for an example that serves until Ctrl-C (the playground's dev server): Ctrl-C is its
   * normal end, so the CLI says it is stopping the server and exits with 0, not 130.
   */
  readonly server?: boolean;
}

/** The presets' defaults (a copy checked by the tests: this module runs in the CLI's thread too). */
const P = {
  moons: { defaults: PRESET_DEFAULTS.moons },
  "digits-sigmoid": { defaults: PRESET_DEFAULTS["digits-sigmoid"] },
  "nielsen-mnist": { defaults: PRESET_DEFAULTS["nielsen-mnist"] },
  "ng-ex4": { defaults: PRESET_DEFAULTS["ng-ex4"] },
  "relu-softmax-mnist": { defaults: PRESET_DEFAULTS["relu-softmax-mnist"] },
  "lenet-mnist": { defaults: PRESET_DEFAULTS["lenet-mnist"] },
  "rnn-mnist": { defaults: PRESET_DEFAULTS["rnn-mnist"] },
  "vit-mnist": { defaults: PRESET_DEFAULTS["vit-mnist"] },
};

/** `--train-size` of the MNIST examples: a prefix of the training images. */
const MNIST_TRAIN_SIZE: Partial<OptionSpec> = {
  description: `train on the first n of the ${LIMITS.mnistTrain} training images (quick runs)`,
};

/** `--lr` of the presets trained with Adam on a cosine schedule. */
const ADAM_COSINE_LR: Partial<OptionSpec> = {
  description: "Adam's peak learning rate (cosine schedule down to 0 over the run)",
};

/** The preset's default epochs, learning rate, batch size and seed, as the CLI's defaults. */
function trainingDefaults(preset: "lenet-mnist" | "rnn-mnist" | "vit-mnist"): {
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
} {
  const d = P[preset].defaults;
  return { epochs: d.epochs, lr: d.lr, batchSize: d.batchSize, seed: d.seed };
}

/**
 * The architectures of the `"lenet-mnist"` preset (its `LENET_ARCHS`, copied so that this thread
 * never loads the models; `test/lenet.test.ts` checks the copy).
 */
export const LENET_ARCH_NAMES: readonly string[] = Object.freeze(["lenet5", "bn"]);

/**
 * The recurrent cells of the `"rnn-mnist"` preset (its `RNN_CELLS`, copied so that this thread
 * never loads the models; `test/rnn-mnist.test.ts` checks the copy).
 */
export const RNN_CELL_NAMES: readonly string[] = Object.freeze(["gru", "lstm"]);

/**
 * The poolings of the `"vit-mnist"` preset (its `VIT_POOLS`, copied so that this thread never
 * loads the models; `test/vit-mnist.test.ts` checks the copy).
 */
export const VIT_POOL_NAMES: readonly string[] = Object.freeze(["mean", "cls"]);

const MNIST_NOTE =
  "Reads MNIST from --data-dir, else $GRADGRAPH_DATA_DIR, else the per-user cache (downloading the four files, with checksums, on first use).";

/** Every example, in the order `--help` lists them. */
export const EXAMPLES: readonly ExampleDef[] = [
  {
    name: "moons",
    summary:
      "2-H-2 tanh/softmax net on make_moons, hidden sizes 1..50 vs logistic regression, decision boundaries",
    description:
      "The make_moons tutorial (WildML): a 2-H-2 network with a tanh hidden layer and a softmax output, trained by full-batch gradient descent with L2 regularisation on 200 noisy moons, for hidden sizes 1, 2, 3, 4, 5, 20 and 50, against a logistic-regression baseline. Writes the decision-boundary figure and the loss curves. Needs no download.",
    options: ["epochs", "lr", "hidden", "seed", "timeLimit", "onnx"],
    preset: "moons",
    defaults: {
      epochs: P.moons.defaults.passes,
      lr: P.moons.defaults.lr,
      hidden: [...P.moons.defaults.hiddenSizes],
      seed: P.moons.defaults.seed,
    },
    overrides: {
      epochs: { description: "gradient-descent passes per model" },
      seed: {
        description:
          "seed of the data (np.random.seed(n); make_moons) and of the initial weights; 0 is the tutorial's",
      },
      hidden: {
        flags: "--hidden <sizes>",
        description: "hidden layer size(s), comma-separated; the first figure panel is logistic regression",
        parse: positiveIntList,
      },
    },
    network: moonsNetwork,
    load: () => import("./examples/moons.js"),
  },
  {
    name: "digits",
    data: "digits",
    summary: "64-32-16-10 sigmoid net with per-sample SGD on scikit-learn's 8x8 digits (PyImageSearch)",
    description:
      "PyImageSearch's NeuralNetwork: a 64-32-16-10 sigmoid network with the bias folded in as an always-one input column, trained with per-sample SGD on the quadratic loss over scikit-learn's 1,797 8x8 digits (75/25 split). Prints the loss every 100 epochs and the classification report; writes the curves, the confusion matrix and a grid of test digits.",
    options: ["epochs", "lr", "batchSize", "seed", "dataDir", "timeout", "timeLimit", "onnx"],
    preset: "digits-sigmoid",
    defaults: {
      epochs: P["digits-sigmoid"].defaults.epochs,
      lr: P["digits-sigmoid"].defaults.lr,
      batchSize: P["digits-sigmoid"].defaults.batchSize,
      seed: P["digits-sigmoid"].defaults.seed,
    },
    load: () => import("./examples/digits.js"),
  },
  {
    name: "nielsen",
    data: "mnist",
    summary: "784-30-10 sigmoid net, mini-batch SGD on MNIST (Nielsen's network.py)",
    description: `Michael Nielsen's network.py: 784-30-10 sigmoid, quadratic cost, mini-batches of 10, learning rate 3.0, 30 epochs on the first 50,000 MNIST training images; prints "Epoch i : correct / 10000" after every epoch. ${MNIST_NOTE}`,
    options: [
      "epochs",
      "lr",
      "batchSize",
      "hidden",
      "seed",
      "dataDir",
      "timeout",
      "trainSize",
      "timeLimit",
      "onnx",
    ],
    preset: "nielsen-mnist",
    defaults: {
      epochs: P["nielsen-mnist"].defaults.epochs,
      lr: P["nielsen-mnist"].defaults.lr,
      batchSize: P["nielsen-mnist"].defaults.batchSize,
      hidden: [P["nielsen-mnist"].defaults.sizes[1]!],
      seed: P["nielsen-mnist"].defaults.seed,
      trainSize: P["nielsen-mnist"].defaults.trainSize,
    },
    overrides: {
      trainSize: MNIST_TRAIN_SIZE,
    },
    network: nielsenNetwork,
    load: () => import("./examples/nielsen.js"),
  },
  {
    name: "ng-ex4",
    data: "mnist",
    summary: "400-25-10 sigmoid net, regularised cross-entropy, conjugate gradient (Andrew Ng's ex4)",
    description: `Andrew Ng's ex4: a 400-25-10 sigmoid network with the regularised cross-entropy cost, its gradient checked against central differences on a small 3-5-3 network, then trained with conjugate gradient on 5,000 20x20 digits (built from MNIST when ex4data1.mat is not given). ${MNIST_NOTE}`,
    options: ["epochs", "hidden", "lambda", "seed", "dataDir", "timeout", "timeLimit", "onnx"],
    preset: "ng-ex4",
    defaults: {
      epochs: P["ng-ex4"].defaults.maxIter,
      hidden: [P["ng-ex4"].defaults.layers[1]!],
      lambda: P["ng-ex4"].defaults.lambda,
      seed: P["ng-ex4"].defaults.seed,
    },
    overrides: { epochs: { description: "conjugate-gradient iterations" } },
    network: ngEx4Network,
    load: () => import("./examples/ng-ex4.js"),
  },
  {
    name: "relu-softmax",
    data: "mnist",
    summary: "784-90-10 relu/softmax net with squared loss through the softmax Jacobian, on MNIST",
    description: `A 784-90-10 network: relu hidden layer, softmax output, squared-difference loss back-propagated through the full softmax Jacobian, batches of 100 in file order, learning rate 10^-0.35, 6 epochs; 50,000 training / 10,000 validation / 10,000 test images. ${MNIST_NOTE}`,
    options: [
      "epochs",
      "lr",
      "batchSize",
      "hidden",
      "seed",
      "dataDir",
      "timeout",
      "trainSize",
      "timeLimit",
      "onnx",
    ],
    preset: "relu-softmax-mnist",
    defaults: {
      epochs: P["relu-softmax-mnist"].defaults.epochs,
      lr: P["relu-softmax-mnist"].defaults.lr,
      batchSize: P["relu-softmax-mnist"].defaults.batchSize,
      hidden: [P["relu-softmax-mnist"].defaults.hidden],
      seed: P["relu-softmax-mnist"].defaults.seed,
    },
    defaultText: { lr: "10^-0.35 = 0.4467" },
    overrides: {
      trainSize: MNIST_TRAIN_SIZE,
    },
    network: reluSoftmaxNetwork,
    load: () => import("./examples/relu-softmax.js"),
  },
  {
    name: "lenet",
    data: "mnist",
    summary:
      "LeNet-5-style CNN (5x5 convs, max pooling, dense 120-84-10) with Adam on MNIST: 99% test accuracy",
    description: `A LeNet-5-style convolutional network on MNIST: the 784 pixels reshaped to 1x28x28 in the graph, conv 6@5x5 - max pool - conv 16@5x5 - max pool - dense 120 - dense 84 - dense 10 with ReLU (--arch lenet5, the default), or a small modern CNN with batch normalisation and dropout (--arch bn: conv 8@3x3 - batch norm - pool - conv 16@3x3 - batch norm - pool - conv 32@3x3 - batch norm - dropout - dense 10); softmax cross-entropy, Adam with a cosine learning-rate schedule, batches of 64, each training image moved by a random shift of up to 2 pixels, 10 epochs on 50,000 training images, validation on 10,000 after each epoch, test on 10,000. Writes the curves, the confusion matrix, a grid of test digits, the learned first-layer filters and the first layer's feature maps of a test digit. ${MNIST_NOTE}`,
    options: [
      "arch",
      "epochs",
      "lr",
      "batchSize",
      "seed",
      "dataDir",
      "timeout",
      "trainSize",
      "timeLimit",
      "onnx",
    ],
    preset: "lenet-mnist",
    defaults: {
      arch: P["lenet-mnist"].defaults.arch,
      ...trainingDefaults("lenet-mnist"),
    },
    overrides: {
      arch: {
        description: `network: ${LENET_ARCH_NAMES.join(" or ")}`,
        parse: oneOf(LENET_ARCH_NAMES),
      },
      lr: ADAM_COSINE_LR,
      seed: { description: "seed of the initial weights, the shuffles, the shifts and the dropout masks" },
      trainSize: MNIST_TRAIN_SIZE,
    },
    load: () => import("./examples/lenet.js"),
  },
  {
    name: "rnn",
    data: "mnist",
    summary:
      "GRU (or LSTM) reading each MNIST digit as 28 rows of 28 pixels, Adam with clipping: 98.7% test accuracy",
    description: `A recurrent network on MNIST read row by row: the 784 pixels standardised and reshaped to [N, 28, 28] in the graph, a sequence of 28 steps of one 28-pixel row each; a GRU of 128 units (--cell gru, the default; or --cell lstm) unrolled over the rows from a zero state, and a dense softmax layer on its last hidden state. Softmax cross-entropy, Adam with a cosine learning-rate schedule and gradients clipped to global norm 1, batches of 128, 3 epochs on 50,000 training images, validation on 10,000 after each epoch, test on 10,000. Writes the curves, the confusion matrix, a grid of test digits and the class probabilities of a test digit after each row read. ${MNIST_NOTE}`,
    options: [
      "cell",
      "hidden",
      "epochs",
      "lr",
      "batchSize",
      "seed",
      "threads",
      "dataDir",
      "timeout",
      "trainSize",
      "timeLimit",
      "onnx",
    ],
    preset: "rnn-mnist",
    defaults: {
      cell: P["rnn-mnist"].defaults.cell,
      hidden: [P["rnn-mnist"].defaults.hidden],
      ...trainingDefaults("rnn-mnist"),
      threads: 0,
    },
    overrides: {
      cell: {
        description: `recurrent cell: ${RNN_CELL_NAMES.join(" or ")}`,
        parse: oneOf(RNN_CELL_NAMES),
      },
      hidden: {
        flags: "--hidden <n>",
        description: "units of the recurrent layer (at most 1024)",
        parse: intInRange(1, 1024),
      },
      lr: ADAM_COSINE_LR,
      seed: { description: "seed of the initial weights and the shuffles" },
      trainSize: MNIST_TRAIN_SIZE,
    },
    load: () => import("./examples/rnn-mnist.js"),
  },
  {
    name: "vit",
    data: "mnist",
    summary:
      "small vision transformer (7x7 patches, pre-norm encoder blocks, AdamW) on MNIST, with an attention picture",
    description: `A small vision transformer on MNIST: the 784 pixels cut into 16 patches of 7x7 in the graph (reshape and transpose), each embedded linearly to width 64 with a learned position embedding, 3 pre-norm transformer encoder blocks (4-head self-attention, GELU MLP of 128, residuals, layer norm), a final layer norm, mean pooling of the tokens (--arch mean, the default) or a learned class token (--arch cls), and a dense softmax head; softmax cross-entropy, AdamW with 200 warm-up steps and a cosine decay, batches of 128, each training image moved by a random shift of up to 1 pixel, on 50,000 training images, validation on 10,000 after each epoch, test on 10,000. Writes the curves, the confusion matrix, a grid of test digits and the last block's attention over the 4x4 patches of a test digit, per head. ${MNIST_NOTE}`,
    options: [
      "arch",
      "epochs",
      "lr",
      "batchSize",
      "seed",
      "dataDir",
      "timeout",
      "trainSize",
      "timeLimit",
      "onnx",
    ],
    preset: "vit-mnist",
    defaults: {
      arch: "mean",
      ...trainingDefaults("vit-mnist"),
    },
    overrides: {
      arch: {
        description: `pooling into the head: ${VIT_POOL_NAMES.join(" (mean of the patch tokens) or ")} (a learned class token)`,
        parse: oneOf(VIT_POOL_NAMES),
      },
      lr: {
        description: "AdamW's peak learning rate (linear warm-up, then a cosine decay to 0 over the run)",
      },
      seed: { description: "seed of the initial weights, the shuffles and the shifts" },
      trainSize: MNIST_TRAIN_SIZE,
    },
    load: () => import("./examples/vit-mnist.js"),
  },
  {
    name: "custom",
    summary: "your own architecture: a 2-16-16-2 relu/tanh net built in code, Adam, save, load, predict",
    description:
      "Defines a new architecture in code with the graph builder and the layers (a 2-H-H-2 network mixing relu and tanh, softmax cross-entropy), trains it with Adam on make_circles with a validation split, saves it to model.ggm, loads it back and checks that the loaded model predicts exactly the same. Writes the decision boundary and the training curves.",
    options: ["epochs", "lr", "batchSize", "hidden", "seed", "timeLimit"],
    defaults: { epochs: 60, lr: 0.01, batchSize: 32, hidden: [16], seed: 1 },
    network: customNetwork,
    load: () => import("./examples/custom.js"),
  },
  {
    name: "custom-cnn",
    data: "digits",
    summary:
      "your own CNN in code: conv layer, a residual block in raw ops, batch norm, dropout; Adam, save, load",
    description:
      "Defines a convolutional network in code on scikit-learn's 8x8 digits: the pixels reshaped to 1x8x8 in the graph, a conv2d layer, a residual block written with raw builder ops (b.conv2d with its own weights, relu, and the skip add), max pooling, batch normalisation, dropout and a dense softmax output. Trains it with Adam (dropout and batch norm in training mode, evaluation in evaluation mode), saves it to model.ggm, loads it back and checks the loaded copy predicts the same. Writes the curves, the confusion matrix, the learned first-layer filters and the feature maps of a test digit. Reads the digits from --data-dir, else $GRADGRAPH_DATA_DIR, else the per-user cache (downloading them on first use).",
    options: ["epochs", "lr", "batchSize", "hidden", "seed", "dataDir", "timeout", "timeLimit"],
    defaults: { epochs: 30, lr: 0.005, batchSize: 32, hidden: [8], seed: 1 },
    overrides: {
      hidden: {
        flags: "--hidden <n>",
        description: "filters of both convolutions (at most 256)",
        parse: intInRange(1, 256),
      },
    },
    load: () => import("./examples/custom-cnn.js"),
  },
  {
    name: "custom-sequence",
    summary:
      "your own sequence models in code: an LSTM cell unrolled by hand and a transformer; schedules, clipping, save, load",
    description:
      "A generated sequence task (10 digits holding one 1 and one 2: does the 1 come first? the same digits either way, so order is all that counts) learned by two networks defined in code: an LSTM whose cell is unrolled by hand with lstmCell in a loop over the time steps, and a transformer (token embeddings plus learned positions, transformerEncoderBlock, a second attention sub-layer with its residual in raw builder ops, max pooling, a dense softmax head). Both train with fit and Adam on a cosine learning-rate schedule with warm-up and gradient clipping by global norm; prints each one's validation accuracy, saves the transformer to model.ggm, loads it back and checks the loaded copy predicts the same. Writes both models' training curves and the attention weights of one sequence. Needs no download.",
    options: ["epochs", "lr", "batchSize", "hidden", "seed", "trainSize", "timeLimit"],
    defaults: { epochs: 6, lr: 0.01, batchSize: 32, hidden: [32], seed: 1, trainSize: 2000 },
    overrides: {
      hidden: {
        flags: "--hidden <n>",
        description: "LSTM units and transformer width (at most 256; 2 heads when even, else 1)",
        parse: intInRange(1, 256),
      },
      seed: { description: "seed of the generated sequences, the initial weights and the shuffling" },
      trainSize: {
        description: "generated training sequences (at most 60000; 500 more are generated for validation)",
        parse: intInRange(1, 60_000),
      },
    },
    load: () => import("./examples/custom-sequence.js"),
  },
  {
    name: "scalar",
    summary: "a micrograd-style scalar graph: values, gradients, the graph as text and as DOT",
    description:
      "micrograd's README example as a gradgraph graph of scalars (a = -4, b = 2; g = 24.7041, dg/da = 138.8338, dg/db = 645.5773): builds it, differentiates it with grad, checks the gradients against finite differences and prints the forward and backward graphs as text; writes them as Graphviz DOT too.",
    options: ["a", "b"],
    defaults: { a: -4, b: 2 },
    load: () => import("./examples/scalar.js"),
  },
  {
    name: "gradcheck",
    summary: "property-based gradient testing of your own op: a wrong derivative caught and shrunk",
    description:
      "Defines a user op (swish, x * sigmoid(x)) with a hand-written derivative, then tests it with the fast-check arbitraries of @gradgraph/autograd/testing and gradcheck: the correct derivative passes, a deliberately wrong one is caught and shrunk to a minimal counterexample. Plots analytic against numeric gradients and lists the worst entries.",
    options: ["seed", "runs"],
    defaults: { seed: 20240607, runs: 100 },
    load: () => import("./examples/gradcheck.js"),
  },
  {
    name: "custom-op",
    summary:
      "your own op: softplus defined with defineOp, gradchecked, a wrong VJP caught and shrunk, trained through",
    description:
      "Defines softplus (log(1 + exp(beta * x)) / beta, torch's beta as a validated attribute) outside the op table with defineOp: a shape rule, float32/float64 kernels, a VJP written with builder ops and a JVP. Checks it with gradcheck, gradgradcheck and jvpcheck (printing the reports), runs the fast-check property of @gradgraph/autograd/testing on it, shows a copy whose VJP forgot beta caught and shrunk to a minimal counterexample, then trains a 2-16-2 softplus network on make_moons with Adam, saves and reloads it. Writes the training curves, the decision boundary and the derivative plot. Needs no download.",
    options: ["epochs", "lr", "seed", "runs", "timeLimit"],
    defaults: { epochs: 100, lr: 0.05, seed: 1, runs: 100 },
    overrides: {
      seed: { description: "seed of the data, the initial weights, the shuffling and fast-check" },
      runs: { description: "generated cases per fast-check property" },
    },
    load: () => import("./examples/custom-op.js"),
  },
  {
    name: "onnx",
    summary:
      "ONNX both ways: train in code, export with exportOnnx, run in ONNX Runtime, import, fine-tune, a training step in ONNX Runtime",
    description:
      "gradgraph and ONNX Runtime in five steps, on generated data (no download): defines a 2-16-16-2 tanh/softmax network in code and trains it with fit (Adam) on make_moons; exports its inference graph with exportOnnx (moons-mlp.onnx); runs the file in ONNX Runtime (onnxruntime-node) and compares the predictions with gradgraph's; reads it back with importOnnx, adds a loss and fine-tunes the imported network with fit on new data (the moons rotated and shifted), accuracy before and after (finetuned.onnx); exports a whole training step (forward, backward, Adam update) with exportTrainingStep (train-step.onnx), runs one step in ONNX Runtime against gradgraph's loss, gradients and Adam update, then trains in ONNX Runtime alone and evaluates the weights it returns in gradgraph. Writes the decision boundaries of the three stages and the training curves.",
    options: ["epochs", "lr", "seed", "timeLimit"],
    defaults: { epochs: 40, lr: 0.01, seed: 1 },
    overrides: {
      epochs: { description: "epochs of the training and of the fine-tuning" },
      seed: { description: "seed of the data, the initial weights and the shuffling" },
    },
    load: () => import("./examples/onnx.js"),
  },
  {
    name: "web",
    summary: "the playground: a web page that trains on make_moons/make_circles live (Vite dev server)",
    description:
      "Starts Vite's dev server on examples/web and prints its URL: a page with make_moons and make_circles, controls for the hidden size, activation, learning rate and L2 regularisation, that trains a 2-H-2 network in the browser while drawing the decision boundary and the loss curve, shows the graph and its gradient graph (Graphviz in WebAssembly) and which backend runs the kernels. Serves until Ctrl-C. For a static build that works from any file server: pnpm --filter @gradgraph/examples web:build (writes examples/web/dist/).",
    options: [],
    defaults: {},
    server: true,
    load: () => import("./examples/web.js"),
  },
];

/** The example called `name`, or undefined. */
export function findExample(name: string): ExampleDef | undefined {
  return EXAMPLES.find((e) => e.name === name);
}
