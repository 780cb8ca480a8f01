/**
 * Generated loops for elementwise ops with numpy broadcasting.
 *
 * Each input is read in one of a few access modes chosen at compile time: `full` (same shape as the
 * output), `scalar` (one element), `suffix` (tiles the trailing dims, e.g. a bias row), `rows`
 * (repeats along trailing dims, e.g. an [N,1] column), `planes:<mid>` (a middle block of dims,
 * repeated along the trailing dims and cycled along the leading ones, e.g. a per-channel
 * `[1,C,1,1]` bias on NCHW images) or `map` (a precomputed index table for any other broadcast).
 * One loop is generated per (dtype, expression, modes) and cached.
 * @module
 */

import { type ExprTree, wasmElementwise } from "../backend/elementwise-wasm.js";
import type { DType } from "../dtype.js";
import { type ConcreteShape, sizeOf } from "../shape.js";
import { generateFunction } from "../specialize.js";
import { ELEMENTWISE_HELPERS } from "./special.js";
import type { ElementwiseSpec, Kernel, KernelContext, NoAttrs, OpDef, TypeInfo } from "./types.js";
import { broadcastAll, sameDType } from "./util.js";

type Mode = "full" | "scalar" | "suffix" | "rows" | `planes:${number}` | "map";

function padShape(s: ConcreteShape, rank: number): number[] {
  return [...new Array<number>(rank - s.length).fill(1), ...s];
}

/** Index table mapping each output element to the input element it reads. */
function indexMap(inShape: ConcreteShape, outShape: ConcreteShape): Int32Array {
  const rank = outShape.length;
  const ins = padShape(inShape, rank);
  const inStrides = new Array<number>(rank);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) {
    inStrides[d] = ins[d] === 1 ? 0 : acc;
    acc *= ins[d]!;
  }
  const n = sizeOf(outShape);
  const map = new Int32Array(n);
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    map[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += inStrides[d]!;
      if (idx[d]! < outShape[d]!) break;
      off -= inStrides[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return map;
}

interface Access {
  mode: Mode;
  /** Row length for suffix/rows modes. */
  m: number;
}

function classify(inShape: ConcreteShape, outShape: ConcreteShape): Access {
  const n = sizeOf(outShape);
  const k = sizeOf(inShape);
  if (k === n) return { mode: "full", m: 0 };
  if (k === 1) return { mode: "scalar", m: 0 };
  const rank = outShape.length;
  const p = padShape(inShape, rank);
  // suffix: leading dims 1, trailing dims equal to output's
  let split = 0;
  while (split < rank && p[split] === 1) split++;
  let ok = true;
  for (let d = split; d < rank; d++) if (p[d] !== outShape[d]) ok = false;
  if (ok) return { mode: "suffix", m: k };
  // rows: leading dims equal output's, trailing dims 1
  let end = rank;
  while (end > 0 && p[end - 1] === 1) end--;
  ok = true;
  for (let d = 0; d < end; d++) if (p[d] !== outShape[d]) ok = false;
  if (ok) return { mode: "rows", m: n / k };
  // planes: leading dims 1, then a block equal to the output's, then trailing dims 1
  ok = true;
  for (let d = split; d < end; d++) if (p[d] !== outShape[d]) ok = false;
  if (ok && end < rank) return { mode: `planes:${k}`, m: sizeOf(outShape.slice(end)) };
  return { mode: "map", m: 0 };
}

type KernelFactory = (n: number, m: number, maps: readonly (Int32Array | null)[]) => Kernel;
const loopCache = new Map<string, KernelFactory>();

function buildSource(
  expr: ElementwiseSpec["expr"],
  modes: readonly Mode[],
  nested: boolean,
  dtype: DType,
): string {
  const decl: string[] = [];
  const args: string[] = [];
  const rowStart: string[] = [];
  modes.forEach((mode, k) => {
    decl.push(`const a${k} = ins[${k}];`);
    if (mode === "scalar") {
      decl.push(`const s${k} = a${k}[0];`);
      args.push(`s${k}`);
    } else if (mode === "full") args.push(`a${k}[i]`);
    else if (mode === "suffix") args.push(`a${k}[j]`);
    else if (mode === "rows") args.push(`a${k}[r]`);
    else if (mode.startsWith("planes:")) {
      // one value per row, cycling through the block
      rowStart.push(`const p${k} = a${k}[r % ${Number(mode.slice(7))}];`);
      args.push(`p${k}`);
    } else {
      decl.push(`const m${k} = maps[${k}];`);
      args.push(`a${k}[m${k}[i]]`);
    }
  });
  const body = `out[i] = ${expr(...args)};`;
  const loop = nested
    ? `for (let r = 0, i = 0; i < n; r++) { ${rowStart.join(" ")} for (let j = 0; j < m; j++, i++) { ${body} } }`
    : `for (let i = 0; i < n; i++) { ${body} }`;
  // helper functions the expression calls, declared once outside the loop (see ELEMENTWISE_HELPERS)
  const helpers = Object.entries(ELEMENTWISE_HELPERS)
    .filter(([name]) => body.includes(name))
    .map(([name, src]) => `const ${name} = ${src[dtype]};`);
  const factory = `function (n, m, maps) { return function elementwise(ins, out) { ${decl.join(" ")} ${loop} }; }`;
  return helpers.length === 0 ? factory : `(() => { ${helpers.join(" ")} return ${factory}; })()`;
}

function interpretedFactory(spec: ElementwiseSpec, modes: readonly Mode[]): KernelFactory {
  return (n, m, maps) => (ins, out) => {
    const vals = new Array<number>(modes.length);
    for (let i = 0; i < n; i++) {
      const r = m > 0 ? Math.floor(i / m) : 0;
      const j = m > 0 ? i % m : 0;
      for (let k = 0; k < modes.length; k++) {
        const mode = modes[k];
        const a = ins[k]!;
        vals[k] = mode!.startsWith("planes:")
          ? a[r % Number(mode!.slice(7))]!
          : mode === "full"
            ? a[i]!
            : mode === "scalar"
              ? a[0]!
              : mode === "suffix"
                ? a[j]!
                : mode === "rows"
                  ? a[r]!
                  : a[maps[k]![i]!]!;
      }
      out[i] = spec.fn(...vals);
    }
  };
}

/**
 * Builds the kernel of an elementwise op for concrete shapes.
 * @param name op name (for the cache key)
 */
export function elementwiseKernel(
  name: string,
  spec: ElementwiseSpec,
  ctx: KernelContext<unknown>,
  tree?: ExprTree,
): Kernel {
  const n = sizeOf(ctx.outShape);
  const access = ctx.inShapes.map((s) => classify(s, ctx.outShape));
  let m = 0;
  for (const a of access) {
    if (a.mode === "suffix" || a.mode === "rows" || a.mode.startsWith("planes:")) {
      if (m === 0) m = a.m;
      else if (a.m !== m) a.mode = "map";
    }
  }
  const modes = access.map((a) => a.mode);
  const maps = ctx.inShapes.map((s, k) => (modes[k] === "map" ? indexMap(s, ctx.outShape) : null));
  const nested = m > 0;
  const key = `${ctx.dtype}|${name}|${modes.join(",")}|${nested}`;
  let factory = loopCache.get(key);
  if (!factory) {
    factory = generateFunction<KernelFactory>(buildSource(spec.expr, modes, nested, ctx.dtype), () =>
      interpretedFactory(spec, modes),
    );
    loopCache.set(key, factory);
  }
  const js = factory(n, m, maps);
  if (tree && ctx.dtype === "float32") return wasmElementwise(tree, modes, n, m, js) ?? js;
  return js;
}

/** Shape rule shared by elementwise ops: broadcast all inputs, which must share one dtype. */
export function elementwiseShape(name: string, inputs: readonly TypeInfo[]): TypeInfo {
  return { shape: broadcastAll(name, inputs), dtype: sameDType(name, inputs) };
}

/** Defines a unary elementwise op. */
export function unaryOp(name: string, doc: string, spec: ElementwiseSpec): OpDef<NoAttrs> {
  return defineElementwise(name, doc, 1, spec);
}

/** Defines a binary elementwise op with broadcasting. */
export function binaryOp(name: string, doc: string, spec: ElementwiseSpec): OpDef<NoAttrs> {
  return defineElementwise(name, doc, 2, spec);
}

function defineElementwise(
  name: string,
  doc: string,
  arity: 1 | 2 | 3,
  spec: ElementwiseSpec,
): OpDef<NoAttrs> {
  return {
    name,
    doc,
    arity,
    kind: "kernel",
    elementwise: spec,
    attrs: (raw) => {
      if (raw && Object.keys(raw).length > 0) throw new Error(`${name} takes no attributes`);
      return {};
    },
    shape: (inputs) => elementwiseShape(name, inputs),
    kernel: (ctx) =>
      elementwiseKernel(name, spec, ctx, { op: name, kids: Array.from({ length: arity }, (_, i) => i) }),
  };
}

/** Defines a ternary elementwise op (used by `where`). */
export function ternaryOp(name: string, doc: string, spec: ElementwiseSpec): OpDef<NoAttrs> {
  return defineElementwise(name, doc, 3, spec);
}

/** Exposed for tests: the loop modes chosen for an input shape against an output shape. */
export function accessModeOf(inShape: ConcreteShape, outShape: ConcreteShape): string {
  return classify(inShape, outShape).mode;
}
