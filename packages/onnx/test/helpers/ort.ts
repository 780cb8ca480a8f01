/**
 * Running ONNX models in ONNX Runtime (onnxruntime-node, CPU) from tests, with gradgraph tensors
 * in and out.
 */
import { type DType, Tensor } from "@gradgraph/core";
import * as ort from "onnxruntime-node";

/** Options of {@link runOrt}. */
export interface RunOrtOptions {
  /** Turn ORT's graph optimisations off (they fuse nodes and change float rounding). Default: on. */
  readonly noOptimize?: boolean;
}

/** Runs `bytes` in ONNX Runtime on `feeds`; returns every graph output as a gradgraph tensor. */
export async function runOrt(
  bytes: Uint8Array,
  feeds: Readonly<Record<string, Tensor>>,
  options: RunOrtOptions = {},
): Promise<Record<string, Tensor>> {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: options.noOptimize ? "disabled" : "all",
  });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      ortFeeds[name] =
        t.dtype === "float32"
          ? new ort.Tensor("float32", Float32Array.from(t.data), [...t.shape])
          : new ort.Tensor("float64", Float64Array.from(t.data), [...t.shape]);
    }
    const results = await session.run(ortFeeds);
    const out: Record<string, Tensor> = {};
    for (const [name, v] of Object.entries(results)) {
      const dtype: DType = v.type === "float64" ? "float64" : "float32";
      const data = v.data as Float32Array | Float64Array;
      out[name] = new Tensor(
        v.dims.map((d) => Number(d)),
        dtype === "float32" ? Float32Array.from(data) : Float64Array.from(data),
      );
    }
    return out;
  } finally {
    await session.release();
  }
}

/**
 * Largest error of `actual` against `expected`, scaled as |a − e| / (|e| + floor): relative for
 * values above `floor`, absolute (relative to `floor`) below it. NaNs must match NaNs and
 * infinities must match exactly.
 */
export function maxScaledError(actual: Tensor, expected: Tensor, floor: number): number {
  if (actual.size !== expected.size) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < actual.size; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) return Number.POSITIVE_INFINITY;
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) return Number.POSITIVE_INFINITY;
      continue;
    }
    worst = Math.max(worst, Math.abs(a - e) / (Math.abs(e) + floor));
  }
  return worst;
}

/**
 * Largest absolute error of `actual` against `expected`, divided by the largest |expected| (or by
 * `floor` when that is larger): the error measure for sums such as gradients, whose small
 * elements come from cancellation. The floor keeps a gradient that is mathematically zero (its
 * terms cancel to rounding noise) from being compared relative to that noise.
 */
export function maxErrorRelativeToScale(actual: Tensor, expected: Tensor, floor = 0): number {
  if (actual.size !== expected.size) return Number.POSITIVE_INFINITY;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < actual.size; i++) {
    err = Math.max(err, Math.abs(actual.data[i]! - expected.data[i]!));
    scale = Math.max(scale, Math.abs(expected.data[i]!));
  }
  const s = Math.max(scale, floor);
  return s === 0 ? err : err / s;
}
