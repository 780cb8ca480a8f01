/**
 * Cache-blocked float32 matrix-product kernels, generated as WebAssembly SIMD at run time.
 *
 * Three variants, all row-major with byte addresses into the arena and leading dimensions (row
 * strides in elements) so a thread can work on a block of rows:
 * - `gemm_nn`: C[M,N] = A[M,K]·B[K,N]
 * - `gemm_tn`: C = Aᵀ·B with A stored [K,M]
 * - `gemm_nt`: C = A·Bᵀ with B stored [N,K]
 *
 * The structure is the classic Goto/BLIS one. The register tile keeps a 4x8 block of C in eight
 * v128 accumulators while streaming over k. Around it, B is cut into blocks of {@link KC} rows and
 * {@link NC} columns that are packed into `ws` (a per-thread workspace) as contiguous panels of 8
 * (then 4, then 1) columns, so a panel's k-loop reads one sequential stream from L1 whatever B's row
 * stride (a power-of-two stride made every row of an unpacked panel fall into the same cache
 * sets). Rows of A are taken {@link MC} at a time so that block stays in L2 while every panel of B
 * passes over it. Small products (fewer than {@link PACK_MIN_ROWS} rows, not transposed B) skip the
 * packing, whose cost they could not amortise, and read B in place.
 *
 * Every element of C is summed in ascending k with one accumulator: a later k-block resumes from
 * the value the previous one stored. So the packed and in-place paths, any blocking and any split of
 * the rows across threads give bit-identical results on a given runtime. With relaxed SIMD
 * (`fma: true`) each step is `f32x4.relaxed_madd`, which the engine may fuse; it is only used where
 * the runtime validates it, and it is the same on every call there.
 * @module
 */
import { F32, FunctionBuilder, I32, V128 } from "./wasm-emit.js";

/** Which operand is stored transposed: `nn` none, `tn` A, `nt` B. */
export type GemmVariant = "nn" | "tn" | "nt";

/** Rows of B (the k extent) packed per block: a 4x8 tile then reads 8 KiB of B from L1. */
export const KC = 256;
/** Rows of A per block: with {@link KC} this keeps the A block (128 KiB) in L2. */
export const MC = 128;
/** Columns of B packed per block. */
export const NC = 2048;
/** Products with fewer rows read B in place (unless B is transposed, which always packs). */
export const PACK_MIN_ROWS = 32;
/** Bytes of workspace one thread needs for packing (a KC x NC block of B, a MC x KC block of A). */
export const GEMM_WORKSPACE_BYTES = (KC * NC + MC * KC) * 4;
/** Panel widths, widest first. */
const WIDTHS = [8, 4, 1] as const;
/** k-steps unrolled per loop iteration where A's row stride allows immediate offsets. */
const DEFAULT_UNROLL = 1;

/** Emission options. */
export interface GemmOptions {
  /** Use `f32x4.relaxed_madd` (relaxed SIMD) for the multiply-adds. */
  readonly fma: boolean;
  /** Tuning overrides (benchmarks only): k-unroll, block sizes, packing threshold. */
  readonly tune?: { unroll?: number; kc?: number; mc?: number; nc?: number; packMinRows?: number };
}

/** One multiply-add step on the stack-less accumulators: acc += av·bv. */
function madd(f: FunctionBuilder, fma: boolean, acc: string, av: string, bv: string): void {
  if (fma) f.get(av).get(bv).get(acc).f32x4RelaxedMadd().set(acc);
  else f.get(acc).get(av).get(bv).f32x4Mul().f32x4Add().set(acc);
}

/** One k-step of an R x W tile; A offsets are immediate (`aOff`) on top of the row pointers. */
function emitStep(
  f: FunctionBuilder,
  v: GemmVariant,
  o: GemmOptions,
  R: number,
  W: number,
  aOff: number,
): void {
  const vecs = W / 4;
  if (W >= 4) {
    for (let q = 0; q < vecs; q++)
      f.get("bp")
        .v128Load(16 * q)
        .set(`bv${q}`);
    for (let r = 0; r < R; r++) {
      if (v === "tn") f.get("ak").v128Load32Splat(4 * r);
      else f.get(`ap${r}`).v128Load32Splat(aOff);
      f.set("av");
      for (let q = 0; q < vecs; q++) madd(f, o.fma, `acc${r}_${q}`, "av", `bv${q}`);
    }
  } else {
    for (let r = 0; r < R; r++) {
      f.get(`s${r}`);
      if (v === "tn") f.get("ak").f32Load(4 * r);
      else f.get(`ap${r}`).f32Load(aOff);
      f.get("bp").f32Load().f32Mul().f32Add().set(`s${r}`);
    }
  }
  f.incBy("bp", "bstride");
  if (v === "tn") f.incBy("ak", "strideA");
}

/** Loads (or zeroes, on the first k-block) the accumulators of an R x W tile at `cp`. */
function emitTileInit(f: FunctionBuilder, R: number, W: number): void {
  const vecs = W / 4;
  f.ifElse(
    () => f.get("pc").eqz(),
    () => {
      for (let r = 0; r < R; r++) {
        if (W >= 4) for (let q = 0; q < vecs; q++) f.v128Zero().set(`acc${r}_${q}`);
        else f.f32Const(0).set(`s${r}`);
      }
    },
    () => {
      for (let r = 0; r < R; r++) {
        f.get("cp").get("ldc4").i32(r).mul().add().set("cr");
        if (W >= 4)
          for (let q = 0; q < vecs; q++)
            f.get("cr")
              .v128Load(16 * q)
              .set(`acc${r}_${q}`);
        else f.get("cr").f32Load().set(`s${r}`);
      }
    },
  );
}

/** One R x W tile of C at rows i.., columns jc+j.., over the current k-block. */
function emitTile(f: FunctionBuilder, v: GemmVariant, o: GemmOptions, R: number, W: number): void {
  // A pointers at (row i+r, column pc); for tn, A is [K,M]: ak points at (pc, i)
  if (v === "tn")
    // packed: tiles of A are k-major, R floats per k, at (i - ic)·kc floats into the A block
    f.get("packed").ifElse(
      () => {},
      () => {
        f.get("i").get("ic").sub().get("kc").mul().i32(4).mul().get("wsA").add().set("ak");
        f.i32(4 * R).set("strideA");
      },
      () => {
        f.get("pc").get("lda").mul().get("i").add().i32(4).mul().get("a").add().set("ak");
        f.get("lda").i32(4).mul().set("strideA");
      },
    );
  else
    for (let r = 0; r < R; r++)
      f.get("i").i32(r).add().get("lda").mul().get("pc").add().i32(4).mul().get("a").add().set(`ap${r}`);
  f.get("i").get("ldc").mul().get("jc").add().get("j").add().i32(4).mul().get("c").add().set("cp");
  f.get("panel").set("bp");
  emitTileInit(f, R, W);
  f.i32(0).set("k");
  const UNROLL = o.tune?.unroll ?? DEFAULT_UNROLL;
  if (v !== "tn" && UNROLL > 1) {
    // unrolled: A offsets are immediates, one pointer bump per UNROLL steps
    f.whileLoop(
      () => f.get("kc").get("k").i32(UNROLL).add().geS(),
      () => {
        for (let u = 0; u < UNROLL; u++) emitStep(f, v, o, R, W, 4 * u);
        for (let r = 0; r < R; r++) f.inc(`ap${r}`, 4 * UNROLL);
        f.inc("k", UNROLL);
      },
    );
  }
  f.whileLoop(
    () => f.get("kc").get("k").gtS(),
    () => {
      emitStep(f, v, o, R, W, 0);
      if (v !== "tn") for (let r = 0; r < R; r++) f.inc(`ap${r}`, 4);
      f.inc("k", 1);
    },
  );
  for (let r = 0; r < R; r++) {
    f.get("cp").get("ldc4").i32(r).mul().add().set("cr");
    if (W >= 4)
      for (let q = 0; q < W / 4; q++)
        f.get("cr")
          .get(`acc${r}_${q}`)
          .v128Store(16 * q);
    else f.get("cr").get(`s${r}`).f32Store();
  }
}

/**
 * Packs the block B[pc..pc+kc, jc..jc+nc] (in C's column terms) into `ws` as panels of 8, 4 and 1
 * columns, each stored k-major (`W` floats per k).
 */
function emitPack(f: FunctionBuilder, v: GemmVariant): void {
  f.get("ws").set("dst");
  f.i32(0).set("j");
  for (const W of WIDTHS) {
    f.whileLoop(
      () => f.get("nc").get("j").i32(W).add().geS(),
      () => {
        if (v === "nt") {
          // B stored [N,K]: column j of C is row jc+j of B; gather W rows into k-major order
          f.i32(0).set("w");
          f.whileLoop(
            () => f.i32(W).get("w").gtS(),
            () => {
              f.get("jc").get("j").add().get("w").add().get("ldb").mul().get("pc").add().i32(4).mul();
              f.get("b").add().set("src");
              f.get("dst").get("w").i32(4).mul().add().set("d");
              f.get("src").get("kc").i32(4).mul().add().set("end");
              f.whileLoop(
                () => f.get("end").get("src").gtS(),
                () => {
                  f.get("d").get("src").f32Load().f32Store();
                  f.inc("src", 4);
                  f.inc("d", 4 * W);
                },
              );
              f.inc("w", 1);
            },
          );
        } else {
          // B stored [K,N]: W contiguous floats per k
          f.get("pc").get("ldb").mul().get("jc").add().get("j").add().i32(4).mul().get("b").add().set("src");
          f.i32(0).set("k");
          f.get("dst").set("d");
          f.whileLoop(
            () => f.get("kc").get("k").gtS(),
            () => {
              if (W >= 4)
                for (let q = 0; q < W / 4; q++)
                  f.get("d")
                    .get("src")
                    .v128Load(16 * q)
                    .v128Store(16 * q);
              else f.get("d").get("src").f32Load().f32Store();
              f.incBy("src", "ldb4");
              f.inc("d", 4 * W);
              f.inc("k", 1);
            },
          );
        }
        f.get("dst")
          .get("kc")
          .i32(4 * W)
          .mul()
          .add()
          .set("dst");
        f.inc("j", W);
      },
    );
  }
}

/**
 * Packs the block of Aᵀ for rows ic..iEnd and k pc..pc+kc (A stored [K,M]) into `wsA`: each 4-row
 * tile k-major with 4 floats per k, then single rows, so a tile's k-loop reads one stream.
 */
function emitPackA(f: FunctionBuilder): void {
  f.get("wsA").set("d");
  f.get("ic").set("i");
  for (const R of [4, 1]) {
    f.whileLoop(
      () => f.get("iEnd").get("i").i32(R).add().geS(),
      () => {
        f.get("pc").get("lda").mul().get("i").add().i32(4).mul().get("a").add().set("src");
        f.get("src").get("kc").get("lda").mul().i32(4).mul().add().set("end");
        f.whileLoop(
          () => f.get("end").get("src").gtS(),
          () => {
            if (R === 4) f.get("d").get("src").v128Load().v128Store();
            else f.get("d").get("src").f32Load().f32Store();
            f.incBy("src", "lda4");
            f.inc("d", 4 * R);
          },
        );
        f.inc("i", R);
      },
    );
  }
}

/** `min(x, y)` of two i32 expressions, into local `out`. */
function emitMin(f: FunctionBuilder, out: string, x: () => void, y: () => void): void {
  x();
  y();
  x();
  y();
  f.ltS().select().set(out);
}

/**
 * Emits one gemm function, `(a, b, c, M, N, K, lda, ldb, ldc, ws)`: byte addresses of A, B, C and
 * of a workspace of {@link GEMM_WORKSPACE_BYTES} bytes (unused by small products).
 */
export function emitGemm(variant: GemmVariant, options: GemmOptions = { fma: false }): FunctionBuilder {
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
    ["ws", I32],
  ]);
  const ints = ["i", "j", "k", "w", "jc", "pc", "ic", "nc", "kc", "iEnd", "ncb", "kcb", "packed"];
  for (const n of [...ints, "bp", "bstride", "panel", "cp", "cr", "ak", "strideA", "lda4", "ldb4", "ldc4"])
    f.local(n, I32);
  for (const n of ["src", "dst", "d", "end", "wsA"]) f.local(n, I32);
  for (let r = 0; r < 4; r++) f.local(`ap${r}`, I32);
  for (let r = 0; r < 4; r++) for (let q = 0; q < 2; q++) f.local(`acc${r}_${q}`, V128);
  for (const n of ["bv0", "bv1", "av"]) f.local(n, V128);
  for (let r = 0; r < 4; r++) f.local(`s${r}`, F32);
  f.get("lda").i32(4).mul().set("strideA");
  f.get("lda").i32(4).mul().set("lda4");
  const kcMax = options.tune?.kc ?? KC;
  f.get("ws")
    .i32(kcMax * (options.tune?.nc ?? NC) * 4)
    .add()
    .set("wsA");
  f.get("ldb").i32(4).mul().set("ldb4");
  f.get("ldc").i32(4).mul().set("ldc4");
  // packed blocks for transposed B (the kernel needs k-major panels) and products with many rows
  if (variant === "nt") f.i32(1).set("packed");
  else
    f.get("M")
      .i32(options.tune?.packMinRows ?? PACK_MIN_ROWS)
      .geS()
      .set("packed");
  f.get("packed").ifElse(
    () => {},
    () => {
      f.i32(options.tune?.nc ?? NC).set("ncb");
      f.i32(options.tune?.kc ?? KC).set("kcb");
    },
    () => {
      f.get("N").set("ncb");
      f.get("K").set("kcb");
    },
  );
  f.i32(0).set("jc");
  f.whileLoop(
    () => f.get("N").get("jc").gtS(),
    () => {
      emitMin(
        f,
        "nc",
        () => f.get("ncb"),
        () => f.get("N").get("jc").sub(),
      );
      f.i32(0).set("pc");
      f.whileLoop(
        () => f.get("K").get("pc").gtS(),
        () => {
          emitMin(
            f,
            "kc",
            () => f.get("kcb"),
            () => f.get("K").get("pc").sub(),
          );
          f.get("packed").ifElse(
            () => {},
            () => emitPack(f, variant),
          );
          f.i32(0).set("ic");
          f.whileLoop(
            () => f.get("M").get("ic").gtS(),
            () => {
              emitMin(
                f,
                "iEnd",
                () =>
                  f
                    .get("ic")
                    .i32(options.tune?.mc ?? MC)
                    .add(),
                () => f.get("M"),
              );
              emitPanels(f, variant, options);
              f.inc("ic", options.tune?.mc ?? MC);
            },
          );
          f.incBy("pc", "kcb");
        },
      );
      f.incBy("jc", "ncb");
    },
  );
  return f;
}

/** The panel loop of one (jc, pc, ic) block: every panel of B against rows ic..iEnd of A. */
function emitPanels(f: FunctionBuilder, v: GemmVariant, o: GemmOptions): void {
  if (v === "tn")
    f.get("packed").ifElse(
      () => {},
      () => emitPackA(f),
    );
  f.i32(0).set("j");
  f.get("ws").set("dst");
  for (const W of WIDTHS) {
    f.whileLoop(
      () => f.get("nc").get("j").i32(W).add().geS(),
      () => {
        f.get("packed").ifElse(
          () => {},
          () => {
            f.get("dst").set("panel");
            f.i32(4 * W).set("bstride");
            f.get("dst")
              .get("kc")
              .i32(4 * W)
              .mul()
              .add()
              .set("dst");
          },
          () => {
            f.get("pc")
              .get("ldb")
              .mul()
              .get("jc")
              .add()
              .get("j")
              .add()
              .i32(4)
              .mul()
              .get("b")
              .add()
              .set("panel");
            f.get("ldb4").set("bstride");
          },
        );
        f.get("ic").set("i");
        f.whileLoop(
          () => f.get("iEnd").get("i").i32(4).add().geS(),
          () => {
            emitTile(f, v, o, 4, W);
            f.inc("i", 4);
          },
        );
        f.whileLoop(
          () => f.get("iEnd").get("i").gtS(),
          () => {
            emitTile(f, v, o, 1, W);
            f.inc("i", 1);
          },
        );
        f.inc("j", W);
      },
    );
  }
}
