/**
 * `y += alpha·x` over float32 arrays in the arena, 4 lanes at a time (the core of SGD updates).
 * @module
 */
import { F32, FunctionBuilder, I32, V128 } from "./wasm-emit.js";

/** Emits `axpy_f32(y, x, n, alpha)`: byte addresses y and x, n elements. */
export function emitAxpy(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["y", I32],
    ["x", I32],
    ["n", I32],
    ["alpha", F32],
  ]);
  f.local("end", I32);
  f.local("tail", I32);
  f.local("va", V128);
  // va = splat(alpha)
  f.get("alpha").op(0xfd, 0x13).set("va");
  // end = y + (n & ~3) * 4 ; tail = y + n * 4
  f.get("n").i32(-4).op(0x71).i32(4).mul().get("y").add().set("end");
  f.get("n").i32(4).mul().get("y").add().set("tail");
  f.whileLoop(
    () => f.get("end").get("y").gtS(),
    () => {
      f.get("y").get("y").v128Load().get("va").get("x").v128Load().f32x4Mul().f32x4Add().v128Store();
      f.inc("y", 16);
      f.inc("x", 16);
    },
  );
  f.whileLoop(
    () => f.get("tail").get("y").gtS(),
    () => {
      f.get("y").get("y").f32Load().get("alpha").get("x").f32Load().f32Mul().f32Add().f32Store();
      f.inc("y", 4);
      f.inc("x", 4);
    },
  );
  return f;
}
