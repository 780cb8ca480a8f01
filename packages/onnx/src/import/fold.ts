/**
 * Import-time evaluation of the integer "shape plumbing" ONNX models compute their shapes with
 * (`Shape` → `Gather`/`Slice` → `Concat` → `Reshape`): small tensors whose entries are numbers
 * or symbolic dims.
 * @module
 */
import { type Dim, tryBroadcastShapes } from "@gradgraph/core";
import { TensorProto_DataType } from "../gen/onnx_pb.js";
import { countOf, type Known, known } from "./values.js";

const D = TensorProto_DataType;

/** Row-major strides of concrete dims. */
function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/** Index into `dims` (broadcast from `out`) of flat output position `p`. */
function broadcastIndex(p: number, out: readonly number[], dims: readonly number[]): number {
  const os = strides(out);
  const ds = strides(dims);
  const off = out.length - dims.length;
  let idx = 0;
  for (let i = 0; i < out.length; i++) {
    const c = Math.floor(p / os[i]!) % out[i]!;
    const j = i - off;
    if (j >= 0 && dims[j]! !== 1) idx += c * ds[j]!;
  }
  return idx;
}

/** Elementwise `f(a, b)` with numpy broadcasting; null when the dims do not broadcast. */
export function foldBinary(a: Known, b: Known, elem: number, f: (x: Dim, y: Dim) => Dim): Known | null {
  const out = tryBroadcastShapes(a.dims, b.dims) as number[] | null;
  if (out === null) return null;
  const n = countOf(out);
  const data: Dim[] = [];
  for (let p = 0; p < n; p++)
    data.push(f(a.data[broadcastIndex(p, out, a.dims)]!, b.data[broadcastIndex(p, out, b.dims)]!));
  return known(elem, out, data);
}

/** Converts a number to element type `elem` (ONNX Cast: truncation to integers, 0/1 for BOOL). */
export function castNumber(v: number, elem: number): number {
  if (elem === D.FLOAT) return Math.fround(v);
  if (elem === D.DOUBLE) return v;
  if (elem === D.BOOL) return v !== 0 ? 1 : 0;
  return Math.trunc(v);
}

/** `x[starts:ends]` along `axes` with step 1 (indices normalised as ONNX Slice does). */
export function foldSlice(
  x: Known,
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[],
): Known {
  const dims = [...x.dims];
  const begin = dims.map(() => 0);
  for (let k = 0; k < axes.length; k++) {
    const a = axes[k]!;
    const n = dims[a]!;
    const s = clampIndex(starts[k]!, n);
    const e = clampIndex(ends[k]!, n);
    begin[a] = s;
    dims[a] = Math.max(0, e - s);
  }
  const xs = strides(x.dims);
  const count = countOf(dims);
  const ds = strides(dims);
  const data: Dim[] = [];
  for (let p = 0; p < count; p++) {
    let src = 0;
    for (let i = 0; i < dims.length; i++) src += ((Math.floor(p / ds[i]!) % dims[i]!) + begin[i]!) * xs[i]!;
    data.push(x.data[src]!);
  }
  return known(x.elem, dims, data);
}

/** An ONNX Slice index normalised to `[0, n]`. */
export function clampIndex(i: number, n: number): number {
  const j = i < 0 ? i + n : i;
  return Math.min(Math.max(j, 0), n);
}

/** Gathers along `axis` of `x` at (already normalised) `indices` of dims `idims`. */
export function foldGather(
  x: Known,
  indices: readonly number[],
  idims: readonly number[],
  axis: number,
): Known {
  const outer = countOf(x.dims.slice(0, axis));
  const n = x.dims[axis]!;
  const inner = countOf(x.dims.slice(axis + 1));
  const data: Dim[] = [];
  for (let o = 0; o < outer; o++)
    for (const j of indices) for (let i = 0; i < inner; i++) data.push(x.data[(o * n + j) * inner + i]!);
  return known(x.elem, [...x.dims.slice(0, axis), ...idims, ...x.dims.slice(axis + 1)], data);
}

/** Joins Knowns along `axis`. */
export function foldConcat(xs: readonly Known[], axis: number): Known {
  const first = xs[0]!;
  const outer = countOf(first.dims.slice(0, axis));
  const data: Dim[] = [];
  let total = 0;
  for (const x of xs) total += x.dims[axis]!;
  for (let o = 0; o < outer; o++)
    for (const x of xs) {
      const block = countOf(x.dims.slice(axis));
      for (let i = 0; i < block; i++) data.push(x.data[o * block + i]!);
    }
  const dims = [...first.dims];
  dims[axis] = total;
  return known(first.elem, dims, data);
}
