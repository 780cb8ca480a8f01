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

/**
 * The prologue both kernels share: locals, `invN`, and per row the mean `m` (pass one) with the
 * row's end pointers; `body` emits the rest of the row. Rows follow each other at `x` and `out`;
 * `others` are further input pointers advanced by a row too.
 */
function rowLoop(f: FunctionBuilder, others: readonly string[], body: () => void): void {
  for (const [n, t] of [
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
  ] as const)
    f.local(n, t);
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
      f.get("x").set("px");
      f.whileLoop(
        () => f.get("end4").get("px").gtS(),
        () => {
          accumulate(f, "sLo", () => pair(f, "px", 0));
          accumulate(f, "sHi", () => pair(f, "px", 8));
          f.inc("px", 16);
        },
      );
      extract(f.get("sLo"), 0).set("s0");
      f.whileLoop(
        () => f.get("end").get("px").gtS(),
        () => {
          f.get("s0");
          scalar(f, "px")
            .op(...f64.add)
            .set("s0");
          f.inc("px", 4);
        },
      );
      total(f, "s0", "sLo", "sHi")
        .get("invN")
        .op(...f64.mul)
        .set("m");
      f.get("m")
        .op(...x2.splat)
        .set("mv");
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
  const f = new FunctionBuilder([
    ["x", I32],
    ["gamma", I32],
    ["beta", I32],
    ["out", I32],
    ["rows", I32],
    ["n", I32],
    ["eps", F64],
  ]);
  for (const [n, t] of [
    ["k", F64],
    ["kv", V128],
    ["t", F64],
    ["tv", V128],
    ["pg", I32],
    ["pb", I32],
    ["po", I32],
  ] as const)
    f.local(n, t);
  rowLoop(f, [], () => {
    // pass two: the biased variance of x - m
    zero(f, "sLo", "sHi");
    f.get("x").set("px");
    const sq = (acc: string, off: number) =>
      accumulate(f, acc, () => {
        pair(f, "px", off)
          .get("mv")
          .op(...x2.sub)
          .set("tv");
        f.get("tv")
          .get("tv")
          .op(...x2.mul);
      });
    f.whileLoop(
      () => f.get("end4").get("px").gtS(),
      () => {
        sq("sLo", 0);
        sq("sHi", 8);
        f.inc("px", 16);
      },
    );
    extract(f.get("sLo"), 0).set("s0");
    f.whileLoop(
      () => f.get("end").get("px").gtS(),
      () => {
        scalar(f, "px")
          .get("m")
          .op(...f64.sub)
          .set("t");
        f.get("s0")
          .get("t")
          .get("t")
          .op(...f64.mul)
          .op(...f64.add)
          .set("s0");
        f.inc("px", 4);
      },
    );
    f64Const(f, 1);
    total(f, "s0", "sLo", "sHi")
      .get("invN")
      .op(...f64.mul)
      .get("eps")
      .op(...f64.add)
      .op(...f64.sqrt)
      .op(...f64.div)
      .set("k");
    f.get("k")
      .op(...x2.splat)
      .set("kv");
    // pass three: the output
    f.get("x").set("px");
    f.get("gamma").set("pg");
    f.get("beta").set("pb");
    f.get("out").set("po");
    const put = (off: number) => {
      f.get("po");
      pair(f, "px", off)
        .get("mv")
        .op(...x2.sub)
        .get("kv")
        .op(...x2.mul);
      pair(f, "pg", off).op(...x2.mul);
      pair(f, "pb", off)
        .op(...x2.add)
        .op(...x2.demoteZero)
        .v128Store64Lane(off, 0);
    };
    f.whileLoop(
      () => f.get("end4").get("px").gtS(),
      () => {
        put(0);
        put(8);
        for (const p of ["px", "pg", "pb", "po"]) f.inc(p, 16);
      },
    );
    f.whileLoop(
      () => f.get("end").get("px").gtS(),
      () => {
        f.get("po");
        scalar(f, "px")
          .get("m")
          .op(...f64.sub)
          .get("k")
          .op(...f64.mul);
        scalar(f, "pg").op(...f64.mul);
        scalar(f, "pb")
          .op(...f64.add)
          .op(...f64.toF32)
          .f32Store();
        for (const p of ["px", "pg", "pb", "po"]) f.inc(p, 4);
      },
    );
  });
  return f;
}

/**
 * `layernorm_back_f32(x, d, out, rows, n, eps)`: byte addresses, `rows` contiguous rows of `n`
 * floats, `out = k (d - mean(d)) - (x - m) c` per row with `k = rstd` and
 * `c = mean(d (x - m)) k³` (the input gradient of layerNorm for `d = g * gamma`).
 */
export function emitLayerNormBackward(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["x", I32],
    ["d", I32],
    ["out", I32],
    ["rows", I32],
    ["n", I32],
    ["eps", F64],
  ]);
  for (const [n, t] of [
    ["k", F64],
    ["kv", V128],
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
  ] as const)
    f.local(n, t);
  rowLoop(f, ["d"], () => {
    // pass two: sums of (x - m)², d and d (x - m)
    zero(f, "sLo", "sHi", "aLo", "aHi", "cLo", "cHi");
    f.get("x").set("px");
    f.get("d").set("pd");
    const step = (s: string, a: string, c: string, off: number) => {
      pair(f, "px", off)
        .get("mv")
        .op(...x2.sub)
        .set("tv");
      pair(f, "pd", off).set("uv");
      accumulate(f, s, () =>
        f
          .get("tv")
          .get("tv")
          .op(...x2.mul),
      );
      accumulate(f, a, () => f.get("uv"));
      accumulate(f, c, () =>
        f
          .get("uv")
          .get("tv")
          .op(...x2.mul),
      );
    };
    f.whileLoop(
      () => f.get("end4").get("px").gtS(),
      () => {
        step("sLo", "aLo", "cLo", 0);
        step("sHi", "aHi", "cHi", 8);
        f.inc("px", 16);
        f.inc("pd", 16);
      },
    );
    extract(f.get("sLo"), 0).set("s0");
    extract(f.get("aLo"), 0).set("a0");
    extract(f.get("cLo"), 0).set("c0");
    f.whileLoop(
      () => f.get("end").get("px").gtS(),
      () => {
        scalar(f, "px")
          .get("m")
          .op(...f64.sub)
          .set("t");
        scalar(f, "pd").set("u");
        f.get("s0")
          .get("t")
          .get("t")
          .op(...f64.mul)
          .op(...f64.add)
          .set("s0");
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
        f.inc("px", 4);
        f.inc("pd", 4);
      },
    );
    f64Const(f, 1);
    total(f, "s0", "sLo", "sHi")
      .get("invN")
      .op(...f64.mul)
      .get("eps")
      .op(...f64.add)
      .op(...f64.sqrt)
      .op(...f64.div)
      .set("k");
    total(f, "a0", "aLo", "aHi")
      .get("invN")
      .op(...f64.mul)
      .set("a");
    total(f, "c0", "cLo", "cHi")
      .get("invN")
      .op(...f64.mul)
      .get("k")
      .op(...f64.mul)
      .get("k")
      .op(...f64.mul)
      .get("k")
      .op(...f64.mul)
      .set("c");
    f.get("k")
      .op(...x2.splat)
      .set("kv");
    f.get("a")
      .op(...x2.splat)
      .set("av");
    f.get("c")
      .op(...x2.splat)
      .set("cv");
    // pass three: out = k (d - a) - (x - m) c
    f.get("x").set("px");
    f.get("d").set("pd");
    f.get("out").set("po");
    const put = (off: number) => {
      f.get("po").get("kv");
      pair(f, "pd", off)
        .get("av")
        .op(...x2.sub)
        .op(...x2.mul);
      pair(f, "px", off)
        .get("mv")
        .op(...x2.sub)
        .get("cv")
        .op(...x2.mul)
        .op(...x2.sub)
        .op(...x2.demoteZero)
        .v128Store64Lane(off, 0);
    };
    f.whileLoop(
      () => f.get("end4").get("px").gtS(),
      () => {
        put(0);
        put(8);
        for (const p of ["px", "pd", "po"]) f.inc(p, 16);
      },
    );
    f.whileLoop(
      () => f.get("end").get("px").gtS(),
      () => {
        f.get("po").get("k");
        scalar(f, "pd")
          .get("a")
          .op(...f64.sub)
          .op(...f64.mul);
        scalar(f, "px")
          .get("m")
          .op(...f64.sub)
          .get("c")
          .op(...f64.mul)
          .op(...f64.sub)
          .op(...f64.toF32)
          .f32Store();
        for (const p of ["px", "pd", "po"]) f.inc(p, 4);
      },
    );
  });
  return f;
}
