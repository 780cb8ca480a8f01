/**
 * Cache-blocked float32 matrix-product kernels, generated as WebAssembly SIMD at run time.
 *
 * Three variants, all row-major with byte addresses into the arena and leading dimensions (row
 * strides in elements) so a thread can work on a block of rows:
 * - `gemm_nn`: C[M,N] = A[M,K]·B[K,N]
 * - `gemm_tn`: C = Aᵀ·B with A stored [K,M]
 * - `gemm_nt`: C = A·Bᵀ with B stored [N,K]
 *
 * The structure is the classic Goto/BLIS one (packed path):
 * - B is cut into blocks of {@link KC} rows (k) by {@link NC} columns, packed into the thread's
 *   workspace as contiguous k-major panels 8 (then 4, then 1) columns wide. A panel's k-loop then
 *   reads one sequential stream from L1 whatever B's layout; unpacked, a power-of-two row stride
 *   put every row of a panel into the same few cache sets.
 * - A is taken {@link MC} rows at a time and packed into tiles of `RT` rows, k-major, so the
 *   block stays in L2 while every panel of B passes over it and a tile's k-loop reads one stream
 *   through one pointer (immediate offsets, no per-row pointer arithmetic).
 * - The register tile keeps an RT x 8 block of C in v128 accumulators while streaming over k.
 *
 * Small products (fewer than {@link PACK_MIN_ROWS} rows, B not transposed) take the in-place path:
 * one block, 4x8 tiles reading A and B where they are, since packing costs about as much as such
 * a product.
 *
 * Every element of C is summed in ascending k with one accumulator: a later k-block resumes from
 * the value the previous one stored. So both paths, any blocking and any split of the rows across
 * threads give bit-identical results on a given runtime. With relaxed SIMD (`fma: true`) each step
 * is `f32x4.relaxed_madd`, which the engine may fuse; it is only used where the runtime validates
 * it, and it is the same on every call there.
 * @module
 */
import { F32, FunctionBuilder, I32, V128 } from "./wasm-emit.js";

/** Which operand is stored transposed: `nn` none, `tn` A, `nt` B. */
export type GemmVariant = "nn" | "tn" | "nt";

/** Rows of B (the k extent) packed per block: an 8-wide panel of B is then 8 KiB, in L1. */
export const KC = 256;
/** Rows of A per block: with {@link KC} the packed A block (128 KiB) stays in L2. */
export const MC = 128;
/** Columns of B packed per block. */
export const NC = 2048;
/** Products with fewer rows read A and B in place (unless B is transposed: that always packs). */
export const PACK_MIN_ROWS = 32;
/** Bytes of workspace one thread needs for packing (a KC x NC block of B, a MC x KC block of A). */
export const GEMM_WORKSPACE_BYTES = (KC * NC + MC * KC) * 4;
/** Panel widths, widest first. */
const WIDTHS = [8, 4, 1] as const;
/** Rows of the packed path's register tile. */
const TILE_ROWS = 4;

/** Emission options. */
export interface GemmOptions {
  /** Use `f32x4.relaxed_madd` (relaxed SIMD) for the multiply-adds. */
  readonly fma: boolean;
  /** Tuning overrides (for benchmarks): block sizes, tile rows, k-unroll, packing threshold. */
  readonly tune?: {
    readonly kc?: number;
    readonly mc?: number;
    readonly nc?: number;
    readonly rows?: number;
    readonly unroll?: number;
    readonly packMinRows?: number;
  };
}

interface Emit {
  readonly f: FunctionBuilder;
  readonly v: GemmVariant;
  readonly fma: boolean;
  readonly kc: number;
  readonly mc: number;
  readonly nc: number;
  readonly rows: number;
  readonly unroll: number;
}

/** acc += av·bv on v128 locals. */
function madd(e: Emit, acc: string, av: string, bv: string): void {
  const { f } = e;
  if (e.fma) f.get(av).get(bv).get(acc).f32x4RelaxedMadd().set(acc);
  else f.get(acc).get(av).get(bv).f32x4Mul().f32x4Add().set(acc);
}

/** How a tile reads A: through one pointer `ak` (rows at offsets 4r) or one pointer per row. */
type AMode = "pointer" | "rows";

/**
 * One k-step of an R x W tile. B is read at `bp + bOff`; A at `ak + aOff + 4r` (pointer mode)
 * or `ap{r} + aOff` (rows mode). Pointers are not advanced here.
 */
function emitStep(e: Emit, mode: AMode, R: number, W: number, aOff: number, bOff: number): void {
  const { f } = e;
  if (W >= 4) {
    for (let q = 0; q < W / 4; q++)
      f.get("bp")
        .v128Load(bOff + 16 * q)
        .set(`bv${q}`);
    for (let r = 0; r < R; r++) {
      if (mode === "pointer") f.get("ak").v128Load32Splat(aOff + 4 * r);
      else f.get(`ap${r}`).v128Load32Splat(aOff);
      f.set("av");
      for (let q = 0; q < W / 4; q++) madd(e, `acc${r}_${q}`, "av", `bv${q}`);
    }
  } else {
    for (let r = 0; r < R; r++) {
      f.get(`s${r}`);
      if (mode === "pointer") f.get("ak").f32Load(aOff + 4 * r);
      else f.get(`ap${r}`).f32Load(aOff);
      f.get("bp").f32Load(bOff).f32Mul().f32Add().set(`s${r}`);
    }
  }
}

/** Loads (or zeroes, on the first k-block) the accumulators of an R x W tile at `cp`. */
function emitTileInit(e: Emit, R: number, W: number): void {
  const { f } = e;
  f.ifElse(
    () => f.get("pc").eqz(),
    () => {
      for (let r = 0; r < R; r++) {
        if (W >= 4) for (let q = 0; q < W / 4; q++) f.v128Zero().set(`acc${r}_${q}`);
        else f.f32Const(0).set(`s${r}`);
      }
    },
    () => {
      for (let r = 0; r < R; r++) {
        f.get("cp").get("ldc4").i32(r).mul().add().set("cr");
        if (W >= 4)
          for (let q = 0; q < W / 4; q++)
            f.get("cr")
              .v128Load(16 * q)
              .set(`acc${r}_${q}`);
        else f.get("cr").f32Load().set(`s${r}`);
      }
    },
  );
}

function emitTileStore(e: Emit, R: number, W: number): void {
  const { f } = e;
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

/** `cp` = address of C at row i, column jc + j. */
function emitCPointer(e: Emit): void {
  e.f.get("i").get("ldc").mul().get("jc").add().get("j").add().i32(4).mul().get("c").add().set("cp");
}

/**
 * A tile of the packed path: A is the packed tile at `(i - ic)·kc` floats into `wsA` (R floats
 * per k), B the packed panel (W floats per k); both strides are constants, so the k-loop is
 * unrolled with immediate offsets and advances two pointers.
 */
function emitPackedTile(e: Emit, R: number, W: number): void {
  const { f } = e;
  f.get("i").get("ic").sub().get("kc").mul().i32(4).mul().get("wsA").add().set("ak");
  emitCPointer(e);
  f.get("panel").set("bp");
  emitTileInit(e, R, W);
  // kEnd: where ak stops; the unrolled loop runs while a whole group fits
  f.get("kc")
    .i32(4 * R)
    .mul()
    .get("ak")
    .add()
    .set("kEnd");
  const U = e.unroll;
  if (U > 1) {
    // kMain = kEnd minus the steps left over after whole groups (kc mod U; U is a power of two)
    f.get("kEnd")
      .get("kc")
      .i32(U - 1)
      .and()
      .i32(4 * R)
      .mul()
      .sub()
      .set("kMain");
    f.whileLoop(
      () => f.get("kMain").get("ak").gtS(),
      () => {
        for (let u = 0; u < U; u++) emitStep(e, "pointer", R, W, 4 * R * u, 4 * W * u);
        f.inc("ak", 4 * R * U);
        f.inc("bp", 4 * W * U);
      },
    );
  }
  f.whileLoop(
    () => f.get("kEnd").get("ak").gtS(),
    () => {
      emitStep(e, "pointer", R, W, 0, 0);
      f.inc("ak", 4 * R);
      f.inc("bp", 4 * W);
    },
  );
  emitTileStore(e, R, W);
}

/** A tile of the in-place path (nn: one pointer per row of A; tn: one pointer, stride lda). */
function emitDirectTile(e: Emit, R: number, W: number): void {
  const { f, v } = e;
  if (v === "tn") f.get("i").i32(4).mul().get("a").add().set("ak");
  else for (let r = 0; r < R; r++) f.get("i").i32(r).add().get("lda4").mul().get("a").add().set(`ap${r}`);
  emitCPointer(e);
  f.get("panel").set("bp");
  emitTileInit(e, R, W);
  f.i32(0).set("k");
  f.whileLoop(
    () => f.get("K").get("k").gtS(),
    () => {
      emitStep(e, v === "tn" ? "pointer" : "rows", R, W, 0, 0);
      if (v === "tn") f.incBy("ak", "lda4");
      else for (let r = 0; r < R; r++) f.inc(`ap${r}`, 4);
      f.incBy("bp", "ldb4");
      f.inc("k", 1);
    },
  );
  emitTileStore(e, R, W);
}

/**
 * Packs B[pc..pc+kc, jc..jc+nc] (in C's column terms) into `ws` as panels of 8, 4 and 1 columns,
 * each k-major (W floats per k).
 */
function emitPackB(e: Emit): void {
  const { f, v } = e;
  f.get("ws").set("dst");
  f.i32(0).set("j");
  for (const W of WIDTHS) {
    f.whileLoop(
      () => f.get("nc").get("j").i32(W).add().geS(),
      () => {
        if (v === "nt") {
          // B stored [N,K]: column j of C is row jc+j of B, contiguous in k; scatter it
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
          f.get("dst")
            .get("kc")
            .i32(4 * W)
            .mul()
            .add()
            .set("end");
          f.get("dst").set("d");
          f.whileLoop(
            () => f.get("end").get("d").gtS(),
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
 * Packs A's rows ic..iEnd, k pc..pc+kc into `wsA`: tiles of `rows` rows (the last one shorter),
 * each k-major with one float per row per k.
 */
function emitPackA(e: Emit): void {
  const { f, v } = e;
  f.get("wsA").set("d");
  f.get("ic").set("i");
  f.whileLoop(
    () => f.get("iEnd").get("i").gtS(),
    () => {
      emitMin(
        f,
        "rt",
        () => f.i32(e.rows),
        () => f.get("iEnd").get("i").sub(),
      );
      f.i32(0).set("w");
      f.whileLoop(
        () => f.get("rt").get("w").gtS(),
        () => {
          // element (row i+w, k pc) and the step to the next k
          if (v === "tn") {
            f.get("pc").get("lda").mul().get("i").add().get("w").add().i32(4).mul().get("a").add().set("src");
            f.get("lda4").set("sstep");
          } else {
            f.get("i").get("w").add().get("lda").mul().get("pc").add().i32(4).mul().get("a").add().set("src");
            f.i32(4).set("sstep");
          }
          f.get("rt").i32(4).mul().set("dstep");
          f.get("d").get("w").i32(4).mul().add().set("dst");
          f.get("dst").get("kc").get("dstep").mul().add().set("end");
          f.whileLoop(
            () => f.get("end").get("dst").gtS(),
            () => {
              f.get("dst").get("src").f32Load().f32Store();
              f.incBy("src", "sstep");
              f.incBy("dst", "dstep");
            },
          );
          f.inc("w", 1);
        },
      );
      f.get("d").get("rt").get("kc").mul().i32(4).mul().add().set("d");
      f.incBy("i", "rt");
    },
  );
}

/** `min(x, y)` of two i32 expressions, into local `out`. */
function emitMin(f: FunctionBuilder, out: string, x: () => void, y: () => void): void {
  x();
  y();
  x();
  y();
  f.ltS().select().set(out);
}

/** Sets `panel` to each panel of B in turn (W wide) and runs `body(W)` on it. */
function emitPanelLoop(e: Emit, packed: boolean, body: (W: number) => void): void {
  const { f } = e;
  f.i32(0).set("j");
  f.get("ws").set("dst");
  for (const W of WIDTHS) {
    f.whileLoop(
      () => f.get("nc").get("j").i32(W).add().geS(),
      () => {
        if (packed) {
          f.get("dst").set("panel");
          f.get("dst")
            .get("kc")
            .i32(4 * W)
            .mul()
            .add()
            .set("dst");
        } else f.get("j").i32(4).mul().get("b").add().set("panel");
        body(W);
        f.inc("j", W);
      },
    );
  }
}

/** The packed path: the Goto loop nest over (jc, pc, ic) blocks. */
function emitPackedPath(e: Emit): void {
  const { f } = e;
  f.i32(0).set("jc");
  f.whileLoop(
    () => f.get("N").get("jc").gtS(),
    () => {
      emitMin(
        f,
        "nc",
        () => f.i32(e.nc),
        () => f.get("N").get("jc").sub(),
      );
      f.i32(0).set("pc");
      f.whileLoop(
        () => f.get("K").get("pc").gtS(),
        () => {
          emitMin(
            f,
            "kc",
            () => f.i32(e.kc),
            () => f.get("K").get("pc").sub(),
          );
          emitPackB(e);
          f.i32(0).set("ic");
          f.whileLoop(
            () => f.get("M").get("ic").gtS(),
            () => {
              emitMin(
                f,
                "iEnd",
                () => f.get("ic").i32(e.mc).add(),
                () => f.get("M"),
              );
              emitPackA(e);
              emitPanelLoop(e, true, (W) => {
                f.get("ic").set("i");
                f.whileLoop(
                  () => f.get("iEnd").get("i").i32(e.rows).add().geS(),
                  () => {
                    emitPackedTile(e, e.rows, W);
                    f.inc("i", e.rows);
                  },
                );
                // the last, shorter tile (as packed by emitPackA)
                for (let R = e.rows - 1; R >= 1; R--)
                  f.ifElse(
                    () => f.get("iEnd").get("i").sub().i32(R).eq(),
                    () => emitPackedTile(e, R, W),
                  );
              });
              f.inc("ic", e.mc);
            },
          );
          f.inc("pc", e.kc);
        },
      );
      f.inc("jc", e.nc);
    },
  );
}

/** The in-place path: one block, 4-row tiles then single rows, A and B read where they are. */
function emitDirectPath(e: Emit): void {
  const { f } = e;
  f.i32(0).set("jc");
  f.i32(0).set("pc");
  f.get("N").set("nc");
  emitPanelLoop(e, false, (W) => {
    f.i32(0).set("i");
    f.whileLoop(
      () => f.get("M").get("i").i32(4).add().geS(),
      () => {
        emitDirectTile(e, 4, W);
        f.inc("i", 4);
      },
    );
    f.whileLoop(
      () => f.get("M").get("i").gtS(),
      () => {
        emitDirectTile(e, 1, W);
        f.inc("i", 1);
      },
    );
  });
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
  const t = options.tune ?? {};
  const e: Emit = {
    f,
    v: variant,
    fma: options.fma,
    kc: t.kc ?? KC,
    mc: t.mc ?? MC,
    nc: t.nc ?? NC,
    rows: t.rows ?? TILE_ROWS,
    unroll: t.unroll ?? 1,
  };
  const ints = [
    "i",
    "j",
    "k",
    "w",
    "jc",
    "pc",
    "ic",
    "nc",
    "kc",
    "iEnd",
    "rt",
    "bp",
    "panel",
    "cp",
    "cr",
    "ak",
  ];
  for (const n of [
    ...ints,
    "kEnd",
    "kMain",
    "lda4",
    "ldb4",
    "ldc4",
    "src",
    "dst",
    "d",
    "end",
    "wsA",
    "sstep",
    "dstep",
  ])
    f.local(n, I32);
  for (let r = 0; r < Math.max(4, e.rows); r++) f.local(`ap${r}`, I32);
  for (let r = 0; r < Math.max(4, e.rows); r++) for (let q = 0; q < 2; q++) f.local(`acc${r}_${q}`, V128);
  for (const n of ["bv0", "bv1", "av"]) f.local(n, V128);
  for (let r = 0; r < Math.max(4, e.rows); r++) f.local(`s${r}`, F32);
  f.get("lda").i32(4).mul().set("lda4");
  f.get("ldb").i32(4).mul().set("ldb4");
  f.get("ldc").i32(4).mul().set("ldc4");
  f.get("ws")
    .i32(e.kc * e.nc * 4)
    .add()
    .set("wsA");
  if (variant === "nt") emitPackedPath(e);
  else
    f.ifElse(
      () =>
        f
          .get("M")
          .i32(t.packMinRows ?? PACK_MIN_ROWS)
          .geS(),
      () => emitPackedPath(e),
      () => emitDirectPath(e),
    );
  return f;
}
