/**
 * The command-line options the examples share: how each is spelled, parsed and validated.
 *
 * Parsers throw commander's `InvalidArgumentError`, so a bad value ends in a one-line message
 * naming the option and the value, and exit code 2 (see `cli.ts`).
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
  /** First input of the scalar example. */
  a?: number;
  /** Second input of the scalar example. */
  b?: number;
  /** L2 regularisation strength (ng-ex4). */
  lambda?: number;
  /** Number of generated cases per property (gradcheck example). */
  runs?: number;
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
  | "a"
  | "b"
  | "lambda"
  | "runs";

/** How one option is spelled and parsed. */
export interface OptionSpec {
  /** commander flags, e.g. `--batch-size <n>`. */
  readonly flags: string;
  /** One-line description for `--help`. */
  readonly description: string;
  /** Parser of the raw string (absent for strings). */
  readonly parse?: (value: string) => number | number[];
}

function label(value: string): string {
  return JSON.stringify(value);
}

/** Parses a positive integer (`3`, `1000`, `1e3`); throws `InvalidArgumentError` otherwise. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got ${label(value)}.`);
  }
  return n;
}

/** Parses an integer >= 0. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`expected an integer >= 0, got ${label(value)}.`);
  }
  return n;
}

/** Parses a finite number > 0 (`0.01`, `1e-3`). */
export function positiveFloat(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive number, got ${label(value)}.`);
  }
  return n;
}

/** Parses a finite number >= 0. */
export function nonNegativeFloat(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`expected a number >= 0, got ${label(value)}.`);
  }
  return n;
}

/** Parses any finite number (negative values allowed: `--a -4`). */
export function finiteFloat(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`expected a number, got ${label(value)}.`);
  }
  return n;
}

/** Parses a comma-separated list of positive integers (`3` or `1,2,3,4,5,20,50`). */
export function positiveIntList(value: string): number[] {
  const parts = value.split(",").map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (p === "" || !Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(
        `expected a positive integer or a comma-separated list of them (e.g. 3 or 1,2,3), got ${label(value)}.`,
      );
    }
    out.push(n);
  }
  return out;
}

/** The shared options, by key. */
export const OPTION_SPECS: Readonly<Record<OptionKey, OptionSpec>> = {
  epochs: { flags: "--epochs <n>", description: "passes over the training data", parse: positiveInt },
  lr: { flags: "--lr <x>", description: "learning rate", parse: positiveFloat },
  batchSize: { flags: "--batch-size <n>", description: "samples per gradient step", parse: positiveInt },
  hidden: { flags: "--hidden <n>", description: "hidden layer size", parse: positiveInt },
  seed: { flags: "--seed <n>", description: "random seed", parse: nonNegativeInt },
  dataDir: {
    flags: "--data-dir <dir>",
    description: "directory with the data files (else $GRADGRAPH_DATA_DIR, then the download cache)",
  },
  trainSize: {
    flags: "--train-size <n>",
    description: "train on the first n training samples only (quick runs)",
    parse: positiveInt,
  },
  timeLimit: {
    flags: "--time-limit <s>",
    description: "stop training after s seconds and write what was gathered",
    parse: positiveFloat,
  },
  a: { flags: "--a <x>", description: "value of the input a", parse: finiteFloat },
  b: { flags: "--b <x>", description: "value of the input b", parse: finiteFloat },
  lambda: { flags: "--lambda <x>", description: "L2 regularisation strength", parse: nonNegativeFloat },
  runs: { flags: "--runs <n>", description: "generated cases per property", parse: positiveInt },
};
