/**
 * WebAssembly SIMD lowering of the float32 layer-norm kernels over contiguous rows (the last
 * axis). Each float32 pair is promoted to an `f64x2`, so every sum, product and quotient is the
 * float64 operation the JavaScript loops in layerNorm.ts perform, in the same order (lanes 0-3 of
 * a group of four are that loop's four partial sums, the tail joins the first, and the totals
 * combine as `(s0 + s1) + (s2 + s3)`); results are rounded to float32 once, on store. The two
 * paths therefore give the same bits.
 * @module
 */
import { F64, FunctionBuilder, I32, uleb, V128 } from "./wasm-emit.js";

// scalar float64 and f64x2 opcodes the emitter has no helper for
const f64 = {
  add: [0xa0],
  sub: [0xa1],
  mul: [0xa2],
  div: [0xa3],
  sqrt: [0x9f],
  fromI32: [0xb7],
  fromF32: [0xbb],
  toF32: [0xb6],
} as const;
const x2 = {
  splat: [0xfd, 0x14],
  add: [0xfd, ...uleb(240)],
  sub: [0xfd, ...uleb(241)],
  mul: [0xfd, ...uleb(242)],
  promoteLow: [0xfd, ...uleb(95)],
  demoteZero: [0xfd, ...uleb(94)],
} as const;

function f64Const(f: FunctionBuilder, v: number): FunctionBuilder {
  return f.op(0x44, ...new Uint8Array(new Float64Array([v]).buffer));
}
function extract(f: FunctionBuilder, lane: number): FunctionBuilder {
  return f.op(0xfd, 0x21, lane);
}
/** Pushes the float32 pair at `ptr + offset`, promoted to an f64x2. */
function pair(f: FunctionBuilder, ptr: string, offset: number): FunctionBuilder {
  return f
    .get(ptr)
    .v128Load64Zero(offset)
    .op(...x2.promoteLow);
}
/** Pushes the float32 at `ptr`, promoted to f64. */
function scalar(f: FunctionBuilder, ptr: string): FunctionBuilder {
  return f
    .get(ptr)
    .f32Load()
    .op(...f64.fromF32);
}
/** `(lo[0] + lo[1]) + (hi[0] + hi[1])` where `first` already holds `lo[0]` plus the tail. */
function total(f: FunctionBuilder, first: string, lo: string, hi: string): FunctionBuilder {
  f.get(first);
  extract(f.get(lo), 1).op(...f64.add);
  extract(f.get(hi), 0);
  extract(f.get(hi), 1).op(...f64.add);
  return f.op(...f64.add);
}
/** Sets vector locals to zero. */
function zero(f: FunctionBuilder, ...names: string[]): void {
  for (const n of names) f.v128Zero().set(n);
}
/** `acc += value` for an f64x2 local, the value pushed by `push`. */
function accumulate(f: FunctionBuilder, acc: string, push: () => void): void {
  f.get(acc);
  push();
  f.op(...x2.add).set(acc);
}
/** Pushes `x - m` for the float32 pair at `ptr + offset` (an f64x2; `mv` holds `m` splatted). */
function centred(f: FunctionBuilder, ptr: string, offset: number): FunctionBuilder {
  return pair(f, ptr, offset)
    .get("mv")
    .op(...x2.sub);
}
/** Pushes `x - m` for the float32 at `ptr` (an f64). */
function centredScalar(f: FunctionBuilder, ptr: string): FunctionBuilder {
  return scalar(f, ptr)
    .get("m")
    .op(...f64.sub);
}
/** Pushes `v * v` for the local `v` (f64x2 when `vector`, else f64). */
function square(f: FunctionBuilder, v: string, vector: boolean): FunctionBuilder {
  return f
    .get(v)
    .get(v)
    .op(...(vector ? x2.mul : f64.mul));
}
/** `acc += v * v` for f64 locals. */
function accumulateSquare(f: FunctionBuilder, acc: string, v: string): void {
  square(f.get(acc), v, false)
    .op(...f64.add)
    .set(acc);
}
/** Pushes the row mean of a sum split as in {@link total}. */
function meanOf(f: FunctionBuilder, first: string, lo: string, hi: string): FunctionBuilder {
  return total(f, first, lo, hi)
    .get("invN")
    .op(...f64.mul);
}
/** `k = 1 / sqrt(mean of the squares in s0, sLo, sHi + eps)`. */
function reciprocalStd(f: FunctionBuilder): void {
  f64Const(f, 1);
  meanOf(f, "s0", "sLo", "sHi")
    .get("eps")
    .op(...f64.add)
    .op(...f64.sqrt)
    .op(...f64.div)
    .set("k");
}
/** `to = splat(from)`: an f64 local copied to both lanes of an f64x2 local. */
function splat(f: FunctionBuilder, from: string, to: string): void {
  f.get(from)
    .op(...x2.splat)
    .set(to);
}
/** Rounds the f64x2 on the stack to float32 and stores the pair at `offset` (address pushed first). */
function storePair(f: FunctionBuilder, offset: number): void {
  f.op(...x2.demoteZero).v128Store64Lane(offset, 0);
}
/** Rounds the f64 on the stack to float32 and stores it (address pushed first). */
function storeScalar(f: FunctionBuilder): void {
  f.op(...f64.toF32).f32Store();
}
/** Points each `[from, to]` pointer local `to` at the row start `from`. */
function startRow(f: FunctionBuilder, pointers: readonly (readonly [string, string])[]): void {
  for (const [from, to] of pointers) f.get(from).set(to);
}
/**
 * Walks the row with `px`: `groups` once per four floats while `px < end4`, then `tail` once per
 * remaining float while `px < end`; each advances its own pointers.
 */
function walkRow(f: FunctionBuilder, groups: () => void, tail: () => void, between?: () => void): void {
  f.whileLoop(() => f.get("end4").get("px").gtS(), groups);
  between?.();
  f.whileLoop(() => f.get("end").get("px").gtS(), tail);
}
/** Declares the locals `[name, type]`, in order. */
function declare(f: FunctionBuilder, locals: readonly (readonly [string, number])[]): void {
  for (const [n, t] of locals) f.local(n, t);
}
/**
 * A kernel's builder: i32 byte-address parameters `pointers`, then `rows`, `n` and `eps`; locals
 * `k` and `kv` (the row's rstd, scalar and splatted) followed by `locals`.
 */
function rowFunction(
  pointers: readonly string[],
  locals: readonly (readonly [string, number])[],
): FunctionBuilder {
  const f = new FunctionBuilder([
    ...pointers.map((p): [string, number] => [p, I32]),
    ["rows", I32],
    ["n", I32],
    ["eps", F64],
  ]);
  declare(f, [["k", F64], ["kv", V128], ...locals]);
  return f;
}
/** Advances each pointer local by `by` bytes. */
function advance(f: FunctionBuilder, pointers: readonly string[], by: number): void {
  for (const p of pointers) f.inc(p, by);
}
/**
 * The output pass: `put(offset)` writes the float32 pair at each of the two offsets of a group of
 * four, `putOne` a single float of the tail; `pointers` advance together.
 */
function writeRow(
  f: FunctionBuilder,
  pointers: readonly string[],
  put: (offset: number) => void,
  putOne: () => void,
): void {
  walkRow(
    f,
    () => {
      put(0);
      put(8);
      advance(f, pointers, 16);
    },
    () => {
      putOne();
      advance(f, pointers, 4);
    },
  );
}

/**
 * The prologue both kernels share: locals, `invN`, and per row the mean `m` (pass one) with the
 * row's end pointers; `body` emits the rest of the row. Rows follow each other at `x` and `out`;
 * `others` are further input pointers advanced by a row too.
 */
function rowLoop(f: FunctionBuilder, others: readonly string[], body: () => void): void {
  declare(f, [
    ["invN", F64],
    ["end4", I32],
    ["end", I32],
    ["px", I32],
    ["s0", F64],
    ["sLo", V128],
    ["sHi", V128],
    ["m", F64],
    ["mv", V128],
    ["rowBytes", I32],
  ]);
  f64Const(f, 1)
    .get("n")
    .op(...f64.fromI32)
    .op(...f64.div)
    .set("invN");
  f.get("n").i32(4).mul().set("rowBytes");
  f.whileLoop(
    () => f.get("rows").i32(0).gtS(),
    () => {
      f.get("x").get("n").i32(-4).and().i32(4).mul().add().set("end4");
      f.get("x").get("rowBytes").add().set("end");
      zero(f, "sLo", "sHi");
      startRow(f, [["x", "px"]]);
      walkRow(
        f,
        () => {
          accumulate(f, "sLo", () => pair(f, "px", 0));
          accumulate(f, "sHi", () => pair(f, "px", 8));
          f.inc("px", 16);
        },
        () => {
          f.get("s0");
          scalar(f, "px")
            .op(...f64.add)
            .set("s0");
          f.inc("px", 4);
        },
        () => extract(f.get("sLo"), 0).set("s0"),
      );
      meanOf(f, "s0", "sLo", "sHi").set("m");
      splat(f, "m", "mv");
      body();
      f.get("x").get("rowBytes").add().set("x");
      f.get("out").get("rowBytes").add().set("out");
      for (const p of others) f.get(p).get("rowBytes").add().set(p);
      f.get("rows").i32(1).sub().set("rows");
    },
  );
}

/**
 * `layernorm_f32(x, gamma, beta, out, rows, n, eps)`: byte addresses, `rows` contiguous rows of
 * `n` floats, `out = ((x - mean) * rstd) * gamma + beta` per row (`rstd = 1 / sqrt(var + eps)`).
 */
export function emitLayerNorm(): FunctionBuilder {
  const f = rowFunction(
    ["x", "gamma", "beta", "out"],
    [
      ["t", F64],
      ["tv", V128],
      ["pg", I32],
      ["pb", I32],
      ["po", I32],
    ],
  );
  rowLoop(f, [], () => {
    // pass two: the biased variance of x - m
    zero(f, "sLo", "sHi");
    startRow(f, [["x", "px"]]);
    const sq = (acc: string, off: number) =>
      accumulate(f, acc, () => {
        centred(f, "px", off).set("tv");
        square(f, "tv", true);
      });
    walkRow(
      f,
      () => {
        sq("sLo", 0);
        sq("sHi", 8);
        f.inc("px", 16);
      },
      () => {
        centredScalar(f, "px").set("t");
        accumulateSquare(f, "s0", "t");
        f.inc("px", 4);
      },
      () => extract(f.get("sLo"), 0).set("s0"),
    );
    reciprocalStd(f);
    splat(f, "k", "kv");
    // pass three: the output
    const ptrs = ["px", "pg", "pb", "po"];
    startRow(f, [
      ["x", "px"],
      ["gamma", "pg"],
      ["beta", "pb"],
      ["out", "po"],
    ]);
    const put = (off: number) => {
      f.get("po");
      centred(f, "px", off)
        .get("kv")
        .op(...x2.mul);
      pair(f, "pg", off).op(...x2.mul);
      pair(f, "pb", off).op(...x2.add);
      storePair(f, off);
    };
    writeRow(f, ptrs, put, () => {
      f.get("po");
      centredScalar(f, "px")
        .get("k")
        .op(...f64.mul);
      scalar(f, "pg").op(...f64.mul);
      scalar(f, "pb").op(...f64.add);
      storeScalar(f);
    });
  });
  return f;
}

/**
 * `layernorm_back_f32(x, d, out, rows, n, eps)`: byte addresses, `rows` contiguous rows of `n`
 * floats, `out = k (d - mean(d)) - (x - m) c` per row with `k = rstd` and
 * `c = mean(d (x - m)) k³` (the input gradient of layerNorm for `d = g * gamma`).
 */
export function emitLayerNormBackward(): FunctionBuilder {
  const f = rowFunction(
    ["x", "d", "out"],
    [
      ["a", F64],
      ["av", V128],
      ["c", F64],
      ["cv", V128],
      ["a0", F64],
      ["c0", F64],
      ["aLo", V128],
      ["aHi", V128],
      ["cLo", V128],
      ["cHi", V128],
      ["t", F64],
      ["u", F64],
      ["tv", V128],
      ["uv", V128],
      ["pd", I32],
      ["po", I32],
    ],
  );
  rowLoop(f, ["d"], () => {
    // pass two: sums of (x - m)², d and d (x - m)
    zero(f, "sLo", "sHi", "aLo", "aHi", "cLo", "cHi");
    startRow(f, [
      ["x", "px"],
      ["d", "pd"],
    ]);
    const step = (s: string, a: string, c: string, off: number) => {
      centred(f, "px", off).set("tv");
      pair(f, "pd", off).set("uv");
      accumulate(f, s, () => square(f, "tv", true));
      accumulate(f, a, () => f.get("uv"));
      accumulate(f, c, () =>
        f
          .get("uv")
          .get("tv")
          .op(...x2.mul),
      );
    };
    walkRow(
      f,
      () => {
        step("sLo", "aLo", "cLo", 0);
        step("sHi", "aHi", "cHi", 8);
        advance(f, ["px", "pd"], 16);
      },
      () => {
        centredScalar(f, "px").set("t");
        scalar(f, "pd").set("u");
        accumulateSquare(f, "s0", "t");
        f.get("a0")
          .get("u")
          .op(...f64.add)
          .set("a0");
        f.get("c0")
          .get("u")
          .get("t")
          .op(...f64.mul)
          .op(...f64.add)
          .set("c0");
        advance(f, ["px", "pd"], 4);
      },
      () => {
        extract(f.get("sLo"), 0).set("s0");
        extract(f.get("aLo"), 0).set("a0");
        extract(f.get("cLo"), 0).set("c0");
      },
    );
    reciprocalStd(f);
    meanOf(f, "a0", "aLo", "aHi").set("a");
    meanOf(f, "c0", "cLo", "cHi")
      .get("k")
      .op(...f64.mul)
      .get("k")
      .op(...f64.mul)
      .get("k")
      .op(...f64.mul)
      .set("c");
    splat(f, "k", "kv");
    splat(f, "a", "av");
    splat(f, "c", "cv");
    // pass three: out = k (d - a) - (x - m) c
    const ptrs = ["px", "pd", "po"];
    startRow(f, [
      ["x", "px"],
      ["d", "pd"],
      ["out", "po"],
    ]);
    const put = (off: number) => {
      f.get("po").get("kv");
      pair(f, "pd", off)
        .get("av")
        .op(...x2.sub)
        .op(...x2.mul);
      centred(f, "px", off)
        .get("cv")
        .op(...x2.mul)
        .op(...x2.sub);
      storePair(f, off);
    };
    writeRow(f, ptrs, put, () => {
      f.get("po").get("k");
      scalar(f, "pd")
        .get("a")
        .op(...f64.sub)
        .op(...f64.mul);
      centredScalar(f, "px")
        .get("c")
        .op(...f64.mul)
        .op(...f64.sub);
      storeScalar(f);
    });
  });
  return f;
}
