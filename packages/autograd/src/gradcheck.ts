/**
 * Gradient checking: the graph's own gradient (from {@link grad}) against central finite
 * differences, like `torch.autograd.gradcheck` but for graphs.
 *
 * The check casts the graph to `float64` (whatever its own dtype), compiles the forward graph and
 * the gradient graph once each, then perturbs the param and input buffers in place (restoring
 * them exactly), so an exhaustive check costs two forward runs per coordinate and no compilation.
 * @module
 */
import {
  type ConcreteShape,
  castGraph,
  compile,
  type DType,
  type Feed,
  type Feeds,
  type FloatArray,
  type Graph,
  GraphError,
  type NodeId,
  ParamStore,
  Rng,
  resolveNode,
  type Shape,
  shapeToString,
  stridesOf,
  Tensor,
  topoOrder,
  withOutputs,
} from "@gradgraph/core";
import { grad, gradName } from "./grad.js";
import type { VjpTable } from "./vjp/types.js";

/** How {@link gradcheck} probes the gradient. */
export type GradcheckMode = "exhaustive" | "random";

/** Step size and tolerances used for one dtype. */
export interface GradcheckTolerance {
  /** Finite-difference step. */
  readonly eps: number;
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance (also the floor of the relative error's denominator). */
  readonly atol: number;
}

/**
 * Default step and tolerances per dtype. An entry passes when
 * `|analytic - numeric| <= max(atol, rtol * max(|analytic|, |numeric|))`.
 *
 * - `float64` (the default): a central difference with step `eps` errs by about
 *   `1e-16 * |f| / eps` (rounding) plus `eps^2 * |f'''| / 6` (truncation); the sum is smallest
 *   near `eps = 1e-5` (about the cube root of the machine epsilon), where both are near `1e-11`
 *   for a loss of order 1. `rtol = 1e-6` and `atol = 1e-8` leave a wide margin for losses up to ~100.
 * - `float32`: the graph runs in float32 (to check float32 kernels too); rounding is about
 *   `1e-7 * |f| / eps`, hence the larger step and loose tolerances.
 */
export const GRADCHECK_TOLERANCES: Readonly<Record<DType, GradcheckTolerance>> = Object.freeze({
  float64: Object.freeze({ eps: 1e-5, rtol: 1e-6, atol: 1e-8 }),
  float32: Object.freeze({ eps: 1e-3, rtol: 2e-2, atol: 1e-3 }),
});

/** Options of {@link gradcheck}. */
export interface GradcheckOptions {
  /**
   * The scalar output to differentiate: an output name or a node id (default: the graph's only
   * output, or its first one). Its shape must have one element.
   */
  of?: NodeId | string;
  /**
   * Names of the params and inputs to check (default: every param `of` depends on). Inputs are
   * perturbed through the fed values.
   */
  wrt?: readonly string[];
  /**
   * Param values (copied, never changed). Params missing from it are initialised from their
   * declared initialisers with an Rng seeded by {@link GradcheckOptions.seed}.
   */
  params?: ParamStore;
  /**
   * `"exhaustive"` (default): every coordinate of every `wrt`, two evaluations each.
   * `"random"`: {@link GradcheckOptions.directions} random unit directions `v` over all `wrt`
   * coordinates at once, comparing `grad . v` with `(f(x + eps v) - f(x - eps v)) / 2 eps`:
   * two evaluations per direction whatever the graph's size.
   */
  mode?: GradcheckMode;
  /** Number of random directions in `"random"` mode (default 4). */
  directions?: number;
  /** Seed of the random directions and of missing params' initialisation (default 0). */
  seed?: number;
  /**
   * The dtype the check runs in (default `"float64"`). `"float32"` runs the float32 kernels,
   * with the loose {@link GRADCHECK_TOLERANCES} of that dtype.
   */
  dtype?: DType;
  /** Finite-difference step (default from {@link GRADCHECK_TOLERANCES}; Ng's ex4 uses 1e-4). */
  eps?: number;
  /** Relative tolerance (default from {@link GRADCHECK_TOLERANCES}). */
  rtol?: number;
  /** Absolute tolerance (default from {@link GRADCHECK_TOLERANCES}). */
  atol?: number;
  /** How many of the worst entries the report keeps (default 10). */
  topK?: number;
  /** VJP rules overriding the built-in ones while computing the analytic gradient (see `GradOptions.rules` of `grad`). */
  rules?: Partial<VjpTable>;
}

/** One compared quantity: a gradient coordinate, or a directional derivative in random mode. */
export interface GradcheckEntry {
  /** `"coordinate"` in exhaustive mode, `"direction"` in random mode. */
  readonly kind: "coordinate" | "direction";
  /** The param or input name (`"*"` for a random direction over all of them). */
  readonly wrt: string;
  /** Flat row-major index into `wrt` (the direction's number in random mode). */
  readonly index: number;
  /** The same index per axis (empty for a scalar and in random mode). */
  readonly multiIndex: readonly number[];
  /** The graph's gradient (or `grad . v`). */
  readonly analytic: number;
  /** The central finite difference. */
  readonly numeric: number;
  /** `|analytic - numeric|`. */
  readonly absError: number;
  /** `|analytic - numeric| / max(|analytic|, |numeric|, atol)`. */
  readonly relError: number;
  /** The error divided by the error allowed (`max(atol, rtol * max(|analytic|, |numeric|))`); above 1 fails. */
  readonly tolRatio: number;
}

/** The result of {@link gradcheck}. */
export interface GradcheckReport {
  /** True when every entry is within tolerance. */
  readonly ok: boolean;
  /** The mode used. */
  readonly mode: GradcheckMode;
  /** The dtype the check ran in. */
  readonly dtype: DType;
  /** The step used. */
  readonly eps: number;
  /** The relative tolerance used. */
  readonly rtol: number;
  /** The absolute tolerance used. */
  readonly atol: number;
  /** Names checked. */
  readonly wrt: readonly string[];
  /** Number of entries compared (coordinates, or directions). */
  readonly checked: number;
  /** Number of entries out of tolerance. */
  readonly failures: number;
  /** Largest {@link GradcheckEntry.relError}. */
  readonly maxRelError: number;
  /** Largest {@link GradcheckEntry.absError}. */
  readonly maxAbsError: number;
  /**
   * `||analytic - numeric|| / ||analytic + numeric||` over all entries (Euclidean norms; 0 when
   * both are zero): the summary figure of Andrew Ng's ex4, where a correct gradient gives < 1e-9.
   */
  readonly normRelError: number;
  /** The worst entries (largest {@link GradcheckEntry.tolRatio} first), at most `topK`. */
  readonly worst: readonly GradcheckEntry[];
  /** Number of forward evaluations plus gradient evaluations run. */
  readonly evaluations: number;
}

interface Target {
  name: string;
  kind: "param" | "input";
  shape: ConcreteShape;
  /** The buffer the forward plan reads (null when `of` does not depend on it). */
  buffer: FloatArray | null;
}

function toTensor(name: string, feed: Feed, declared: Shape, dtype: DType): Tensor {
  if (feed instanceof Tensor) return feed.astype(dtype);
  if (typeof feed === "number") {
    const shape = declared.map(() => 1);
    return Tensor.full(shape, feed, dtype);
  }
  if (ArrayBuffer.isView(feed)) {
    let shape: number[];
    if (declared.every((d) => typeof d === "number")) shape = [...(declared as number[])];
    else {
      const known = declared.reduce<number>((p, d) => (typeof d === "number" ? p * d : p), 1);
      const symbols = declared.filter((d) => typeof d === "string").length;
      if (symbols !== 1 || known === 0 || feed.length % known !== 0) {
        throw new GraphError(
          `gradcheck: input '${name}': a bare array cannot fill symbolic shape ${shapeToString(declared)}; feed a Tensor`,
        );
      }
      shape = declared.map((d) => (typeof d === "number" ? d : feed.length / known));
    }
    return new Tensor(shape, feed).astype(dtype);
  }
  throw new GraphError(`gradcheck: input '${name}': unsupported feed ${String(feed)}`);
}

function multiIndexOf(flat: number, shape: ConcreteShape): number[] {
  const strides = stridesOf(shape);
  return strides.map((s, d) => Math.floor(flat / s) % shape[d]!);
}

function entryOf(
  kind: GradcheckEntry["kind"],
  wrt: string,
  index: number,
  multiIndex: readonly number[],
  analytic: number,
  numeric: number,
  rtol: number,
  atol: number,
): GradcheckEntry {
  const absError = Math.abs(analytic - numeric);
  const scale = Math.max(Math.abs(analytic), Math.abs(numeric));
  const relError = absError === 0 ? 0 : absError / Math.max(scale, atol);
  const allowed = Math.max(atol, rtol * scale);
  const tolRatio = Number.isNaN(absError) ? Number.POSITIVE_INFINITY : absError / allowed;
  return { kind, wrt, index, multiIndex, analytic, numeric, absError, relError, tolRatio };
}

/**
 * Checks the gradient of a scalar output of `graph` against central finite differences.
 *
 * @param graph any graph; it is cast to `options.dtype` (float64 by default) for the check
 * @param feeds values of the inputs the output needs (any dtype; converted)
 * @returns a report: `ok`, the largest errors, the worst entries and the number of evaluations
 * @example
 * const report = gradcheck(graph, { x, y }, { params });
 * if (!report.ok) console.log(formatGradcheckReport(report));
 */
export function gradcheck(graph: Graph, feeds: Feeds = {}, options: GradcheckOptions = {}): GradcheckReport {
  const dtype = options.dtype ?? "float64";
  const defaults = GRADCHECK_TOLERANCES[dtype];
  const eps = options.eps ?? defaults.eps;
  const rtol = options.rtol ?? defaults.rtol;
  const atol = options.atol ?? defaults.atol;
  const mode = options.mode ?? "exhaustive";
  const topK = options.topK ?? 10;
  if (!(eps > 0)) throw new RangeError(`gradcheck: eps must be positive, got ${eps}`);
  if (mode !== "exhaustive" && mode !== "random") {
    throw new RangeError(`gradcheck: unknown mode ${JSON.stringify(mode)}`);
  }

  const outputNames = Object.keys(graph.outputs);
  const ofRef = options.of ?? outputNames[0];
  if (ofRef === undefined) throw new GraphError("gradcheck: the graph has no outputs; pass options.of");
  const ofId = resolveNode(graph, ofRef);
  const ofNode = graph.nodes[ofId]!;
  if (!ofNode.shape.every((d) => d === 1)) {
    throw new GraphError(
      `gradcheck: output ${typeof ofRef === "string" ? `'${ofRef}'` : `#${ofRef}`} has shape ${shapeToString(ofNode.shape)}; gradcheck needs a scalar (reduce it, e.g. with sum)`,
    );
  }

  // the forward graph computes only `of`; the gradient graph only the gradients
  const F = "gradcheck:f";
  const cast = castGraph(graph, dtype);
  const forward = withOutputs(cast, { [F]: ofId });
  const needed = new Set(topoOrder(graph, [ofId]));
  const wrt = options.wrt ?? Object.keys(graph.params).filter((p) => needed.has(graph.params[p]!.node));
  for (const w of wrt) {
    if (!Object.hasOwn(graph.params, w) && !Object.hasOwn(graph.inputs, w)) {
      throw new GraphError(
        `gradcheck: no param or input named '${w}' (params: ${Object.keys(graph.params).join(", ") || "none"}; inputs: ${
          Object.keys(graph.inputs).join(", ") || "none"
        })`,
      );
    }
  }
  for (const name of Object.keys(feeds)) {
    if (!Object.hasOwn(graph.inputs, name)) {
      throw new GraphError(
        `gradcheck: unknown feed '${name}' (inputs: ${Object.keys(graph.inputs).join(", ") || "none"})`,
      );
    }
  }
  const backward = withOutputs(
    grad(forward, ofId, wrt, { rules: options.rules }),
    Object.fromEntries(wrt.map((w) => [gradName(w), gradName(w)])),
  );

  // private copies of params and feeds, in the check's dtype
  const params = new ParamStore();
  for (const name of Object.keys(graph.params)) {
    if (options.params?.has(name)) params.set(name, options.params.get(name).astype(dtype));
  }
  params.initMissing(cast, options.seed ?? 0);
  // a Map: any string (`__proto__`, `toString`, ...) can be an input name
  const tensors = new Map<string, Tensor>();
  for (const [name, f] of Object.entries(feeds)) {
    tensors.set(name, toTensor(name, f, graph.nodes[graph.inputs[name]!]!.shape, dtype));
  }

  const fwd = compile(forward, { params });
  const bwd = compile(backward, { params });
  let evaluations = 1;
  const entries: GradcheckEntry[] = [];
  try {
    const pick = (names: readonly string[]) => {
      const out: [string, Tensor][] = [];
      for (const n of names) {
        const t = tensors.get(n);
        if (!t) {
          const decl = graph.nodes[graph.inputs[n]!]!;
          throw new GraphError(
            `gradcheck: missing feed for input '${n}' (expected ${decl.dtype} ${shapeToString(decl.shape)})`,
          );
        }
        out.push([n, t]);
      }
      return Object.fromEntries(out) as Record<string, Tensor>;
    };
    const fwdFeeds = pick(fwd.inputNames);
    const plan = fwd.plan(Object.fromEntries(Object.entries(fwdFeeds).map(([k, t]) => [k, t.shape])));
    plan.feed(fwdFeeds);
    const fOut = plan.outputs[F]!.data;
    const evalF = () => {
      plan.run();
      return fOut[0]!;
    };

    const targets: Target[] = wrt.map((name) => {
      if (Object.hasOwn(graph.params, name)) {
        const t = params.get(name);
        const used = needed.has(graph.params[name]!.node);
        return { name, kind: "param", shape: t.shape, buffer: used ? t.data : null };
      }
      const t = plan.inputs[name];
      const fed = tensors.get(name);
      if (!fed) throw new GraphError(`gradcheck: missing feed for input '${name}' (it is in wrt)`);
      return { name, kind: "input", shape: fed.shape, buffer: t ? t.data : null };
    });

    const analytic = bwd.run(pick(bwd.inputNames));
    const g = targets.map((t) => Float64Array.from(analytic[gradName(t.name)]!.data));

    if (mode === "exhaustive") {
      targets.forEach((t, k) => {
        const n = g[k]!.length;
        for (let i = 0; i < n; i++) {
          let numeric = 0;
          const buf = t.buffer;
          if (buf) {
            const x0 = buf[i]!;
            buf[i] = x0 + eps;
            const xp = buf[i]!;
            const fp = evalF();
            buf[i] = x0 - eps;
            const xm = buf[i]!;
            const fm = evalF();
            buf[i] = x0;
            evaluations += 2;
            numeric = (fp - fm) / (xp - xm);
          }
          entries.push(
            entryOf("coordinate", t.name, i, multiIndexOf(i, t.shape), g[k]![i]!, numeric, rtol, atol),
          );
        }
      });
    } else {
      const directions = options.directions ?? 4;
      const rng = new Rng((options.seed ?? 0) ^ 0x5eed);
      const saved = targets.map((t) => (t.buffer ? Float64Array.from(t.buffer) : null));
      const v = g.map((gi) => new Float64Array(gi.length));
      for (let d = 0; d < directions; d++) {
        let norm = 0;
        for (const vi of v) {
          rng.fillNormal(vi);
          for (let i = 0; i < vi.length; i++) norm += vi[i]! * vi[i]!;
        }
        norm = Math.sqrt(norm) || 1;
        let dot = 0;
        v.forEach((vi, k) => {
          for (let i = 0; i < vi.length; i++) {
            vi[i]! /= norm;
            dot += g[k]![i]! * vi[i]!;
          }
        });
        const shift = (sign: number) => {
          targets.forEach((t, k) => {
            const buf = t.buffer;
            if (!buf) return;
            const x0 = saved[k]!;
            const vk = v[k]!;
            for (let i = 0; i < buf.length; i++) buf[i] = x0[i]! + sign * eps * vk[i]!;
          });
        };
        shift(1);
        const fp = evalF();
        shift(-1);
        const fm = evalF();
        targets.forEach((t, k) => {
          t.buffer?.set(saved[k]!);
        });
        evaluations += 2;
        entries.push(entryOf("direction", "*", d, [], dot, (fp - fm) / (2 * eps), rtol, atol));
      }
    }
  } finally {
    // plans own WebAssembly memory for their inputs and outputs until disposed
    fwd.dispose();
    bwd.dispose();
  }

  let maxRelError = 0;
  let maxAbsError = 0;
  let failures = 0;
  let diff2 = 0;
  let sum2 = 0;
  const orInf = (x: number) => (Number.isNaN(x) ? Number.POSITIVE_INFINITY : x);
  for (const e of entries) {
    maxRelError = Math.max(maxRelError, orInf(e.relError));
    maxAbsError = Math.max(maxAbsError, orInf(e.absError));
    if (!(e.tolRatio <= 1)) failures++;
    diff2 += (e.analytic - e.numeric) ** 2;
    sum2 += (e.analytic + e.numeric) ** 2;
  }
  const normRelError = diff2 === 0 ? 0 : Math.sqrt(diff2) / Math.sqrt(sum2);
  const worst = [...entries].sort((a, b) => b.tolRatio - a.tolRatio || 0).slice(0, topK);
  return {
    ok: failures === 0,
    mode,
    dtype,
    eps,
    rtol,
    atol,
    wrt,
    checked: entries.length,
    failures,
    maxRelError,
    maxAbsError,
    normRelError,
    worst,
    evaluations,
  };
}

function num(x: number): string {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e5 ? x.toPrecision(8) : x.toExponential(6);
}

/**
 * Formats a report as a text table, e.g.
 * ```text
 * gradcheck exhaustive float64: FAILED, 3 of 38 entries out of tolerance (rtol 1e-6, atol 1e-8, eps 1e-4)
 * max rel error 0.4172, max abs error 0.0132, ||a-n||/||a+n|| 0.105, 77 evaluations
 * wrt      index       analytic         numeric          rel error
 * Theta1   7 [1,3]     0.0123           0.0211           0.4172
 * ```
 */
export function formatGradcheckReport(report: GradcheckReport): string {
  const status = report.ok
    ? "ok"
    : `FAILED, ${report.failures} of ${report.checked} entries out of tolerance`;
  const head = [
    `gradcheck ${report.mode} ${report.dtype}: ${status}${report.ok ? ` (${report.checked} entries)` : ""} (rtol ${report.rtol.toExponential()}, atol ${report.atol.toExponential()}, eps ${report.eps.toExponential()})`,
    `max rel error ${num(report.maxRelError)}, max abs error ${num(report.maxAbsError)}, ||a-n||/||a+n|| ${num(
      report.normRelError,
    )}, ${report.evaluations} evaluations`,
  ];
  const rows = report.worst.map((e) => [
    e.kind === "direction" ? "direction" : e.wrt,
    e.kind === "direction" ? `#${e.index}` : `${e.index} [${e.multiIndex.join(",")}]`,
    num(e.analytic),
    num(e.numeric),
    num(e.relError),
    e.tolRatio <= 1 ? "" : "FAIL",
  ]);
  const table = [["wrt", "index", "analytic", "numeric", "rel error", ""], ...rows];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const lines = table.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join("  ")
      .trimEnd(),
  );
  return [...head, ...lines].join("\n");
}
