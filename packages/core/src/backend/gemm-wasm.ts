/**
 * Register-tiled float32 matrix-product kernels, generated as WebAssembly SIMD at run time.
 *
 * `gemm_nn` computes C[M,N] = A[M,K]·B[K,N] and `gemm_tn` computes C = A^T·B with A stored
 * [K,M]; both are row-major and take byte addresses into the shared linear memory plus leading
 * dimensions (row strides in elements: lda, ldb, ldc), so a thread can work on a block of rows. The loop nest
 * walks column panels of B (8, then 4, then 1 wide) and, inside a panel, tiles of 4 rows (then 1),
 * keeping a 4x8 block of C in eight v128 accumulators while streaming over k.
 * @module
 */
import { F32, FunctionBuilder, I32, V128 } from "./wasm-emit.js";

type Variant = "nn" | "tn";

function emitTile(f: FunctionBuilder, variant: Variant, R: number, W: number): void {
  const vecs = W >= 4 ? W / 4 : 0;
  // A row pointers: nn -> a + (i+r)*K*4 ; tn -> a + (i+r)*4
  for (let r = 0; r < R; r++) {
    f.get("i")
      .i32(r)
      .add()
      .get(variant === "nn" ? "rowA" : "four")
      .mul()
      .get("a")
      .add()
      .set(`ap${r}`);
  }
  f.get("j").i32(4).mul().get("b").add().set("bp");
  for (let r = 0; r < R; r++) {
    if (vecs) for (let v = 0; v < vecs; v++) f.v128Zero().set(`acc${r}_${v}`);
    else f.f32Const(0).set(`s${r}`);
  }
  f.i32(0).set("k");
  f.whileLoop(
    () => f.get("K").get("k").gtS(),
    () => {
      for (let v = 0; v < vecs; v++)
        f.get("bp")
          .v128Load(16 * v)
          .set(`bv${v}`);
      for (let r = 0; r < R; r++) {
        if (vecs) {
          f.get(`ap${r}`).v128Load32Splat().set("av");
          for (let v = 0; v < vecs; v++) {
            f.get(`acc${r}_${v}`).get("av").get(`bv${v}`).f32x4Mul().f32x4Add().set(`acc${r}_${v}`);
          }
        } else {
          f.get(`s${r}`).get(`ap${r}`).f32Load().get("bp").f32Load().f32Mul().f32Add().set(`s${r}`);
        }
        f.incBy(`ap${r}`, "strideA");
      }
      f.incBy("bp", "strideB");
      f.inc("k", 1);
    },
  );
  for (let r = 0; r < R; r++) {
    // cp = c + ((i + r) * N + j) * 4
    f.get("i").i32(r).add().get("ldc").mul().get("j").add().i32(4).mul().get("c").add().set("cp");
    if (vecs)
      for (let v = 0; v < vecs; v++)
        f.get("cp")
          .get(`acc${r}_${v}`)
          .v128Store(16 * v);
    else f.get("cp").get(`s${r}`).f32Store();
  }
}

/** Emits one gemm function (nn or tn variant). */
export function emitGemm(variant: Variant): FunctionBuilder {
  const f = new FunctionBuilder([
    ["a", I32],
    ["b", I32],
    ["c", I32],
    ["M", I32],
    ["N", I32],
    ["K", I32],
    ["lda", I32],
    ["ldb", I32],
    ["ldc", I32],
  ]);
  for (const n of ["i", "j", "k", "bp", "cp", "rowA", "strideA", "strideB", "four"]) f.local(n, I32);
  for (let r = 0; r < 4; r++) f.local(`ap${r}`, I32);
  for (let r = 0; r < 4; r++) for (let v = 0; v < 2; v++) f.local(`acc${r}_${v}`, V128);
  f.local("bv0", V128);
  f.local("bv1", V128);
  f.local("av", V128);
  for (let r = 0; r < 4; r++) f.local(`s${r}`, F32);
  f.i32(4).set("four");
  f.get("lda").i32(4).mul().set("rowA");
  if (variant === "nn") f.i32(4).set("strideA");
  else f.get("lda").i32(4).mul().set("strideA");
  f.get("ldb").i32(4).mul().set("strideB");
  f.i32(0).set("j");
  for (const W of [8, 4, 1]) {
    f.whileLoop(
      () => f.get("N").get("j").i32(W).add().geS(),
      () => {
        f.i32(0).set("i");
        f.whileLoop(
          () => f.get("M").get("i").i32(4).add().geS(),
          () => {
            emitTile(f, variant, 4, W);
            f.inc("i", 4);
          },
        );
        f.whileLoop(
          () => f.get("M").get("i").gtS(),
          () => {
            emitTile(f, variant, 1, W);
            f.inc("i", 1);
          },
        );
        f.inc("j", W);
      },
    );
  }
  return f;
}
