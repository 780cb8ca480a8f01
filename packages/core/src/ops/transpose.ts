import { wasmBackend } from "../backend/memory.js";
import { type ConcreteShape, ShapeError, shapeToString, sizeOf, stridesOf } from "../shape.js";
import type { Kernel, OpDef } from "./types.js";

/** Attributes of `transpose`. */
export interface TransposeAttrs {
  /** Output axis i takes input axis perm[i]; `null` reverses the axes. */
  readonly perm: readonly number[] | null;
}

function fullPerm(perm: readonly number[] | null, rank: number): number[] {
  return perm ? [...perm] : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

/** Permutes axes (a copy; matmul takes transpose flags instead so backward needs no copy). */
export const transpose: OpDef<TransposeAttrs> = {
  name: "transpose",
  doc: "Permutes axes: output axis i is input axis perm[i].",
  arity: 1,
  kind: "kernel",
  attrs: (raw) => {
    const perm = raw.perm ?? null;
    if (perm !== null && (!Array.isArray(perm) || !perm.every((p) => Number.isInteger(p)))) {
      throw new Error(`transpose: 'perm' must be an array of integers, got ${JSON.stringify(perm)}`);
    }
    return { perm: perm === null ? null : [...perm] };
  },
  shape: (inputs, attrs) => {
    const x = inputs[0]!;
    const perm = fullPerm(attrs.perm, x.shape.length);
    const seen = new Set(perm);
    if (
      perm.length !== x.shape.length ||
      seen.size !== perm.length ||
      perm.some((p) => p < 0 || p >= perm.length)
    ) {
      throw new ShapeError(
        `transpose: perm ${JSON.stringify(perm)} is not a permutation of the axes of ${shapeToString(x.shape)}`,
      );
    }
    return { shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
  },
  kernel: (ctx) => {
    const inShape = ctx.inShapes[0]! as ConcreteShape;
    const rank = inShape.length;
    const perm = fullPerm(ctx.attrs.perm, rank);
    const inStrides = stridesOf(inShape);
    const outShape = ctx.outShape;
    const n = sizeOf(outShape);
    if (rank === 2 && perm[0] === 1) {
      const rows = inShape[0]!;
      const cols = inShape[1]!;
      return (ins, out) => {
        const x = ins[0]!;
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
      };
    }
    // Trailing axes the permutation leaves in place are one contiguous run in both layouts (e.g.
    // the 16 values of a head in [N, T, H, dk] -> [N, H, T, dk]): the table then holds where each
    // run starts, and the runs are copied by an inner loop (4-5x faster than an index per value).
    let lead = rank;
    let run = 1;
    while (lead > 0 && perm[lead - 1] === lead - 1) {
      lead--;
      run *= inShape[lead]!;
    }
    const runs = run === 0 ? 0 : n / run;
    const map = new Int32Array(runs);
    const idx = new Array<number>(lead).fill(0);
    const step = perm.slice(0, lead).map((p) => inStrides[p]!);
    let off = 0;
    for (let i = 0; i < runs; i++) {
      map[i] = off;
      for (let d = lead - 1; d >= 0; d--) {
        idx[d]!++;
        off += step[d]!;
        if (idx[d]! < outShape[d]!) break;
        off -= step[d]! * outShape[d]!;
        idx[d] = 0;
      }
    }
    const js = runCopy(map, runs, run);
    // float32 in the arena: the runs of one output row block are one strided 2-D copy (WebAssembly
    // memory.copy per run): [N, T, H, dk] -> [N, H, T, dk] with dk = 16 ran 3-4x faster than the loop
    const be = wasmBackend();
    if (be && ctx.dtype === "float32" && run >= MIN_WASM_RUN && lead > 0 && n > 0) {
      const rows = outShape[lead - 1]!;
      const srcStride = step[lead - 1]!;
      const blocks = runs / rows;
      const starts = Int32Array.from({ length: blocks }, (_, k) => map[k * rows]!);
      return (ins, out) => {
        const x = ins[0]!;
        if (!be.owns(x) || !be.owns(out)) return js(ins, out);
        const k = be.kernels;
        const xb = x.byteOffset;
        const ob = out.byteOffset;
        const block = rows * run * 4;
        for (let i = 0; i < blocks; i++)
          k.copy2d_f32(ob + i * block, run, xb + 4 * starts[i]!, srcStride, rows, run);
      };
    }
    return js;
  },
};

/** Runs at least this long are copied by WebAssembly `memory.copy` (float32 in the arena). */
const MIN_WASM_RUN = 8;

/** Copies `runs` runs of `run` values starting at `map[i]` of the input, one after another. */
function runCopy(map: Int32Array, runs: number, run: number): Kernel {
  if (run === 1) {
    return (ins, out) => {
      const x = ins[0]!;
      for (let i = 0; i < runs; i++) out[i] = x[map[i]!]!;
    };
  }
  return (ins, out) => {
    const x = ins[0]!;
    for (let i = 0, o = 0; i < runs; i++) {
      const s = map[i]!;
      for (let j = 0; j < run; j++, o++) out[o] = x[s + j]!;
    }
  };
}
