/**
 * Classification metrics: accuracy, row argmax, confusion matrix, per-class precision / recall /
 * F1 with macro and weighted averages, and scikit-learn's `classification_report` text table.
 *
 * Labels are any finite numbers (class indices 0..k-1, or ex4's 1..10); unless given, the label set
 * is the sorted union of the labels in `actual` and `predicted`, as scikit-learn does. Argument
 * order is always `(predicted, actual)`.
 * @module
 */
import { shapeToString, type Tensor } from "@gradgraph/core";

/**
 * Error raised for mismatched or invalid label arrays given to the metrics (`accuracy`,
 * `confusionMatrix`, `precisionRecallF1`, `classificationReport`, ...): arrays of different lengths,
 * empty arrays, or labels that are not finite numbers. The message names the function and the index.
 *
 * @example
 * ```ts
 * import { accuracy, MetricsError } from "@gradgraph/models";
 *
 * try {
 *   accuracy([0, 1, 1], [0, 1]);
 * } catch (e) {
 *   if (e instanceof MetricsError) console.log(e.message);
 *   // accuracy: predicted has 3 labels but actual has 2; they must match
 * }
 * ```
 */
export class MetricsError extends Error {
  override name = "MetricsError";
}

function checkPair(fn: string, predicted: ArrayLike<number>, actual: ArrayLike<number>): void {
  if (predicted.length !== actual.length) {
    throw new MetricsError(
      `${fn}: predicted has ${predicted.length} labels but actual has ${actual.length}; they must match`,
    );
  }
  if (predicted.length === 0) throw new MetricsError(`${fn}: no labels given`);
  for (let i = 0; i < predicted.length; i++) {
    if (!Number.isFinite(predicted[i]!) || !Number.isFinite(actual[i]!)) {
      throw new MetricsError(
        `${fn}: label at index ${i} is not a finite number (predicted ${predicted[i]}, actual ${actual[i]})`,
      );
    }
  }
}

/** Fraction of positions where `predicted[i] === actual[i]` (in [0, 1]). Throws on empty or mismatched input. */
export function accuracy(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  checkPair("accuracy", predicted, actual);
  let hits = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === actual[i]) hits++;
  return hits / predicted.length;
}

/**
 * Index of the largest entry of each row of a `[n, k]` tensor (first one on ties, like numpy;
 * NaN entries are never chosen unless a row is all NaN, which gives 0).
 */
export function argmax(tensor: Tensor): Int32Array {
  if (tensor.rank !== 2 || tensor.shape[1] === 0) {
    throw new MetricsError(
      `argmax: expects a [n, k] tensor with k >= 1, got shape ${shapeToString(tensor.shape)}`,
    );
  }
  const [n, k] = tensor.shape as [number, number];
  const out = new Int32Array(n);
  const d = tensor.data;
  for (let r = 0; r < n; r++) {
    const off = r * k;
    let best = 0;
    let bv = d[off]!;
    for (let c = 1; c < k; c++) {
      const v = d[off + c]!;
      if (v > bv || (Number.isNaN(bv) && !Number.isNaN(v))) {
        bv = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

function resolveLabels(
  fn: string,
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  labels: readonly number[] | undefined,
): number[] {
  if (labels) {
    if (labels.length === 0) throw new MetricsError(`${fn}: labels is empty`);
    if (new Set(labels).size !== labels.length) throw new MetricsError(`${fn}: labels contain duplicates`);
    return [...labels];
  }
  const set = new Set<number>();
  for (let i = 0; i < actual.length; i++) set.add(actual[i]!);
  for (let i = 0; i < predicted.length; i++) set.add(predicted[i]!);
  return [...set].sort((a, b) => a - b);
}

/** Result of {@link confusionMatrix}. */
export interface ConfusionMatrix {
  /** `matrix[i][j]`: samples whose true label is `labels[i]` and predicted label is `labels[j]`. */
  matrix: number[][];
  /** The label of each row and column. */
  labels: number[];
}

/**
 * Confusion matrix with rows = true class and columns = predicted class (as scikit-learn).
 * With `numClasses`, the labels are `0..numClasses-1` and any other label throws; otherwise they
 * are the sorted union of the labels present.
 */
export function confusionMatrix(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  numClasses?: number,
): ConfusionMatrix {
  checkPair("confusionMatrix", predicted, actual);
  let labels: number[];
  if (numClasses !== undefined) {
    if (!Number.isInteger(numClasses) || numClasses < 1) {
      throw new MetricsError(`confusionMatrix: numClasses must be an integer >= 1, got ${numClasses}`);
    }
    labels = Array.from({ length: numClasses }, (_, i) => i);
    for (let i = 0; i < predicted.length; i++) {
      for (const [what, v] of [
        ["predicted", predicted[i]!],
        ["actual", actual[i]!],
      ] as const) {
        if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
          throw new MetricsError(
            `confusionMatrix: ${what} label ${v} at index ${i} is outside 0..${numClasses - 1} (numClasses ${numClasses})`,
          );
        }
      }
    }
  } else labels = resolveLabels("confusionMatrix", predicted, actual, undefined);
  const index = new Map(labels.map((l, i) => [l, i]));
  const matrix = labels.map(() => labels.map(() => 0));
  for (let i = 0; i < predicted.length; i++) matrix[index.get(actual[i]!)!]![index.get(predicted[i]!)!]!++;
  return { matrix, labels };
}

/** Precision, recall, F1 and support of one class or one average. */
export interface ClassScores {
  /** TP / (TP + FP); 0 when nothing was predicted as this class. */
  precision: number;
  /** TP / (TP + FN); 0 when the class has no true samples. */
  recall: number;
  /** Harmonic mean of precision and recall, 2 TP / (2 TP + FP + FN); 0 when TP = 0. */
  f1: number;
  /** Number of true samples of the class (for averages: of all the classes averaged). */
  support: number;
}

/** Result of {@link precisionRecallF1}. */
export interface ClassificationScores {
  /** The classes, in order. */
  labels: number[];
  /** Scores of each class, in the order of `labels`. */
  perClass: (ClassScores & { label: number })[];
  /** Unweighted mean over the classes. */
  macro: ClassScores;
  /** Mean over the classes weighted by support (0 when the total support is 0). */
  weighted: ClassScores;
  /** Scores from the summed counts over the classes (equals accuracy when all labels are included). */
  micro: ClassScores;
  /** Fraction of correct predictions over all samples. */
  accuracy: number;
}

const div0 = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/**
 * Per-class precision, recall, F1 and support, plus macro, weighted and micro averages, with
 * scikit-learn's conventions (zero-division cases give 0). `labels` restricts or orders the
 * classes reported (default: the sorted union of the labels present).
 */
export function precisionRecallF1(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  options: { labels?: readonly number[] } = {},
): ClassificationScores {
  checkPair("precisionRecallF1", predicted, actual);
  const labels = resolveLabels("precisionRecallF1", predicted, actual, options.labels);
  const index = new Map(labels.map((l, i) => [l, i]));
  const k = labels.length;
  const tp = new Float64Array(k);
  const predCount = new Float64Array(k);
  const trueCount = new Float64Array(k);
  let hits = 0;
  for (let i = 0; i < predicted.length; i++) {
    const p = index.get(predicted[i]!);
    const t = index.get(actual[i]!);
    if (predicted[i] === actual[i]) hits++;
    if (p !== undefined) predCount[p]!++;
    if (t !== undefined) trueCount[t]!++;
    if (p !== undefined && p === t) tp[p]!++;
  }
  const perClass = labels.map((label, i) => ({
    label,
    precision: div0(tp[i]!, predCount[i]!),
    recall: div0(tp[i]!, trueCount[i]!),
    f1: div0(2 * tp[i]!, trueCount[i]! + predCount[i]!),
    support: trueCount[i]!,
  }));
  const total = perClass.reduce((s, c) => s + c.support, 0);
  const avg = (key: "precision" | "recall" | "f1", weighted: boolean): number => {
    let s = 0;
    for (const c of perClass) s += c[key] * (weighted ? c.support : 1);
    return weighted ? div0(s, total) : s / k;
  };
  let tpSum = 0;
  let predSum = 0;
  for (let i = 0; i < k; i++) {
    tpSum += tp[i]!;
    predSum += predCount[i]!;
  }
  return {
    labels,
    perClass,
    macro: {
      precision: avg("precision", false),
      recall: avg("recall", false),
      f1: avg("f1", false),
      support: total,
    },
    weighted: {
      precision: avg("precision", true),
      recall: avg("recall", true),
      f1: avg("f1", true),
      support: total,
    },
    micro: {
      precision: div0(tpSum, predSum),
      recall: div0(tpSum, total),
      f1: div0(2 * tpSum, total + predSum),
      support: total,
    },
    accuracy: hits / predicted.length,
  };
}

/** Options of {@link classificationReport}. */
export interface ReportOptions {
  /** Display name of each class, in label order (default: the labels as text). */
  targetNames?: readonly string[];
  /** Decimal places of the scores (default 2). */
  digits?: number;
  /** Classes to report, in order (default: the sorted union of the labels present). */
  labels?: readonly number[];
}

/**
 * Formats `x` with `digits` decimals exactly like Python's `format(x, ".{digits}f")`: correctly
 * rounded, ties to even. (JavaScript's `toFixed` rounds exact ties such as 0.125 up.)
 */
function pyFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  if (!Number.isFinite(x) || x === 0) return s;
  // exact binary decomposition x = m * 2^e
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, Math.abs(x));
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const expBits = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (expBits === 0) e = -1074;
  else {
    m |= 1n << 52n;
    e = expBits - 1075;
  }
  if (e >= 0) return s; // an integer: no tie possible
  // x * 10^digits = m * 10^digits / 2^-e; a tie when twice that is an odd integer
  const twice = 2n * m * 10n ** BigInt(digits);
  const den = 1n << BigInt(-e);
  if (twice % den !== 0n) return s;
  const q = twice / den;
  if (q % 2n === 0n) return s;
  // exact tie: toFixed rounded away from zero; Python rounds to the even neighbour
  const down = (q - 1n) / 2n; // truncated magnitude * 10^digits
  const even = down % 2n === 0n ? down : down + 1n;
  let digitsStr = even.toString().padStart(digits + 1, "0");
  if (digits > 0) digitsStr = `${digitsStr.slice(0, -digits)}.${digitsStr.slice(-digits)}`;
  return (x < 0 ? "-" : "") + digitsStr;
}

/**
 * The text table scikit-learn's `classification_report` prints: one row per class with
 * precision, recall, f1-score and support, a blank line, then `accuracy` (or `micro avg` when
 * `labels` leaves some classes out), `macro avg` and `weighted avg`, right-aligned to the same
 * widths as scikit-learn (and Python's round-half-even formatting).
 * @example
 * classificationReport([0, 0, 2, 2, 1], [0, 1, 2, 2, 2], { targetNames: ["class 0", "class 1", "class 2"] })
 */
export function classificationReport(
  predicted: ArrayLike<number>,
  actual: ArrayLike<number>,
  options: ReportOptions = {},
): string {
  const digits = options.digits ?? 2;
  if (!Number.isInteger(digits) || digits < 0 || digits > 20) {
    throw new MetricsError(`classificationReport: digits must be an integer in 0..20, got ${digits}`);
  }
  const scores = precisionRecallF1(predicted, actual, options.labels ? { labels: options.labels } : {});
  const names = options.targetNames ? [...options.targetNames] : scores.labels.map((l) => String(l));
  if (names.length !== scores.labels.length) {
    throw new MetricsError(
      `classificationReport: ${names.length} target names for ${scores.labels.length} classes (${scores.labels.join(", ")})`,
    );
  }
  // micro average equals accuracy unless some present label was left out of `labels`
  let microIsAccuracy = true;
  if (options.labels) {
    const given = new Set(options.labels);
    for (const l of resolveLabels("classificationReport", predicted, actual, undefined)) {
      if (!given.has(l)) microIsAccuracy = false;
    }
  }
  const lastHeading = "weighted avg";
  // a loop, not Math.max(...names): spreading a huge array overflows the call stack
  const width = names.reduce((w, n) => Math.max(w, n.length), Math.max(lastHeading.length, digits));
  const num = (v: number): string => ` ${pyFixed(v, digits).padStart(9)}`;
  const int = (v: number): string => ` ${String(v).padStart(9)}`;
  const row = (name: string, s: ClassScores): string =>
    `${name.padStart(width)} ${num(s.precision)}${num(s.recall)}${num(s.f1)}${int(s.support)}\n`;
  let out = `${"".padStart(width)} ${["precision", "recall", "f1-score", "support"].map((h) => ` ${h.padStart(9)}`).join("")}\n\n`;
  scores.perClass.forEach((c, i) => {
    out += row(names[i]!, c);
  });
  out += "\n";
  if (microIsAccuracy) {
    out += `${"accuracy".padStart(width)} ${" ".repeat(20)}${num(scores.micro.f1)}${int(scores.micro.support)}\n`;
  } else out += row("micro avg", scores.micro);
  out += row("macro avg", scores.macro);
  out += row(lastHeading, scores.weighted);
  return out;
}
