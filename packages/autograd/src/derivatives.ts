/**
 * The derivative toolbox built on `grad` and `jvp`: Hessian-vector products as a graph transform,
 * and numeric Jacobians and Hessians that compile a graph and run it once per basis vector.
 * @module
 */
import {
  type ConcreteShape,
  compile,
  type Feeds,
  type Graph,
  GraphBuilder,
  GraphError,
  type NodeId,
  type ParamStore,
  resolveNode,
  shapeToString,
  sizeOf,
  Tensor,
  type Value,
} from "@gradgraph/core";
import { grad, gradName } from "./grad.js";
import { concreteShapes } from "./gradcheck/probe.js";
import type { JvpRules } from "./jvp/types.js";
import { pushForward, refList, refName, type TangentNames, tangentSources } from "./jvp.js";
import { completeParams, freshName, freshPrefix, pickFeeds as pick } from "./util.js";
import type { VjpRules } from "./vjp/types.js";

/** A node reference: a node id, or the name of an output, input or param. */
type Ref = NodeId | string;

/** Options of {@link hvp}. */
export interface HvpOptions {
  /**
   * The vector `v` of each `wrt` entry: the name of an existing input of the `wrt`'s shape and
   * dtype, or of a new input to create (as `jvp`'s `tangents`). By default new inputs
   * `<tangentPrefix><name>` are created.
   */
  tangents?: TangentNames;
  /** Prefix of the vector inputs created by default (default `"tangent:"`). */
  tangentPrefix?: string;
  /** Prefix of the Hessian-vector product outputs (default `"hvp:"`, giving e.g. `hvp:x`). */
  prefix?: string;
  /** Prefix of the gradient outputs the result also has (default `"grad:"`). */
  gradPrefix?: string;
  /** VJP rule overrides for the reverse pass (see `GradOptions.rules`). */
  vjpRules?: VjpRules;
  /** JVP rule overrides for the forward pass over it (see `JvpOptions.rules`). */
  jvpRules?: JvpRules;
}

/** The output name {@link hvp} gives the Hessian-vector product of `wrt` (default prefix `hvp:`). */
export function hvpName(wrt: string, prefix = "hvp:"): string {
  return `${prefix}${wrt}`;
}

/**
 * Hessian-vector products as a graph transform (forward-over-reverse): `grad` of the scalar `of`
 * with respect to `wrt`, then `jvp` of those gradients along vectors `v` (one input per `wrt`
 * entry, `tangent:<name>` by default). The result has outputs `grad:<name>` (the gradient) and
 * `hvp:<name>`, the block row `sum_j H[name, j] v_j` of the Hessian times `v`. Costs a small
 * constant times one gradient, whatever the number of parameters; the Hessian is never formed.
 * @example
 * const g = hvp(graph, "loss", ["W", "b"]); // inputs tangent:W, tangent:b; outputs hvp:W, hvp:b
 * compile(g, { params }).run({ x, "tangent:W": vW, "tangent:b": vb })["hvp:W"];
 */
export function hvp(graph: Graph, of: Ref, wrt: Ref | readonly Ref[], options: HvpOptions = {}): Graph {
  const wrts = refList(wrt);
  const gradPrefix = options.gradPrefix ?? "grad:";
  const prefix = options.prefix ?? "hvp:";
  const ofNode = graph.nodes[resolveNode(graph, of)]!;
  if (!ofNode.shape.every((d) => d === 1)) {
    throw new GraphError(
      `hvp: ${typeof of === "string" ? `'${of}'` : `#${of}`} has shape ${shapeToString(ofNode.shape)}; a Hessian needs a scalar (reduce it, e.g. with sum)`,
    );
  }
  const names = wrts.map((w) => refName(graph, w));
  const g1 = grad(graph, of, wrts, { prefix: gradPrefix, rules: options.vjpRules });
  return pushForward(
    g1,
    names.map((n) => gradName(n, gradPrefix)),
    wrts,
    {
      outputs: names.map((n) => hvpName(n, prefix)),
      tangents: tangentSources(graph, wrts, options.tangents, options.tangentPrefix ?? "tangent:"),
      rules: options.jvpRules,
      who: "hvp",
    },
  );
}

/** How {@link jacobian} computes: one JVP per input coordinate, one VJP per output coordinate, or the cheaper. */
export type JacobianMode = "auto" | "forward" | "reverse";

/** Options of {@link jacobian}. */
export interface JacobianOptions {
  /**
   * Param values (read, never changed). Params missing from it are initialised from their
   * declared initialisers (seed 0).
   */
  params?: ParamStore;
  /**
   * `"forward"`: one JVP run per coordinate of `wrt` (a column each); `"reverse"`: one VJP run
   * per coordinate of `of` (a row each); `"auto"` (default): forward when `wrt` has no more
   * coordinates than `of`, else reverse.
   */
  mode?: JacobianMode;
  /** VJP rule overrides (reverse mode). */
  vjpRules?: VjpRules;
  /** JVP rule overrides (forward mode). */
  jvpRules?: JvpRules;
}

/** Options of {@link hessian}. */
export interface HessianOptions {
  /** Param values (read, never changed); missing ones are initialised (seed 0). */
  params?: ParamStore;
  /** VJP rule overrides for the reverse pass. */
  vjpRules?: VjpRules;
  /** JVP rule overrides for the forward pass over it. */
  jvpRules?: JvpRules;
}

/** Offsets of consecutive blocks of the given sizes, and their total. */
function offsets(sizes: readonly number[]): { offs: number[]; total: number } {
  const offs: number[] = [];
  let total = 0;
  for (const s of sizes) {
    offs.push(total);
    total += s;
  }
  return { offs, total };
}

/**
 * Compiles `graph` for `outputs` and runs it once per one-hot setting of the `basis` inputs
 * (coordinate `j` over all of them in order), calling `onRun(j, outputs)`. Basis inputs the
 * outputs do not need are skipped (their runs would give zeros).
 */
function runBasis(
  graph: Graph,
  outputs: readonly string[],
  basis: readonly string[],
  shapes: readonly ConcreteShape[],
  feeds: Feeds,
  params: ParamStore,
  onRun: (j: number, out: readonly Tensor[]) => void,
): void {
  const exe = compile(graph, { params, outputs });
  try {
    const needed = new Set(exe.inputNames);
    const tensors = basis.map((name, k) => Tensor.zeros(shapes[k]!, graph.nodes[graph.inputs[name]!]!.dtype));
    const runFeeds = pick(feeds, exe.inputNames);
    basis.forEach((name, k) => {
      if (needed.has(name)) runFeeds[name] = tensors[k]!;
    });
    let j = 0;
    basis.forEach((name, k) => {
      const t = tensors[k]!;
      if (!needed.has(name)) {
        j += t.size;
        return;
      }
      for (let e = 0; e < t.size; e++, j++) {
        t.data[e] = 1;
        const out = exe.run(runFeeds);
        onRun(
          j,
          outputs.map((o) => out[o]!),
        );
        t.data[e] = 0;
      }
    });
  } finally {
    exe.dispose();
  }
}

/**
 * The Jacobian of `of` with respect to `wrt` at the given feeds and params, as a float64 tensor
 * of shape `[size(of), size(wrt)]`: row `i` is output coordinate `i` (all `of` entries flattened
 * row-major, one after another), column `j` is input coordinate `j` (likewise for `wrt`).
 *
 * Forward mode compiles `jvp` once and runs it with each basis vector as tangent (a column per
 * run); reverse mode compiles `grad` of `sum(of * u)` once and runs it with each basis vector as
 * cotangent `u` (a row per run); `"auto"` picks the one with fewer runs. Values are computed in
 * the graph's own dtype (cast it with `castGraph` for float64 accuracy). Symbolic dims are
 * resolved from the feeds by one forward run.
 * @example
 * const J = jacobian(graph, "y", "x", { x }, { mode: "forward" }); // [size(y), size(x)]
 */
export function jacobian(
  graph: Graph,
  of: Ref | readonly Ref[],
  wrt: Ref | readonly Ref[],
  feeds: Feeds = {},
  options: JacobianOptions = {},
): Tensor<"float64"> {
  const ofs = refList(of);
  const wrts = refList(wrt);
  const mode = options.mode ?? "auto";
  if (mode !== "auto" && mode !== "forward" && mode !== "reverse") {
    throw new RangeError(`jacobian: unknown mode ${JSON.stringify(mode)}`);
  }
  if (ofs.length === 0 || wrts.length === 0) {
    throw new GraphError("jacobian: 'of' and 'wrt' need at least one entry each");
  }
  const params = completeParams(graph, options.params);
  const ofIds = ofs.map((o) => resolveNode(graph, o));
  const wrtIds = wrts.map((w) => resolveNode(graph, w));
  const shapes = concreteShapes("jacobian", graph, [...ofIds, ...wrtIds], feeds, params);
  const ofShapes = shapes.slice(0, ofIds.length);
  const wrtShapes = shapes.slice(ofIds.length);
  const rows = offsets(ofShapes.map(sizeOf));
  const cols = offsets(wrtShapes.map(sizeOf));
  const m = rows.total;
  const n = cols.total;
  const J = new Float64Array(m * n);
  const forward = mode === "forward" || (mode === "auto" && n <= m);
  const taken = new Set<string>();
  if (m > 0 && n > 0 && forward) {
    const outNames = ofs.map((_, i) => freshName(graph, `jacobian:jvp:${i}`, taken));
    const tNames = wrts.map((_, k) => freshName(graph, `jacobian:tangent:${k}`, taken));
    const g = pushForward(graph, ofs, wrts, {
      outputs: outNames,
      tangents: tNames.map((name) => ({ name, explicit: false })),
      rules: options.jvpRules,
      who: "jacobian",
    });
    runBasis(g, outNames, tNames, wrtShapes, feeds, params, (j, out) => {
      out.forEach((t, i) => {
        const base = rows.offs[i]!;
        for (let e = 0; e < t.size; e++) J[(base + e) * n + j] = t.data[e]!;
      });
    });
  } else if (m > 0 && n > 0) {
    const b = GraphBuilder.extend(graph);
    const uNames = ofs.map((_, i) => freshName(graph, `jacobian:cotangent:${i}`, taken));
    const sName = freshName(graph, "jacobian:vjp", taken);
    let s: Value | null = null;
    for (let i = 0; i < ofIds.length; i++) {
      const y = b.ref(ofIds[i]!);
      const term = b.sum(b.mul(y, b.input(uNames[i]!, y.shape, y.dtype)));
      s = s ? b.add(s, term) : term;
    }
    b.output(sName, s!);
    const prefix = freshPrefix(graph, "jacobian:grad:");
    const g = grad(b.build(), sName, wrts, { prefix, rules: options.vjpRules });
    const outNames = wrts.map((w) => gradName(refName(graph, w), prefix));
    runBasis(g, outNames, uNames, ofShapes, feeds, params, (i, out) => {
      out.forEach((t, k) => {
        const base = i * n + cols.offs[k]!;
        for (let e = 0; e < t.size; e++) J[base + e] = t.data[e]!;
      });
    });
  }
  return new Tensor([m, n], J);
}

/**
 * The Hessian of the scalar `of` with respect to `wrt` (coordinates of all entries flattened
 * row-major, one after another), as a float64 tensor `[n, n]`. It compiles {@link hvp} once and
 * runs it with each basis vector, so it costs `n` Hessian-vector products and `n^2` numbers: for
 * small inputs (use `hvp` directly for large ones). Values are computed in the graph's own dtype.
 * @example
 * const H = hessian(graph, "loss", ["w"], { x }, { params }); // [size(w), size(w)]
 */
export function hessian(
  graph: Graph,
  of: Ref,
  wrt: Ref | readonly Ref[],
  feeds: Feeds = {},
  options: HessianOptions = {},
): Tensor<"float64"> {
  const wrts = refList(wrt);
  if (wrts.length === 0) throw new GraphError("hessian: 'wrt' needs at least one entry");
  const ofNode = graph.nodes[resolveNode(graph, of)]!;
  if (!ofNode.shape.every((d) => d === 1)) {
    throw new GraphError(
      `hessian: ${typeof of === "string" ? `'${of}'` : `#${of}`} has shape ${shapeToString(ofNode.shape)}; a Hessian needs a scalar (reduce it, e.g. with sum)`,
    );
  }
  const params = completeParams(graph, options.params);
  const wrtIds = wrts.map((w) => resolveNode(graph, w));
  const shapes = concreteShapes("hessian", graph, wrtIds, feeds, params);
  const { offs, total: n } = offsets(shapes.map(sizeOf));
  const H = new Float64Array(n * n);
  if (n > 0) {
    const taken = new Set<string>();
    const tNames = wrts.map((_, k) => freshName(graph, `hessian:tangent:${k}`, taken));
    const prefix = freshPrefix(graph, "hessian:hvp:");
    const g = hvp(graph, of, wrts, {
      tangents: tNames,
      prefix,
      gradPrefix: freshPrefix(graph, "hessian:grad:"),
      vjpRules: options.vjpRules,
      jvpRules: options.jvpRules,
    });
    const outNames = wrts.map((w) => hvpName(refName(graph, w), prefix));
    runBasis(g, outNames, tNames, shapes, feeds, params, (j, out) => {
      out.forEach((t, k) => {
        const base = offs[k]!;
        for (let e = 0; e < t.size; e++) H[(base + e) * n + j] = t.data[e]!;
      });
    });
  }
  return new Tensor([n, n], H);
}
