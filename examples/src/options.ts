/**
 * The command-line options the examples share: how each is spelled, parsed and validated.
 *
 * Parsers throw commander's `InvalidArgumentError`, so a bad value ends in a one-line message
 * naming the option and the value, and exit code 2 (see `cli.ts`). Integers are plain decimal
 * digits (`0x10`, `1e3`, `2.5` and `+5` are refused); floats are decimal with an optional exponent
 * (`1e-3`); every option has an upper bound ({@link LIMITS}), and the network sizes are checked
 * per example before anything runs (`limits.ts`).
 * @module
 */
import { InvalidArgumentError } from "commander";

/** Parsed values of the shared options (those an example does not take stay undefined). */
export interface ExampleOptions {
  /** Passes over the training data (full-batch examples: gradient steps). */
  epochs?: number;
  /** Learning rate (step size). */
  lr?: number;
  /** Rows per optimisation step. */
  batchSize?: number;
  /** Hidden-layer sizes (one or more). */
  hidden?: number[];
  /** Seed of initialisation, shuffling and data generation. */
  seed?: number;
  /** Directory holding the data files (mnist/, sklearn-digits/, ng-ex4/). */
  dataDir?: string;
  /** Use only the first N training samples (a quick run). */
  trainSize?: number;
  /** Stop after this many seconds of training (then write what was gathered). */
  timeLimit?: number;
  /** Overall deadline, in seconds, for downloading missing data files (the loaders' `timeoutMs`). */
  timeout?: number;
  /** First input of the scalar example. */
  a?: number;
  /** Second input of the scalar example. */
  b?: number;
  /** L2 regularisation strength (ng-ex4). */
  lambda?: number;
  /** Number of generated cases per property (gradcheck example). */
  runs?: number;
  /** Network architecture (lenet: `lenet5` or `bn`; vit: the pooling, `mean` or `cls`). */
  arch?: string;
  /** Recurrent cell (rnn: `gru` or `lstm`). */
  cell?: string;
  /** Worker threads for the large matrix products (rnn; default 0: none). */
  threads?: number;
  /**
   * Where to write the trained model's inference graph as an ONNX file (the presets: `--onnx
   * <file>`; see `onnx.ts`), or undefined for none.
   */
  onnx?: string;
  /** Output directory (default `out/<name>/`). */
  out: string;
  /** Print one JSON object as the last line. */
  json: boolean;
}

/** Names of the options an example may take (besides `--out` and `--json`, which every example has). */
export type OptionKey =
  | "epochs"
  | "lr"
  | "batchSize"
  | "hidden"
  | "seed"
  | "dataDir"
  | "trainSize"
  | "timeLimit"
  | "timeout"
  | "a"
  | "b"
  | "lambda"
  | "runs"
  | "arch"
  | "cell"
  | "threads"
  | "onnx";

/** How one option is spelled and parsed. */
export interface OptionSpec {
  /** commander flags, e.g. `--batch-size <n>`. */
  readonly flags: string;
  /** One-line description for `--help`. */
  readonly description: string;
  /** Parser of the raw string (absent for free strings; {@link oneOf} for a choice of names). */
  readonly parse?: (value: string) => number | number[] | string;
}

function label(value: string): string {
  return JSON.stringify(value);
}

/** Plain decimal digits: no sign, blanks, exponent, fraction, separators or `0x`/`0b`/`0o` prefix. */
const DECIMAL_INT = /^[0-9]+$/;

/** A decimal number with an optional sign, fraction and exponent (`0.01`, `1e-3`, `-4`, `.5`). */
const DECIMAL_FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/** Upper bounds of the numeric options, each with the reason it exists. */
export const LIMITS = {
  /** Epochs, passes or iterations: far beyond any run that ends. */
  epochs: 100_000_000,
  /** Samples per step (the examples clamp it to the training-set size anyway). */
  batchSize: 10_000_000,
  /** Hidden units before the per-example size check (see `limits.ts`): what an `Int32Array` index reaches. */
  hidden: 2 ** 31 - 1,
  /** Seeds: numpy's `np.random.seed` takes 0..2^32-1, and so do the presets. */
  seed: 2 ** 32 - 1,
  /** Seconds: Node's timers hold at most 2^31-1 ms (about 24.8 days); longer ones fire at once. */
  timeLimit: Math.floor((2 ** 31 - 1) / 1000),
  /** Generated cases per property of the gradcheck example. */
  runs: 1_000_000,
  /** Inputs of the scalar example: micrograd's expression grows like b^6, so keep it finite. */
  scalar: 1_000_000,
  /** Training images of the MNIST presets: the first 50,000 of the training file. */
  mnistTrain: 50_000,
} as const;

/**
 * A parser of integers from `min` to `max` written as plain decimal digits (`3`, `1000`, `010`);
 * `0x10`, `1e3`, `2.5`, `+5`, ` 7` and `` are rejected with commander's `InvalidArgumentError`,
 * which names the option and the value (exit code 2).
 */
export function intInRange(min: number, max: number): (value: string) => number {
  const what = min === 1 ? "a positive integer" : `an integer >= ${min}`;
  return (value: string) => {
    if (!DECIMAL_INT.test(value))
      throw new InvalidArgumentError(
        `expected ${what}, got ${label(value)} (plain decimal digits: no sign, exponent, fraction or 0x prefix).`,
      );
    const n = Number(value);
    if (n < min) throw new InvalidArgumentError(`expected ${what}, got ${label(value)}.`);
    if (!(n <= max)) throw new InvalidArgumentError(`expected ${what}, at most ${max}, got ${label(value)}.`);
    return n;
  };
}

/**
 * A parser of finite decimal numbers (an optional sign and exponent: `0.01`, `1e-3`, `-4`) with
 * `low` as a bound (`> low` when `exclusive`, else `>= low`) and `high` as an upper bound on the
 * absolute value; hex, `Infinity`, `NaN`, blanks and overflowing values (`1e309`) are rejected.
 */
export function floatInRange(
  low: number,
  exclusive: boolean,
  high = Number.MAX_VALUE,
): (value: string) => number {
  const what =
    low === Number.NEGATIVE_INFINITY
      ? "a number"
      : low === 0 && exclusive
        ? "a positive number"
        : `a number ${exclusive ? ">" : ">="} ${low}`;
  const bound =
    high === Number.MAX_VALUE ? "" : low < 0 ? `, at most ${high} in absolute value` : `, at most ${high}`;
  return (value: string) => {
    const n = Number(value);
    if (!DECIMAL_FLOAT.test(value) || !Number.isFinite(n))
      throw new InvalidArgumentError(
        `expected ${what}, got ${label(value)} (a finite number in decimal notation, such as 0.01 or 1e-3).`,
      );
    if (exclusive ? !(n > low) : !(n >= low))
      throw new InvalidArgumentError(`expected ${what}, got ${label(value)}.`);
    if (Math.abs(n) > high) throw new InvalidArgumentError(`expected ${what}${bound}, got ${label(value)}.`);
    return n;
  };
}

/** Parses a positive integer in plain decimal digits (`3`, `1000`), at most {@link LIMITS}.epochs. */
export const positiveInt: (value: string) => number = intInRange(1, LIMITS.epochs);

/** Parses an integer >= 0 in plain decimal digits, at most 2^32-1 (a seed). */
export const nonNegativeInt: (value: string) => number = intInRange(0, LIMITS.seed);

/** Parses a finite number > 0 (`0.01`, `1e-3`); no upper bound (a huge `--lr` is caught in training). */
export const positiveFloat: (value: string) => number = floatInRange(0, true);

/** Parses a finite number >= 0. */
export const nonNegativeFloat: (value: string) => number = floatInRange(0, false);

/** Parses a finite number of at most 10^6 in absolute value (negative values allowed: `--a -4`). */
export const finiteFloat: (value: string) => number = floatInRange(
  Number.NEGATIVE_INFINITY,
  false,
  LIMITS.scalar,
);

/** Parses a comma-separated list of positive integers (`3` or `1,2,3,4,5,20,50`). */
export function positiveIntList(value: string): number[] {
  const out: number[] = [];
  for (const p of value.split(",")) {
    const n = Number(p);
    if (!DECIMAL_INT.test(p) || n < 1 || n > LIMITS.hidden) {
      throw new InvalidArgumentError(
        `expected a positive integer or a comma-separated list of them (e.g. 3 or 1,2,3), in decimal digits, each at most ${LIMITS.hidden}, got ${label(value)}.`,
      );
    }
    out.push(n);
  }
  return out;
}

/**
 * A parser accepting one of `names` exactly (e.g. `--arch bn`); anything else is rejected with
 * commander's `InvalidArgumentError`, which lists the names (exit code 2).
 */
export function oneOf(names: readonly string[]): (value: string) => string {
  return (value: string) => {
    if (!names.includes(value))
      throw new InvalidArgumentError(`expected one of ${names.join(", ")}, got ${label(value)}.`);
    return value;
  };
}

/**
 * Parses the `--onnx <file>` path: any non-empty path not ending in a path separator (a directory
 * is not a file name). The directory is checked before the run starts (see `cli.ts`).
 */
export function onnxPath(value: string): string {
  if (value.length === 0) throw new InvalidArgumentError("expected a file name, got an empty string.");
  if (/[/\\]$/.test(value))
    throw new InvalidArgumentError(`expected a file name, got the directory ${label(value)}.`);
  return value;
}

/** The shared options, by key. */
export const OPTION_SPECS: Readonly<Record<OptionKey, OptionSpec>> = {
  epochs: { flags: "--epochs <n>", description: "passes over the training data", parse: positiveInt },
  lr: { flags: "--lr <x>", description: "learning rate", parse: positiveFloat },
  batchSize: {
    flags: "--batch-size <n>",
    description: "samples per gradient step",
    parse: intInRange(1, LIMITS.batchSize),
  },
  hidden: { flags: "--hidden <n>", description: "hidden layer size", parse: intInRange(1, LIMITS.hidden) },
  seed: { flags: "--seed <n>", description: "random seed", parse: nonNegativeInt },
  dataDir: {
    flags: "--data-dir <dir>",
    description: "directory with the data files (else $GRADGRAPH_DATA_DIR, then the download cache)",
  },
  trainSize: {
    flags: "--train-size <n>",
    description: `train on the first n training samples only (quick runs; at most ${LIMITS.mnistTrain})`,
    parse: intInRange(1, LIMITS.mnistTrain),
  },
  timeLimit: {
    flags: "--time-limit <s>",
    description: "stop training after s seconds and write what was gathered",
    parse: floatInRange(0, true, LIMITS.timeLimit),
  },
  timeout: {
    flags: "--timeout <s>",
    description:
      "overall time limit for downloading the data files, in seconds (default: $GRADGRAPH_DOWNLOAD_TIMEOUT, else the data loaders' default)",
    parse: floatInRange(0, true, LIMITS.timeLimit),
  },
  a: { flags: "--a <x>", description: "value of the input a", parse: finiteFloat },
  b: { flags: "--b <x>", description: "value of the input b", parse: finiteFloat },
  lambda: { flags: "--lambda <x>", description: "L2 regularisation strength", parse: nonNegativeFloat },
  runs: {
    flags: "--runs <n>",
    description: "generated cases per property",
    parse: intInRange(1, LIMITS.runs),
  },
  arch: { flags: "--arch <name>", description: "network architecture" },
  cell: { flags: "--cell <name>", description: "recurrent cell" },
  threads: {
    flags: "--threads <n>",
    description:
      "worker threads that share the large matrix products (0: none, the calling thread computes them; at most 15)",
    parse: intInRange(0, 15),
  },
  onnx: {
    flags: "--onnx <file>",
    description:
      "after training, also write the trained model's inference graph (input to predictions, evaluation mode) to this ONNX file (opset 18) for ONNX Runtime",
    parse: onnxPath,
  },
};
