/**
 * Cache-blocked float32 matrix-product kernels, generated as WebAssembly SIMD at run time.
 *
 * Three variants, all row-major with byte addresses into the arena and leading dimensions (row
 * strides in elements) so a thread can work on a block of rows:
 * - `gemm_nn`: C[M,N] = A[M,K]·B[K,N]
 * - `gemm_tn`: C = Aᵀ·B with A stored [K,M]
 * - `gemm_nt`: C = A·Bᵀ with B stored [N,K]
 *
 * The register tile keeps a 4-row, 8-column block of C in eight v128 accumulators while streaming
 * over k (edge tiles: 1-3 rows, 1-7 columns through lane loads and stores, never past the data).
 * Each variant has a few paths, separate wasm functions behind a small entry `gemm_<v>` that picks
 * one from the sizes (small functions also tier up quickly in V8):
 * - `direct`: A and B read where they are, one block. Fastest while they fit in cache together
 *   ({@link IN_PLACE_MAX_FLOATS}) and B's row stride spreads a panel over the L1 sets; also for
 *   products with fewer than {@link PACK_MIN_ROWS} rows, and for Aᵀ·B narrower than
 *   {@link PACK_A_MIN_COLS} columns (too little reuse to repay moving Aᵀ).
 * - `transposed` (tn, nt): the transposed operand is transposed into the workspace (4x4 shuffle
 *   blocks), then the in-place nn loop runs; for products that fit as above.
 * - `packB` (nn, nt): the Goto/BLIS loop nest. B is cut into blocks of {@link KC} rows (k) by
 *   {@link NC} columns, packed into the thread's workspace as contiguous k-major panels 8 columns
 *   wide (zero-padded), so a panel's k-loop reads one sequential stream from L1 whatever B's
 *   layout. A is taken {@link MC} rows at a time so that block stays in L2 while every panel of B
 *   passes over it.
 * - `packAB` (tn): as `packB`, with Aᵀ packed too, into k-major 4-row tiles (read in place at a
 *   large stride, its columns thrashed the cache from 1024 up).
 *
 * Measured on the 2-core AMD EPYC these were written on (Zen 4): about 47-53 GFLOP/s in place and
 * 42-45 packed on one core, whatever the size; two threads 1.86-2.0x one.
 *
 * Every element of C is summed in ascending k with one accumulator: a later k-block resumes from
 * the value the previous one stored. So both paths, any blocking and any split of the rows across
 * threads give bit-identical results on a given runtime. With relaxed SIMD (`fma: true`) each step
 * is `f32x4.relaxed_madd`, which the engine may fuse; it is only used where the runtime validates
 * it, and it is the same on every call there.
 * @module
 */
import { FunctionBuilder, I32, V128 } from "./wasm-emit.js";

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
/**
 * A·B (nn) reads its operands in place while A and B together hold at most this many floats:
 * measured on a 2-core AMD EPYC (Zen 4, 1 MiB L2), the in-place kernel was 5-10% faster up to
 * 512³ and packing paid from 768³ up.
 */
export const IN_PLACE_MAX_FLOATS = 1 << 20;
/** Aᵀ (the tn variant) is transposed or packed only for products at least this wide. */
export const PACK_A_MIN_COLS = 64;
/**
 * Bytes of workspace one thread needs: a KC x NC block of B and a MC x KC block of A when packing,
 * or a whole transposed operand of an in-place product.
 */
export const GEMM_WORKSPACE_BYTES = Math.max(KC * NC + MC * KC, IN_PLACE_MAX_FLOATS) * 4;

/** Emission options. */
export interface GemmOptions {
  /** Use `f32x4.relaxed_madd` (relaxed SIMD) for the multiply-adds. */
  readonly fma: boolean;
  /** Tuning overrides (for benchmarks): block sizes, packing threshold. */
  readonly tune?: {
    readonly kc?: number;
    readonly mc?: number;
    readonly nc?: number;
    readonly packMinRows?: number;
    readonly inPlaceMaxFloats?: number;
  };
}

interface Emit {
  readonly f: FunctionBuilder;
  readonly v: GemmVariant;
  readonly fma: boolean;
  readonly kc: number;
  readonly mc: number;
  readonly nc: number;
}

/** acc += av·bv on v128 locals. */
function madd(e: Emit, acc: string, av: string, bv: string): void {
  const { f } = e;
  if (e.fma) f.get(av).get(bv).get(acc).f32x4RelaxedMadd().set(acc);
  else f.get(acc).get(av).get(bv).f32x4Mul().f32x4Add().set(acc);
}

/** Lanes of vector `q` of a tile `cols` wide (0 when the tile has no such vector). */
function lanes(cols: number, q: number): number {
  return Math.max(0, Math.min(4, cols - 4 * q));
}

/** Pushes a v128 of `n` floats from `addr + offset` (n < 4: zeros in the other lanes, nothing read past them). */
function loadPartial(f: FunctionBuilder, addr: string, offset: number, n: number): void {
  if (n === 4) f.get(addr).v128Load(offset);
  else if (n === 1) f.get(addr).v128Load32Zero(offset);
  else if (n === 2) f.get(addr).v128Load64Zero(offset);
  // n === 3: lanes 0-1, then lane 2 loaded into that vector (address below it on the stack)
  else
    f.get(addr)
      .get(addr)
      .v128Load64Zero(offset)
      .v128Load32Lane(offset + 8, 2);
}

/** Stores the first `n` lanes of v128 local `value` at `addr + offset`. */
function storePartial(f: FunctionBuilder, addr: string, offset: number, value: string, n: number): void {
  if (n === 4) f.get(addr).get(value).v128Store(offset);
  else if (n === 1) f.get(addr).get(value).v128Store32Lane(offset, 0);
  else {
    f.get(addr).get(value).v128Store64Lane(offset, 0);
    if (n === 3)
      f.get(addr)
        .get(value)
        .v128Store32Lane(offset + 8, 2);
  }
}

/** How a tile reads A: through one pointer `ak` (rows at offsets 4r) or one pointer per row. */
type AMode = "pointer" | "rows";

/**
 * One k-step of an R-row tile `cols` wide. B is read at `bp` (`padded`: whole vectors, the packed
 * panel has zeros past `cols`); A at `ak + 4r` (pointer mode) or `ap{r}` (rows mode). Pointers are
 * not advanced here.
 */
function emitStep(e: Emit, mode: AMode, R: number, cols: number, padded: boolean): void {
  const { f } = e;
  const vecs = Math.ceil(cols / 4);
  for (let q = 0; q < vecs; q++) {
    loadPartial(f, "bp", 16 * q, padded ? 4 : lanes(cols, q));
    f.set(`bv${q}`);
  }
  for (let r = 0; r < R; r++) {
    if (mode === "pointer") f.get("ak").v128Load32Splat(4 * r);
    else f.get(`ap${r}`).v128Load32Splat(0);
    f.set("av");
    for (let q = 0; q < vecs; q++) madd(e, `acc${r}_${q}`, "av", `bv${q}`);
  }
}

/** Loads (or zeroes, on the first k-block) the accumulators of an R-row tile at `cp`. */
function emitTileInit(e: Emit, R: number, cols: number): void {
  const { f } = e;
  const vecs = Math.ceil(cols / 4);
  f.ifElse(
    () => f.get("pc").eqz(),
    () => {
      for (let r = 0; r < R; r++) for (let q = 0; q < vecs; q++) f.v128Zero().set(`acc${r}_${q}`);
    },
    () => {
      for (let r = 0; r < R; r++) {
        f.get("cp").get("ldc4").i32(r).mul().add().set("cr");
        for (let q = 0; q < vecs; q++) {
          loadPartial(f, "cr", 16 * q, lanes(cols, q));
          f.set(`acc${r}_${q}`);
        }
      }
    },
  );
}

/** Stores the accumulators of an R-row tile at `cp` (only its `cols` columns). */
function emitTileStore(e: Emit, R: number, cols: number): void {
  const { f } = e;
  for (let r = 0; r < R; r++) {
    f.get("cp").get("ldc4").i32(r).mul().add().set("cr");
    for (let q = 0; q < Math.ceil(cols / 4); q++)
      storePartial(f, "cr", 16 * q, `acc${r}_${q}`, lanes(cols, q));
  }
}

/** `cp` = address of C at row i, column jc + j. */
function emitCPointer(e: Emit): void {
  e.f.get("i").get("ldc").mul().get("jc").add().get("j").add().i32(4).mul().get("c").add().set("cp");
}

/** Floats per k of a packed panel holding `cols` columns (whole vectors, zero-padded). */
function panelWidth(cols: number): number {
  return 4 * Math.ceil(cols / 4);
}

/**
 * Where a tile reads A: `rows` in place (nn, nt: a pointer per row), `strided` in place (tn: one
 * pointer, rows at offsets 4r, k-stride lda), `packed` (one pointer, k-stride 4R).
 */
type ASource = "rows" | "strided" | "packed";

/** How one path reads its operands. */
interface PathMode {
  readonly a: ASource;
  /** B from packed, zero-padded panels (else in place, k-stride ldb). */
  readonly bPacked: boolean;
}

/** One R-row tile `cols` wide of C at rows i.., columns jc+j.., over the current k-block. */
function emitTile(e: Emit, m: PathMode, R: number, cols: number): void {
  const { f } = e;
  const pw = panelWidth(cols);
  if (m.a === "packed") f.get("i").get("ic").sub().get("kc").mul().i32(4).mul().get("wsA").add().set("ak");
  else if (m.a === "strided")
    f.get("pc").get("lda").mul().get("i").add().i32(4).mul().get("a").add().set("ak");
  else
    for (let r = 0; r < R; r++)
      f.get("i").i32(r).add().get("lda").mul().get("pc").add().i32(4).mul().get("a").add().set(`ap${r}`);
  emitCPointer(e);
  f.get("panel").set("bp");
  emitTileInit(e, R, cols);
  f.i32(0).set("k");
  f.whileLoop(
    () => f.get("kc").get("k").gtS(),
    () => {
      emitStep(e, m.a === "rows" ? "rows" : "pointer", R, cols, m.bPacked);
      if (m.a === "packed") f.inc("ak", 4 * R);
      else if (m.a === "strided") f.incBy("ak", "lda4");
      else for (let r = 0; r < R; r++) f.inc(`ap${r}`, 4);
      if (m.bPacked) f.inc("bp", 4 * pw);
      else f.incBy("bp", "ldb4");
      f.inc("k", 1);
    },
  );
  emitTileStore(e, R, cols);
}

/**
 * Runs `body(cols)` for every panel of the current column block: whole panels of 8 columns, then
 * one of the remaining 1-7 (each width emitted separately so its loads and stores are static).
 * `j` is the panel's first column within the block.
 */
function emitPanelWidths(e: Emit, body: (cols: number) => void): void {
  const { f } = e;
  f.i32(0).set("j");
  f.whileLoop(
    () => f.get("nc").get("j").i32(8).add().geS(),
    () => {
      body(8);
      f.inc("j", 8);
    },
  );
  for (let cols = 1; cols < 8; cols++)
    f.ifElse(
      () => f.get("nc").get("j").sub().i32(cols).eq(),
      () => body(cols),
    );
}

/**
 * Packs B[pc..pc+kc, jc..jc+nc] (in C's column terms) into `ws` as panels of 8 columns (the last
 * one 4 or 8 wide, zero-padded), each k-major.
 */
function emitPackB(e: Emit): void {
  const { f, v } = e;
  f.get("ws").set("dst");
  emitPanelWidths(e, (cols) => {
    const pw = panelWidth(cols);
    if (v === "nt" && cols === 8) emitPackTransposed8(e);
    else if (v === "nt") {
      // B stored [N,K]: column j of C is row jc+j of B, contiguous in k; scatter each row
      if (cols < pw) {
        f.get("dst").set("d");
        f.get("dst")
          .get("kc")
          .i32(4 * pw)
          .mul()
          .add()
          .set("end");
        f.whileLoop(
          () => f.get("end").get("d").gtS(),
          () => {
            f.get("d").v128Zero().v128Store();
            f.inc("d", 16);
          },
        );
      }
      f.i32(0).set("w");
      f.whileLoop(
        () => f.i32(cols).get("w").gtS(),
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
              f.inc("d", 4 * pw);
            },
          );
          f.inc("w", 1);
        },
      );
    } else {
      // B stored [K,N]: `cols` contiguous floats per k, zero-padded to the panel width
      f.get("pc").get("ldb").mul().get("jc").add().get("j").add().i32(4).mul().get("b").add().set("src");
      f.get("dst")
        .get("kc")
        .i32(4 * pw)
        .mul()
        .add()
        .set("end");
      f.get("dst").set("d");
      f.whileLoop(
        () => f.get("end").get("d").gtS(),
        () => {
          for (let q = 0; q < pw / 4; q++) {
            f.get("d");
            loadPartial(f, "src", 16 * q, lanes(cols, q));
            f.v128Store(16 * q);
          }
          f.incBy("src", "ldb4");
          f.inc("d", 4 * pw);
        },
      );
    }
    f.get("dst")
      .get("kc")
      .i32(4 * pw)
      .mul()
      .add()
      .set("dst");
  });
}

/**
 * Packs a full 8-column panel of Bᵀ (B stored [N,K]: the panel is 8 rows of B, each contiguous in
 * k) into k-major order at `dst`: 4 k at a time, two 4x4 transposes by shuffles, then the last
 * kc mod 4 steps one float at a time.
 */
function emitPackTransposed8(e: Emit): void {
  const { f } = e;
  f.get("jc").get("j").add().get("ldb").mul().get("pc").add().i32(4).mul().get("b").add().set("r0");
  for (let w = 1; w < 8; w++)
    f.get(`r${w - 1}`)
      .get("ldb4")
      .add()
      .set(`r${w}`);
  f.get("dst").set("d");
  // end of the whole groups of 4 k, on row 0's pointer
  f.get("kc").i32(-4).and().i32(4).mul().get("r0").add().set("end");
  f.whileLoop(
    () => f.get("end").get("r0").gtS(),
    () => {
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < 4; i++)
          f.get(`r${4 * h + i}`)
            .v128Load()
            .set(`x${i}`);
        f.get("x0").get("x1").shuffle32([0, 4, 1, 5]).set("t0");
        f.get("x0").get("x1").shuffle32([2, 6, 3, 7]).set("t1");
        f.get("x2").get("x3").shuffle32([0, 4, 1, 5]).set("t2");
        f.get("x2").get("x3").shuffle32([2, 6, 3, 7]).set("t3");
        // k+0 .. k+3 of rows 4h..4h+3
        f.get("d")
          .get("t0")
          .get("t2")
          .shuffle32([0, 1, 4, 5])
          .v128Store(16 * h);
        f.get("d")
          .get("t0")
          .get("t2")
          .shuffle32([2, 3, 6, 7])
          .v128Store(32 + 16 * h);
        f.get("d")
          .get("t1")
          .get("t3")
          .shuffle32([0, 1, 4, 5])
          .v128Store(64 + 16 * h);
        f.get("d")
          .get("t1")
          .get("t3")
          .shuffle32([2, 3, 6, 7])
          .v128Store(96 + 16 * h);
      }
      for (let w = 0; w < 8; w++) f.inc(`r${w}`, 16);
      f.inc("d", 128);
    },
  );
  f.get("kc").i32(3).and().i32(4).mul().get("r0").add().set("end");
  f.whileLoop(
    () => f.get("end").get("r0").gtS(),
    () => {
      for (let w = 0; w < 8; w++) {
        f.get("d")
          .get(`r${w}`)
          .f32Load()
          .f32Store(4 * w);
        f.inc(`r${w}`, 4);
      }
      f.inc("d", 32);
    },
  );
}

/**
 * Packs A's rows ic..iEnd, k pc..pc+kc (A stored [K,M], the tn variant) into `wsA`: tiles of 4
 * rows, then the last 1-3 rows as one tile, each k-major (R floats per k), so a tile's k-loop
 * reads one stream.
 */
function emitPackA(e: Emit): void {
  const { f } = e;
  const packTile = (R: number) => {
    f.get("pc").get("lda").mul().get("i").add().i32(4).mul().get("a").add().set("src");
    f.get("d")
      .get("kc")
      .i32(4 * R)
      .mul()
      .add()
      .set("end");
    f.whileLoop(
      () => f.get("end").get("d").gtS(),
      () => {
        if (R === 4) f.get("d").get("src").v128Load().v128Store();
        else
          for (let r = 0; r < R; r++)
            f.get("d")
              .get("src")
              .f32Load(4 * r)
              .f32Store(4 * r);
        f.incBy("src", "lda4");
        f.inc("d", 4 * R);
      },
    );
  };
  f.get("wsA").set("d");
  f.get("ic").set("i");
  f.whileLoop(
    () => f.get("iEnd").get("i").i32(4).add().geS(),
    () => {
      packTile(4);
      f.inc("i", 4);
    },
  );
  for (let R = 3; R >= 1; R--)
    f.ifElse(
      () => f.get("iEnd").get("i").sub().i32(R).eq(),
      () => packTile(R),
    );
}

/**
 * `for (start = 0; start < extent; start += step) { len = min(step, extent - start); body() }` over
 * i32 locals: one level of the blocked loop nest.
 */
function emitBlocks(
  f: FunctionBuilder,
  start: string,
  extent: string,
  step: number,
  len: string,
  body: () => void,
): void {
  const rest = () => f.get(extent).get(start).sub();
  f.i32(0).set(start);
  f.whileLoop(
    () => f.get(extent).get(start).gtS(),
    () => {
      // select(step, rest, step < rest)
      f.i32(step);
      rest();
      f.i32(step);
      rest();
      f.ltS().select().set(len);
      body();
      f.inc(start, step);
    },
  );
}

/** The rows ic..iEnd of one (jc, pc, ic) block against every panel of B: 4-row tiles, then single rows. */
function emitBlock(e: Emit, m: PathMode): void {
  const { f } = e;
  if (m.bPacked) f.get("ws").set("panel");
  emitPanelWidths(e, (cols) => {
    if (!m.bPacked)
      f.get("pc").get("ldb").mul().get("jc").add().get("j").add().i32(4).mul().get("b").add().set("panel");
    f.get("ic").set("i");
    f.whileLoop(
      () => f.get("iEnd").get("i").i32(4).add().geS(),
      () => {
        emitTile(e, m, 4, cols);
        f.inc("i", 4);
      },
    );
    // the last 1-3 rows as one tile (emitPackA packs them as single rows: same layout)
    for (let R = 3; R >= 1; R--)
      f.ifElse(
        () => f.get("iEnd").get("i").sub().i32(R).eq(),
        () => emitTile(e, m, R, cols),
      );
    if (m.bPacked)
      f.get("panel")
        .get("kc")
        .i32(4 * panelWidth(cols))
        .mul()
        .add()
        .set("panel");
  });
}

/** The blocked loop nest over (jc, pc, ic): packs B per (jc, pc) block and A (if asked) per (pc, ic). */
function emitBlockedPath(e: Emit, m: PathMode): void {
  const { f } = e;
  emitBlocks(f, "jc", "N", e.nc, "nc", () =>
    emitBlocks(f, "pc", "K", e.kc, "kc", () => {
      emitPackB(e);
      emitBlocks(f, "ic", "M", e.mc, "mc", () => {
        f.get("ic").get("mc").add().set("iEnd");
        if (m.a === "packed") emitPackA(e);
        emitBlock(e, m);
      });
    }),
  );
}

/** The in-place path: one block covering the whole product, nothing packed. */
function emitDirectPath(e: Emit, m: PathMode): void {
  const { f } = e;
  for (const n of ["jc", "pc", "ic"]) f.i32(0).set(n);
  f.get("N").set("nc");
  f.get("K").set("kc");
  f.get("M").set("iEnd");
  emitBlock(e, m);
}

/** Parameters shared by every gemm function: byte addresses, sizes, leading dimensions, workspace. */
const PARAMS: [string, number][] = [
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
];

/** The paths a variant has, in the order {@link emitGemmFunctions} emits them. */
interface Path {
  readonly name: string;
  readonly mode: PathMode;
  /** The loop nest: one in-place block, the blocked nest, or transpose then in place (as nn). */
  readonly kind: "direct" | "blocked" | "transposed";
}

function pathsOf(v: GemmVariant): Path[] {
  const aIn: ASource = v === "tn" ? "strided" : "rows";
  const paths: Path[] = [];
  if (v !== "nt") paths.push({ name: "direct", mode: { a: aIn, bPacked: false }, kind: "direct" });
  if (v !== "tn") paths.push({ name: "packB", mode: { a: aIn, bPacked: true }, kind: "blocked" });
  if (v === "tn") paths.push({ name: "packAB", mode: { a: "packed", bPacked: true }, kind: "blocked" });
  if (v !== "nn") paths.push({ name: "transposed", mode: { a: "rows", bPacked: false }, kind: "transposed" });
  return paths;
}

/**
 * Transposes the `rows` x `cols` matrix at `src` (row stride `lds4` bytes) into `ws` as a
 * contiguous `cols` x `rows` matrix: 4x4 blocks by shuffles, scalar edges.
 */
function emitTranspose(e: Emit, src: string, lds4: string, rows: string, cols: string): void {
  const { f } = e;
  f.get(rows).i32(4).mul().set("dstep");
  f.i32(0).set("i");
  f.whileLoop(
    () => f.get(rows).get("i").i32(4).add().geS(),
    () => {
      f.get("i").get(lds4).mul().get(src).add().set("r0");
      for (let w = 1; w < 4; w++)
        f.get(`r${w - 1}`)
          .get(lds4)
          .add()
          .set(`r${w}`);
      f.get("i").i32(4).mul().get("ws").add().set("d");
      f.i32(0).set("j");
      f.whileLoop(
        () => f.get(cols).get("j").i32(4).add().geS(),
        () => {
          for (let w = 0; w < 4; w++) f.get(`r${w}`).v128Load().set(`x${w}`);
          f.get("x0").get("x1").shuffle32([0, 4, 1, 5]).set("t0");
          f.get("x0").get("x1").shuffle32([2, 6, 3, 7]).set("t1");
          f.get("x2").get("x3").shuffle32([0, 4, 1, 5]).set("t2");
          f.get("x2").get("x3").shuffle32([2, 6, 3, 7]).set("t3");
          const out: [string, string, [number, number, number, number]][] = [
            ["t0", "t2", [0, 1, 4, 5]],
            ["t0", "t2", [2, 3, 6, 7]],
            ["t1", "t3", [0, 1, 4, 5]],
            ["t1", "t3", [2, 3, 6, 7]],
          ];
          for (const [x, y, lanes4] of out) {
            f.get("d").get(x).get(y).shuffle32(lanes4).v128Store();
            f.incBy("d", "dstep");
          }
          for (let w = 0; w < 4; w++) f.inc(`r${w}`, 16);
          f.inc("j", 4);
        },
      );
      f.whileLoop(
        () => f.get(cols).get("j").gtS(),
        () => {
          for (let w = 0; w < 4; w++) {
            f.get("d")
              .get(`r${w}`)
              .f32Load()
              .f32Store(4 * w);
            f.inc(`r${w}`, 4);
          }
          f.incBy("d", "dstep");
          f.inc("j", 1);
        },
      );
      f.inc("i", 4);
    },
  );
  f.whileLoop(
    () => f.get(rows).get("i").gtS(),
    () => {
      f.get("i").get(lds4).mul().get(src).add().set("r0");
      f.get("i").i32(4).mul().get("ws").add().set("d");
      f.i32(0).set("j");
      f.whileLoop(
        () => f.get(cols).get("j").gtS(),
        () => {
          f.get("d").get("r0").f32Load().f32Store();
          f.inc("r0", 4);
          f.incBy("d", "dstep");
          f.inc("j", 1);
        },
      );
      f.inc("i", 1);
    },
  );
}

/**
 * Aᵀ·B as (A transposed into the workspace)·B, or A·Bᵀ as A·(B transposed), both then run by the
 * in-place nn loop: for products that fit in cache the in-place kernel is the fastest, and a
 * transpose costs a few percent of such a product.
 */
function emitTransposedPath(e: Emit): void {
  const { f, v } = e;
  if (v === "tn") {
    // A stored [K, M] (row stride lda) -> ws [M, K]
    emitTranspose(e, "a", "lda4", "K", "M");
    f.get("ws").set("a");
    f.get("K").set("lda");
    f.get("K").i32(4).mul().set("lda4");
  } else {
    // B stored [N, K] (row stride ldb) -> ws [K, N]
    emitTranspose(e, "b", "ldb4", "N", "K");
    f.get("ws").set("b");
    f.get("N").set("ldb");
    f.get("N").i32(4).mul().set("ldb4");
  }
  emitDirectPath(e, { a: "rows", bPacked: false });
}

function emitPathFunction(v: GemmVariant, options: GemmOptions, path: Path): FunctionBuilder {
  const f = new FunctionBuilder(PARAMS);
  const t = options.tune ?? {};
  const e: Emit = { f, v, fma: options.fma, kc: t.kc ?? KC, mc: t.mc ?? MC, nc: t.nc ?? NC };
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
    "mc",
    "iEnd",
    "bp",
    "panel",
    "cp",
    "cr",
    "ak",
  ];
  for (const n of [...ints, "lda4", "ldb4", "ldc4", "src", "dst", "d", "end", "wsA", "dstep"])
    f.local(n, I32);
  for (let r = 0; r < 4; r++) f.local(`ap${r}`, I32);
  for (let r = 0; r < 4; r++) for (let q = 0; q < 2; q++) f.local(`acc${r}_${q}`, V128);
  for (const n of ["bv0", "bv1", "av", "x0", "x1", "x2", "x3", "t0", "t1", "t2", "t3"]) f.local(n, V128);
  for (let w = 0; w < 8; w++) f.local(`r${w}`, I32);
  f.get("lda").i32(4).mul().set("lda4");
  f.get("ldb").i32(4).mul().set("ldb4");
  f.get("ldc").i32(4).mul().set("ldc4");
  f.get("ws")
    .i32(e.kc * e.nc * 4)
    .add()
    .set("wsA");
  if (path.kind === "blocked") emitBlockedPath(e, path.mode);
  else if (path.kind === "transposed") emitTransposedPath(e);
  else emitDirectPath(e, path.mode);
  return f;
}

/**
 * Emits the functions of one gemm variant: first the exported entry `gemm_<v>` with parameters
 * `(a, b, c, M, N, K, lda, ldb, ldc, ws)` (byte addresses of A, B, C and of a workspace of
 * {@link GEMM_WORKSPACE_BYTES} bytes), then one function per path, which the entry calls. `base`
 * is the module index the first function will get. Small functions keep V8's tier-up quick.
 */
export function emitGemmFunctions(
  v: GemmVariant,
  base: number,
  options: GemmOptions = { fma: false },
): { name: string; fn: FunctionBuilder }[] {
  const paths = pathsOf(v);
  const index = (name: string) => base + 1 + paths.findIndex((p) => p.name === name);
  const entry = new FunctionBuilder(PARAMS);
  const call = (name: string) => {
    for (const [p] of PARAMS) entry.get(p);
    entry.call(index(name));
  };
  const packMin = options.tune?.packMinRows ?? PACK_MIN_ROWS;
  // in place pays only while A and B fit in cache together (M·K + K·N <= IN_PLACE_MAX_FLOATS) and
  // B's row stride spreads a panel over the L1 sets: with a stride of a multiple of 64 floats
  // (256 B) a panel's K rows share a few sets and evict each other once K > 128; the stride of B
  // as the in-place kernel reads it is N for A·Bᵀ (transposed into the workspace) and ldb else
  const inPlace = () => {
    entry.get("M").get("K").mul().get("K").get("N").mul().add();
    entry.i32(options.tune?.inPlaceMaxFloats ?? IN_PLACE_MAX_FLOATS).op(0x4c); // i32.le_s
    entry
      .get(v === "nt" ? "N" : "ldb")
      .i32(63)
      .and()
      .i32(0)
      .op(0x47) // i32.ne: a 0/1 flag, so the and below is logical
      .get("K")
      .i32(128)
      .op(0x4c) // i32.le_s
      .op(0x72) // i32.or: stride not a multiple of 64, or K small
      .and();
  };
  if (v === "nn")
    entry.ifElse(
      () => {
        entry.get("M").i32(packMin).ltS();
        inPlace();
        entry.op(0x72); // i32.or
      },
      () => call("direct"),
      () => call("packB"),
    );
  else if (v === "nt")
    entry.ifElse(
      inPlace,
      () => call("transposed"),
      () => call("packB"),
    );
  else
    entry.ifElse(
      () =>
        // few rows, or too few columns to repay transposing or packing Aᵀ: read it in place
        entry.get("M").i32(packMin).ltS().get("N").i32(PACK_A_MIN_COLS).ltS().op(0x72), // i32.or
      () => call("direct"),
      () =>
        entry.ifElse(
          inPlace,
          () => call("transposed"),
          () => call("packAB"),
        ),
    );
  return [
    { name: `gemm_${v}`, fn: entry },
    ...paths.map((p) => ({
      name: `gemm_${v}_${p.name}`,
      fn: emitPathFunction(v, options, p),
    })),
  ];
}
