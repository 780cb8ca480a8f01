/**
 * Strided block copies inside the arena with WebAssembly's `memory.copy` / `memory.fill`. The
 * convolution kernels move image rows with them: a JavaScript `copyWithin` on the shared arena
 * copies element by element (tens of ns per float), `memory.copy` at memcpy speed.
 * @module
 */
import { FunctionBuilder, I32 } from "./wasm-emit.js";

/**
 * Emits `copy2d_f32(dst, dstStride, src, srcStride, rows, cols)`: `rows` runs of `cols` floats,
 * byte addresses, strides in floats.
 */
export function emitCopy2d(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["dst", I32],
    ["ds", I32],
    ["src", I32],
    ["ss", I32],
    ["rows", I32],
    ["cols", I32],
  ]);
  f.local("bytes", I32);
  f.get("cols").i32(4).mul().set("bytes");
  f.get("ds").i32(4).mul().set("ds");
  f.get("ss").i32(4).mul().set("ss");
  f.whileLoop(
    () => f.get("rows").i32(0).gtS(),
    () => {
      // memory.copy dst src n
      f.get("dst").get("src").get("bytes").op(0xfc, 0x0a, 0x00, 0x00);
      f.incBy("dst", "ds");
      f.incBy("src", "ss");
      f.inc("rows", -1);
    },
  );
  return f;
}

/** Emits `zero_f32(dst, n)`: sets `n` floats at byte address `dst` to +0. */
export function emitZero(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["dst", I32],
    ["n", I32],
  ]);
  f.get("dst").i32(0).get("n").i32(4).mul().op(0xfc, 0x0b, 0x00);
  return f;
}

/**
 * Emits `add2d_f32(dst, dstStride, src, srcStride, rows, cols)`: `dst += src` over `rows` runs of
 * `cols` floats (byte addresses, strides in floats), four lanes at a time.
 */
export function emitAdd2d(): FunctionBuilder {
  const f = new FunctionBuilder([
    ["dst", I32],
    ["ds", I32],
    ["src", I32],
    ["ss", I32],
    ["rows", I32],
    ["cols", I32],
  ]);
  f.local("d", I32);
  f.local("s", I32);
  f.local("vend", I32);
  f.local("end", I32);
  f.get("ds").i32(4).mul().set("ds");
  f.get("ss").i32(4).mul().set("ss");
  f.whileLoop(
    () => f.get("rows").i32(0).gtS(),
    () => {
      f.get("dst").set("d");
      f.get("src").set("s");
      // vend = dst + (cols & ~3) * 4; end = dst + cols * 4
      f.get("cols").i32(-4).op(0x71).i32(4).mul().get("dst").add().set("vend");
      f.get("cols").i32(4).mul().get("dst").add().set("end");
      f.whileLoop(
        () => f.get("vend").get("d").gtS(),
        () => {
          f.get("d").get("d").v128Load().get("s").v128Load().f32x4Add().v128Store();
          f.inc("d", 16);
          f.inc("s", 16);
        },
      );
      f.whileLoop(
        () => f.get("end").get("d").gtS(),
        () => {
          f.get("d").get("d").f32Load().get("s").f32Load().f32Add().f32Store();
          f.inc("d", 4);
          f.inc("s", 4);
        },
      );
      f.incBy("dst", "ds");
      f.incBy("src", "ss");
      f.inc("rows", -1);
    },
  );
  return f;
}
