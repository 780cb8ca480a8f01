/**
 * Helpers of the ONNX tests of the examples: run an ONNX model in ONNX Runtime (onnxruntime-node,
 * CPU) on gradgraph tensors, and compare outputs and predicted classes.
 */
import { Tensor } from "@gradgraph/core";
import * as ort from "onnxruntime-node";

/** An ONNX Runtime session on `bytes`, its input and output names, and a runner on gradgraph tensors. */
export interface OrtModel {
  /** The graph's input names, in order. */
  readonly inputs: readonly string[];
  /** The graph's output names, in order. */
  readonly outputs: readonly string[];
  /** Runs the model on `feeds`; returns every output as a gradgraph tensor. */
  run(feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, Tensor>>;
  /** Releases the session. */
  release(): Promise<void>;
}

/** Opens `bytes` in ONNX Runtime on the CPU (graph optimisations on, as a server would run it). */
export async function openOrt(bytes: Uint8Array): Promise<OrtModel> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
  return {
    inputs: [...session.inputNames],
    outputs: [...session.outputNames],
    async run(feeds) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds))
        ortFeeds[name] =
          t.dtype === "float32"
            ? new ort.Tensor("float32", Float32Array.from(t.data), [...t.shape])
            : new ort.Tensor("float64", Float64Array.from(t.data), [...t.shape]);
      const results = await session.run(ortFeeds);
      const out: Record<string, Tensor> = {};
      for (const [name, v] of Object.entries(results)) {
        const dims = v.dims.map(Number);
        if (v.type === "float64") out[name] = new Tensor(dims, Float64Array.from(v.data as Float64Array));
        else if (v.type === "float32")
          out[name] = new Tensor(dims, Float32Array.from(v.data as Float32Array));
        else throw new Error(`ONNX Runtime returned output '${name}' as ${v.type}, not a float tensor`);
      }
      return out;
    },
    release: () => session.release(),
  };
}

/**
 * Largest error of `actual` against `expected`, scaled as |a − e| / (|e| + floor): relative above
 * `floor`, absolute below it. Different sizes, and a NaN or infinity on one side only, give
 * infinity.
 */
export function maxScaledError(actual: Tensor, expected: Tensor, floor = 1e-6): number {
  if (actual.size !== expected.size) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < actual.size; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) !== Number.isNaN(e)) return Number.POSITIVE_INFINITY;
    } else if (!Number.isFinite(a) || !Number.isFinite(e)) {
      if (a !== e) return Number.POSITIVE_INFINITY;
    } else worst = Math.max(worst, Math.abs(a - e) / (Math.abs(e) + floor));
  }
  return worst;
}

/** The index of the largest value of each row of a `[n, k]` tensor (the first on ties). */
export function argmaxRows(t: Tensor): Int32Array {
  const [n, k] = t.shape as [number, number];
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (t.data[i * k + j]! > t.data[i * k + best]!) best = j;
    out[i] = best;
  }
  return out;
}

/** The rows where two class vectors differ. */
export function differences(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
