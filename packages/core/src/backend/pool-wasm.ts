/**
 * Max pooling over 2x2 windows with stride 2 (the common CNN case) in WebAssembly SIMD: four
 * windows per step, their two input rows de-interleaved into the four window positions.
 * Semantics match the JavaScript kernels in ops/pool2d.ts: a NaN wins (it propagates), and the
 * gradient goes to the first maximum in window order (top-left, top-right, bottom-left,
 * bottom-right).
 * @module
 */
import { F32, FunctionBuilder, I32, V128 } from "./wasm-emit.js";

// SIMD opcodes (after the 0xfd prefix)
const F32X4_EQ = 0x41;
const F32X4_NE = 0x42;
const F32X4_GT = 0x44;
const V128_AND = 0x4e;
const V128_ANDNOT = 0x4f;
const V128_OR = 0x50;
const V128_BITSELECT = 0x52;
const F32X4_MAX = [0xe9, 0x01];

/** Rows of output: the shared loop over `rows` output rows of `wo` windows (input rows `2·wo` wide). */
function rowLoop(f: FunctionBuilder, body: () => void): void {
  f.whileLoop(
    () => f.get("rows").i32(0).gtS(),
    () => {
      body();
      f.inc("rows", -1);
    },
  );
}

/**
 * Emits `maxpool2x2_f32(x, out, rows, wo)`: `out[r, q] = max` of the 2x2 window at input rows
 * `2r, 2r+1`, columns `2q, 2q+1`; the input is `rows` pairs of rows of `2·wo` floats.
 */
export function emitMaxPool2x2(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["x", I32],
    ["out", I32],
    ["rows", I32],
    ["wo", I32],
  ]);
  for (const l of ["p0", "p1", "vend", "end"]) f.local(l, I32);
  for (const l of ["a", "b"]) f.local(l, V128);
  rowLoop(f, () => {
    f.get("x").set("p0");
    f.get("x").get("wo").i32(8).mul().add().set("p1");
    f.get("wo").i32(-4).op(0x71).i32(4).mul().get("out").add().set("vend");
    f.get("wo").i32(4).mul().get("out").add().set("end");
    f.whileLoop(
      () => f.get("vend").get("out").gtS(),
      () => {
        // max of the even and odd columns of each row, then of the two rows
        f.get("out");
        f.get("p0").v128Load().set("a");
        f.get("p0").v128Load(16).set("b");
        f.get("a").get("b").shuffle32([0, 2, 4, 6]);
        f.get("a").get("b").shuffle32([1, 3, 5, 7]);
        f.op(0xfd, ...F32X4_MAX);
        f.get("p1").v128Load().set("a");
        f.get("p1").v128Load(16).set("b");
        f.get("a").get("b").shuffle32([0, 2, 4, 6]);
        f.get("a").get("b").shuffle32([1, 3, 5, 7]);
        f.op(0xfd, ...F32X4_MAX);
        f.op(0xfd, ...F32X4_MAX);
        f.v128Store();
        f.inc("p0", 32);
        f.inc("p1", 32);
        f.inc("out", 16);
      },
    );
    f.whileLoop(
      () => f.get("end").get("out").gtS(),
      () => {
        f.get("out");
        f.get("p0").f32Load().get("p0").f32Load(4).op(0x97);
        f.get("p1").f32Load().get("p1").f32Load(4).op(0x97);
        f.op(0x97).f32Store();
        f.inc("p0", 8);
        f.inc("p1", 8);
        f.inc("out", 4);
      },
    );
    // next pair of input rows
    f.get("x").get("wo").i32(16).mul().add().set("x");
  });
  return f;
}

/**
 * Emits `maxpool2x2_back_f32(x, g, dx, rows, wo)`: the gradient of {@link emitMaxPool2x2}'s
 * pooling, written whole: each window's cotangent at its first maximum, zeros elsewhere.
 */
export function emitMaxPool2x2Backprop(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["x", I32],
    ["g", I32],
    ["dx", I32],
    ["rows", I32],
    ["wo", I32],
  ]);
  for (const l of ["p0", "p1", "d0", "d1", "vend", "end"]) f.local(l, I32);
  for (const l of ["a", "b", "v0", "v1", "v2", "v3", "m", "w1", "w2", "w3", "gv", "s0", "s1", "s2", "s3"])
    f.local(l, V128);
  for (const l of ["f0", "f1", "f2", "f3", "fm", "fg"]) f.local(l, F32);
  for (const l of ["c1", "c2", "c3"]) f.local(l, I32);
  // wins(v, m): v > m, or v is NaN and m is not (the JS kernels' rule)
  const wins = (v: string, m: string) => {
    f.get(v).get(m).op(0xfd, F32X4_GT);
    f.get(v).get(v).op(0xfd, F32X4_NE);
    f.get(m).get(m).op(0xfd, F32X4_EQ);
    f.op(0xfd, V128_AND);
    f.op(0xfd, V128_OR);
  };
  const winsScalar = (v: string, m: string) => {
    f.get(v).get(m).op(0x5e); // f32.gt
    f.get(v).get(v).op(0x5c); // f32.ne
    f.get(m).get(m).op(0x5b); // f32.eq
    f.op(0x71).op(0x72); // i32.and, i32.or
  };
  rowLoop(f, () => {
    f.get("x").set("p0");
    f.get("x").get("wo").i32(8).mul().add().set("p1");
    f.get("dx").set("d0");
    f.get("dx").get("wo").i32(8).mul().add().set("d1");
    f.get("wo").i32(-4).op(0x71).i32(4).mul().get("g").add().set("vend");
    f.get("wo").i32(4).mul().get("g").add().set("end");
    f.whileLoop(
      () => f.get("vend").get("g").gtS(),
      () => {
        f.get("p0").v128Load().set("a");
        f.get("p0").v128Load(16).set("b");
        f.get("a").get("b").shuffle32([0, 2, 4, 6]).set("v0");
        f.get("a").get("b").shuffle32([1, 3, 5, 7]).set("v1");
        f.get("p1").v128Load().set("a");
        f.get("p1").v128Load(16).set("b");
        f.get("a").get("b").shuffle32([0, 2, 4, 6]).set("v2");
        f.get("a").get("b").shuffle32([1, 3, 5, 7]).set("v3");
        // running maximum in window order; w_k: position k beat everything before it
        f.get("v0").set("m");
        wins("v1", "m");
        f.set("w1");
        f.get("v1").get("m").get("w1").op(0xfd, V128_BITSELECT).set("m");
        wins("v2", "m");
        f.set("w2");
        f.get("v2").get("m").get("w2").op(0xfd, V128_BITSELECT).set("m");
        wins("v3", "m");
        f.set("w3");
        // the winner: the last position that beat all before it
        f.get("g").v128Load().set("gv");
        f.get("gv").get("w3").op(0xfd, V128_AND).set("s3");
        f.get("gv").get("w2").op(0xfd, V128_AND).get("w3").op(0xfd, V128_ANDNOT).set("s2");
        f.get("gv")
          .get("w1")
          .op(0xfd, V128_AND)
          .get("w2")
          .op(0xfd, V128_ANDNOT)
          .get("w3")
          .op(0xfd, V128_ANDNOT)
          .set("s1");
        f.get("gv")
          .get("w1")
          .op(0xfd, V128_ANDNOT)
          .get("w2")
          .op(0xfd, V128_ANDNOT)
          .get("w3")
          .op(0xfd, V128_ANDNOT)
          .set("s0");
        // interleave back into the two input rows
        f.get("d0").get("s0").get("s1").shuffle32([0, 4, 1, 5]).v128Store();
        f.get("d0").get("s0").get("s1").shuffle32([2, 6, 3, 7]).v128Store(16);
        f.get("d1").get("s2").get("s3").shuffle32([0, 4, 1, 5]).v128Store();
        f.get("d1").get("s2").get("s3").shuffle32([2, 6, 3, 7]).v128Store(16);
        f.inc("p0", 32);
        f.inc("p1", 32);
        f.inc("d0", 32);
        f.inc("d1", 32);
        f.inc("g", 16);
      },
    );
    f.whileLoop(
      () => f.get("end").get("g").gtS(),
      () => {
        f.get("p0").f32Load().set("f0");
        f.get("p0").f32Load(4).set("f1");
        f.get("p1").f32Load().set("f2");
        f.get("p1").f32Load(4).set("f3");
        f.get("g").f32Load().set("fg");
        f.get("f0").set("fm");
        winsScalar("f1", "fm");
        f.set("c1");
        f.get("f1").get("fm").get("c1").select().set("fm");
        winsScalar("f2", "fm");
        f.set("c2");
        f.get("f2").get("fm").get("c2").select().set("fm");
        winsScalar("f3", "fm");
        f.set("c3");
        // c3 -> 3; else c2 -> 2; else c1 -> 1; else 0
        f.get("d1").get("fg").f32Const(0).get("c3").select().f32Store(4);
        f.get("d1").get("fg").f32Const(0).get("c2").get("c3").op(0x45).op(0x71).select().f32Store();
        f.get("d0")
          .get("fg")
          .f32Const(0)
          .get("c1")
          .get("c2")
          .get("c3")
          .op(0x72)
          .op(0x45)
          .op(0x71)
          .select()
          .f32Store(4);
        f.get("d0")
          .get("fg")
          .f32Const(0)
          .get("c1")
          .get("c2")
          .op(0x72)
          .get("c3")
          .op(0x72)
          .op(0x45)
          .select()
          .f32Store();
        f.inc("p0", 8);
        f.inc("p1", 8);
        f.inc("d0", 8);
        f.inc("d1", 8);
        f.inc("g", 4);
      },
    );
    f.get("x").get("wo").i32(16).mul().add().set("x");
    f.get("dx").get("wo").i32(16).mul().add().set("dx");
  });
  return f;
}
