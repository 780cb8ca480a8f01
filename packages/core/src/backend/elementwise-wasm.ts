/**
 * WebAssembly SIMD loops for float32 elementwise expressions (single ops and fused groups) built
 * from the arithmetic ops that have direct SIMD instructions: neg, abs, sqrt, square, relu, add,
 * sub, mul, div, maximum, minimum, the comparisons, where, leakyRelu and clip (with JavaScript's
 * NaN and signed-zero results). Groups using transcendental ops
 * (exp, log, tanh, sigmoid, pow) keep the generated JavaScript loop. Each distinct expression
 * and access pattern is compiled once into a tiny module on the shared arena memory.
 * @module
 */
import type { Kernel } from "../ops/types.js";
import { wasmBackend } from "./memory.js";
import { assembleModule, F32, FunctionBuilder, I32, uleb, V128 } from "./wasm-emit.js";

/** An elementwise expression: an op applied to sub-expressions or leaf indices. */
export interface ExprTree {
  /** Op name from the op table. */
  readonly op: string;
  /** Children: sub-expressions, or the index of a leaf (kernel input). */
  readonly kids: readonly (ExprTree | number)[];
}

/**
 * How a leaf is read: `full` (same shape as the output), `scalar`, `suffix` (row-tiled), `rows`
 * (column-broadcast), `planes:<mid>` (one value per row, cycling through `mid` values).
 */
export type LeafMode = "full" | "scalar" | "suffix" | "rows" | `planes:${number}`;

/** True for leaves read once per row (splatted): `rows` and `planes:<mid>`. */
function perRow(mode: LeafMode): boolean {
  return mode === "rows" || mode.startsWith("planes:");
}

const VEC: Record<string, number> = {
  add: 228,
  sub: 229,
  mul: 230,
  div: 231,
  minimum: 232,
  maximum: 233,
  equal: 65,
  greater: 68,
  less: 67,
  greaterEqual: 70,
  lessEqual: 69,
};
const SCAL: Record<string, number> = {
  add: 0x92,
  sub: 0x93,
  mul: 0x94,
  div: 0x95,
  minimum: 0x96,
  maximum: 0x97,
  equal: 0x5b,
  greater: 0x5e,
  less: 0x5d,
  greaterEqual: 0x60,
  lessEqual: 0x5f,
};
const COMPARISONS = new Set(["equal", "greater", "less", "greaterEqual", "lessEqual"]);
const SUPPORTED = new Set([
  ...Object.keys(VEC),
  "neg",
  "abs",
  "sqrt",
  "square",
  "relu",
  "where",
  "leakyRelu",
  "clip",
]);

/** True when every op of the tree has a SIMD lowering. */
export function simdSupported(tree: ExprTree): boolean {
  const stack: (ExprTree | number)[] = [tree];
  while (stack.length) {
    const t = stack.pop()!;
    if (typeof t === "number") continue;
    if (!SUPPORTED.has(t.op)) return false;
    stack.push(...t.kids);
  }
  return true;
}

const ONE = [...new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer)];

function vconst(f: FunctionBuilder, bytes: number[]): void {
  f.op(0xfd, 0x0c, ...bytes);
}

let temps = 0;

/** Emits the expression; `leaf(k)` pushes leaf k (a v128 or an f32 by `vector`). */
function emit(f: FunctionBuilder, t: ExprTree | number, vector: boolean, leaf: (k: number) => void): void {
  if (typeof t === "number") {
    leaf(t);
    return;
  }
  const ty = vector ? V128 : F32;
  const kid = (i: number) => emit(f, t.kids[i]!, vector, leaf);
  const simd = (code: number) => f.op(0xfd, ...(code > 127 ? [(code & 0x7f) | 0x80, code >> 7] : [code]));
  const zero = () => (vector ? f.v128Zero() : f.f32Const(0));
  const tmp = () => f.local(`t${temps++}`, ty);
  const toOne = () => {
    // comparison result -> 1.0 / 0.0
    if (vector) {
      vconst(f, ONE);
      f.op(0xfd, 0x4e); // v128.and
    } else f.op(0xb3); // f32.convert_i32_u
  };
  switch (t.op) {
    case "neg":
      kid(0);
      if (vector) simd(225);
      else f.op(0x8c);
      return;
    case "abs":
      kid(0);
      if (vector) simd(224);
      else f.op(0x8b);
      return;
    case "sqrt":
      kid(0);
      if (vector) simd(227);
      else f.op(0x91);
      return;
    case "square": {
      const l = tmp();
      kid(0);
      f.op(0x22, ...uleb(l)); // local.tee
      f.op(0x20, ...uleb(l));
      if (vector) simd(230);
      else f.op(0x94);
      return;
    }
    case "relu":
      kid(0);
      zero();
      if (vector) simd(233);
      else f.op(0x97);
      return;
    case "leakyRelu": {
      // x > 0 ? x : s * x as bitselect(x, s * x, x > 0) / select(x, s * x, x > 0); the product of
      // two float32 values rounds once either way, as in the JavaScript loop
      const l = tmp();
      kid(0);
      f.op(0x21, ...uleb(l)); // local.set
      f.op(0x20, ...uleb(l));
      kid(1);
      f.op(0x20, ...uleb(l));
      if (vector) simd(230);
      else f.op(0x94);
      f.op(0x20, ...uleb(l));
      zero();
      if (vector) {
        simd(68); // f32x4.gt
        f.op(0xfd, 0x52); // v128.bitselect
      } else {
        f.op(0x5e); // f32.gt
        f.op(0x1b); // select
      }
      return;
    }
    case "clip":
      // minimum(maximum(x, lo), hi): NaN-propagating, -0 < +0, as Math.min / Math.max
      kid(0);
      kid(1);
      if (vector) simd(VEC.maximum!);
      else f.op(SCAL.maximum!);
      kid(2);
      if (vector) simd(VEC.minimum!);
      else f.op(SCAL.minimum!);
      return;
    case "where": {
      // bitselect(a, b, c != 0) / select(a, b, c != 0)
      kid(1);
      kid(2);
      kid(0);
      zero();
      if (vector) {
        simd(66); // f32x4.ne
        f.op(0xfd, 0x52); // v128.bitselect
      } else {
        f.op(0x5c); // f32.ne
        f.op(0x1b); // select
      }
      return;
    }
    default: {
      kid(0);
      kid(1);
      if (vector) simd(VEC[t.op]!);
      else f.op(SCAL[t.op]!);
      if (COMPARISONS.has(t.op)) toOne();
    }
  }
}

function emitLoop(tree: ExprTree, modes: readonly LeafMode[], nested: boolean): FunctionBuilder {
  const params: [string, number][] = [["out", I32]];
  modes.forEach((_, k) => {
    params.push([`a${k}`, I32]);
  });
  params.push(["n", I32], ["m", I32]);
  const f = new FunctionBuilder(params);
  temps = 0;
  for (const l of ["i", "j", "r", "rows", "vend", "end"]) f.local(l, I32);
  modes.forEach((mode, k) => {
    if (mode === "scalar" || perRow(mode)) {
      f.local(`sv${k}`, V128);
      f.local(`ss${k}`, F32);
    }
    if (mode.startsWith("planes:")) f.local(`q${k}`, I32);
  });
  // scalar leaves: load once
  modes.forEach((mode, k) => {
    if (mode === "scalar") {
      f.get(`a${k}`).f32Load().set(`ss${k}`);
      f.get(`ss${k}`).op(0xfd, 0x13).set(`sv${k}`);
    }
  });
  // leaf loaders: the address of element (i + j) is a_k + i + j for full leaves, a_k + j for suffix
  const leaf = (vector: boolean) => (k: number) => {
    const mode = modes[k]!;
    if (mode === "scalar" || perRow(mode)) {
      f.get(vector ? `sv${k}` : `ss${k}`);
      return;
    }
    f.get(`a${k}`);
    if (mode === "full") f.get("i").add();
    if (nested) f.get("j").add();
    if (vector) f.v128Load();
    else f.f32Load();
  };
  const body = (vector: boolean) => {
    // the output address first, then the value
    f.get("out").get("i").add();
    if (nested) f.get("j").add();
    emit(f, tree, vector, leaf(vector));
    if (vector) f.v128Store();
    else f.f32Store();
  };
  if (!nested) {
    f.get("n").i32(-4).op(0x71).i32(4).mul().set("vend");
    f.get("n").i32(4).mul().set("end");
    f.i32(0).set("i");
    f.whileLoop(
      () => f.get("vend").get("i").gtS(),
      () => {
        body(true);
        f.inc("i", 16);
      },
    );
    f.whileLoop(
      () => f.get("end").get("i").gtS(),
      () => {
        body(false);
        f.inc("i", 4);
      },
    );
    return f;
  }
  // nested: rows of length m; i is the byte offset of the row start
  f.get("m").i32(-4).op(0x71).i32(4).mul().set("vend");
  f.get("m").i32(4).mul().set("end");
  f.get("n").get("m").op(0x6d).set("rows"); // i32.div_s
  f.i32(0).set("i");
  f.i32(0).set("r");
  modes.forEach((mode, k) => {
    if (mode.startsWith("planes:")) f.i32(0).set(`q${k}`);
  });
  f.whileLoop(
    () => f.get("rows").get("r").gtS(),
    () => {
      modes.forEach((mode, k) => {
        if (mode === "rows") {
          f.get(`a${k}`).get("r").i32(4).mul().add().f32Load().set(`ss${k}`);
          f.get(`ss${k}`).op(0xfd, 0x13).set(`sv${k}`);
        } else if (mode.startsWith("planes:")) {
          // q cycles 0 .. mid-1 (byte offsets), one step per row
          f.get(`a${k}`).get(`q${k}`).add().f32Load().set(`ss${k}`);
          f.get(`ss${k}`).op(0xfd, 0x13).set(`sv${k}`);
          f.inc(`q${k}`, 4);
          f.ifElse(
            () =>
              f
                .get(`q${k}`)
                .i32(4 * Number(mode.slice(7)))
                .eq(),
            () => f.i32(0).set(`q${k}`),
          );
        }
      });
      f.i32(0).set("j");
      f.whileLoop(
        () => f.get("vend").get("j").gtS(),
        () => {
          body(true);
          f.inc("j", 16);
        },
      );
      f.whileLoop(
        () => f.get("end").get("j").gtS(),
        () => {
          body(false);
          f.inc("j", 4);
        },
      );
      f.incBy("i", "end");
      f.inc("r", 1);
    },
  );
  return f;
}

type Raw = (...args: number[]) => void;
const cache = new Map<string, Raw | null>();

function treeKey(t: ExprTree | number): string {
  return typeof t === "number" ? `$${t}` : `${t.op}(${t.kids.map(treeKey).join(",")})`;
}

/**
 * A float32 SIMD kernel for `tree` with these leaf modes, or null when some op or mode has no
 * SIMD lowering (or WebAssembly is unavailable). `fallback` runs when an array is outside the arena.
 */
export function wasmElementwise(
  tree: ExprTree,
  modes: readonly string[],
  n: number,
  m: number,
  fallback: Kernel,
): Kernel | null {
  const be = wasmBackend();
  if (!be || !simdSupported(tree) || modes.some((x) => x === "map") || modes.length > 8) return null;
  const nested = m > 0;
  const key = `${treeKey(tree)}|${modes.join(",")}|${nested}`;
  let raw = cache.get(key);
  if (raw === undefined) {
    try {
      const bytes = assembleModule([{ name: "k", fn: emitLoop(tree, modes as LeafMode[], nested) }], {
        initial: 1,
        maximum: 32768,
        shared: true,
      });
      const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: be.memory } });
      raw = inst.exports.k as Raw;
    } catch {
      raw = null;
    }
    cache.set(key, raw);
  }
  if (!raw) return null;
  const fn = raw;
  const k = modes.length;
  const owns = (ins: readonly Float32Array[] | readonly unknown[], out: unknown): boolean => {
    if (!(out instanceof Float32Array) || !be.owns(out)) return false;
    for (let q = 0; q < ins.length; q++) {
      const a = ins[q];
      if (!(a instanceof Float32Array) || !be.owns(a)) return false;
    }
    return true;
  };
  switch (k) {
    case 1:
      return (ins, out) => {
        if (owns(ins, out)) fn(out.byteOffset, ins[0]!.byteOffset, n, m);
        else fallback(ins, out);
      };
    case 2:
      return (ins, out) => {
        if (owns(ins, out)) fn(out.byteOffset, ins[0]!.byteOffset, ins[1]!.byteOffset, n, m);
        else fallback(ins, out);
      };
    case 3:
      return (ins, out) => {
        if (owns(ins, out))
          fn(out.byteOffset, ins[0]!.byteOffset, ins[1]!.byteOffset, ins[2]!.byteOffset, n, m);
        else fallback(ins, out);
      };
    default: {
      const args = new Array<number>(k + 3).fill(0);
      return (ins, out) => {
        if (!owns(ins, out)) {
          fallback(ins, out);
          return;
        }
        args[0] = out.byteOffset;
        for (let q = 0; q < k; q++) args[q + 1] = ins[q]!.byteOffset;
        args[k + 1] = n;
        args[k + 2] = m;
        fn(...args);
      };
    }
  }
}
