/**
 * Checking forward mode: `jvp` against `grad` (`<J v, u> = <v, J^T u>` for random `v`, `u`) and
 * against central finite differences, for one op of the table or for any graph.
 * @module
 */
import {
  type AnyOpName,
  ancestors,
  type ConcreteShape,
  type CustomArity,
  type CustomAttrs,
  type CustomOp,
  castGraph,
  compile,
  type Feed,
  type Feeds,
  type Graph,
  GraphBuilder,
  GraphError,
  isConcrete,
  type NodeId,
  type OpName,
  ParamStore,
  printGraph,
  Rng,
  resolveNode,
  type Shape,
  shapeToString,
  sizeOf,
  Tensor,
  type Value,
  withOutputs,
} from "@gradgraph/core";
import fc from "fast-check";
import { grad, gradName } from "../grad.js";
import type { JvpRules } from "../jvp/types.js";
import { jvp, pushForward, refName } from "../jvp.js";
import { freshName, freshPrefix, pickFeeds } from "../util.js";
import type { VjpRules } from "../vjp/types.js";
import { describeOpCase, opCaseGraph, opTestSpec } from "./opCheck.js";
import type { OpCase, OpTestCase, OpTestSpec } from "./opSpecs.js";
import type { GraphCase } from "./randomGraph.js";

/** Default tolerances of {@link checkJvpVjpConsistency} (float64). */
export const JVP_CHECK_TOLERANCES = Object.freeze({
  /** Finite-difference step. */
  eps: 1e-5,
  /** Relative tolerance of `J v` against finite differences. */
  rtol: 1e-6,
  /** Absolute tolerance of `J v` against finite differences. */
  atol: 1e-8,
  /** Relative tolerance of `<J v, u>` against `<v, J^T u>` (both analytic, so tight). */
  consistencyTol: 1e-9,
});

/** Options of {@link checkJvpVjpConsistency}. */
export interface JvpCheckOptions {
  /** Outputs or nodes (names or ids) whose tangents are checked (default: every output). */
  of?: readonly (NodeId | string)[];
  /** Inputs and params (by name) moved along `v` (default: every input and param `of` depends on). */
  wrt?: readonly string[];
  /** Values of the graph's inputs (converted to float64). */
  feeds?: Feeds;
  /** Param values (copied, never changed); missing ones are initialised with `seed`. */
  params?: ParamStore;
  /** Seed of the random directions `v` and `u` (uniform in [-1, 1)) and of missing params (default 0). */
  seed?: number;
  /** Also compare `J v` with central finite differences (default true). */
  finiteDifferences?: boolean;
  /** Finite-difference step (default {@link JVP_CHECK_TOLERANCES}). */
  eps?: number;
  /** Relative tolerance against finite differences: an element passes when `|a - n| <= max(atol, rtol * max(|a|, |n|))`. */
  rtol?: number;
  /** Absolute tolerance against finite differences. */
  atol?: number;
  /** Tolerance of `|<J v, u> - <v, J^T u>|`, relative to the sum of the absolute terms of both products. */
  consistencyTol?: number;
  /** JVP rules overriding the built-in ones (see `JvpOptions.rules`). */
  jvpRules?: JvpRules;
  /** VJP rules overriding the built-in ones (see `GradOptions.rules`). */
  vjpRules?: VjpRules;
}

/** One element of `J v` compared with finite differences. */
export interface JvpFdEntry {
  /** The `of` entry (its name, or `#id`). */
  readonly of: string;
  /** Flat index into it. */
  readonly index: number;
  /** `J v` from `jvp`. */
  readonly analytic: number;
  /** `(f(x + eps v) - f(x - eps v)) / 2 eps`. */
  readonly numeric: number;
  /** `|analytic - numeric|`. */
  readonly absError: number;
  /** `absError / max(atol, rtol * max(|analytic|, |numeric|))`: above 1 fails. */
  readonly ratio: number;
}

/** The outcome of {@link checkJvpVjpConsistency}. */
export interface JvpCheckResult {
  /** True when `jvp` agrees with `grad` and (when checked) with finite differences. */
  readonly ok: boolean;
  /** `<J v, u>`, from `jvp`. */
  readonly jvpDotU: number;
  /** `<v, J^T u>`, from `grad`. */
  readonly vDotVjp: number;
  /** `|jvpDotU - vDotVjp|` divided by the sum of the absolute terms of both products (0 when both are 0). */
  readonly consistencyError: number;
  /** True when `consistencyError` is within `consistencyTol`. */
  readonly consistent: boolean;
  /** True when every element of `J v` matches finite differences; `null` when not checked. */
  readonly fdOk: boolean | null;
  /** The elements closest to (or past) their finite-difference tolerance, worst first (at most 10). */
  readonly worst: readonly JvpFdEntry[];
  /** A readable summary; with the graph when the check failed. */
  readonly message: string;
}

function toFloat64(name: string, f: Feed, declared: Shape): Tensor<"float64"> {
  if (typeof f === "number")
    return Tensor.full(
      declared.map(() => 1),
      f,
      "float64",
    );
  if (f instanceof Tensor) return f.astype("float64");
  if (isConcrete(declared)) return Tensor.from(f, { shape: declared, dtype: "float64" });
  throw new GraphError(
    `input '${name}': a bare array cannot fill symbolic shape ${shapeToString(declared)}; feed a Tensor`,
  );
}

function randomValues(rng: Rng, n: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): { value: number; abs: number } {
  let value = 0;
  let abs = 0;
  for (let i = 0; i < a.length; i++) {
    value += a[i]! * b[i]!;
    abs += Math.abs(a[i]! * b[i]!);
  }
  return { value, abs };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(8) : String(x);
}

/**
 * Checks `jvp` on one graph: with random directions `v` (over the `wrt` inputs and params) and
 * `u` (over the `of` values), `<J v, u>` from `jvp` must equal `<v, J^T u>` from `grad` (one VJP
 * with seed `u`), and `J v` must match central finite differences `(f(x + eps v) - f(x - eps v)) / 2 eps`
 * element by element. The graph is cast to float64 first; feeds and params are copied. Use it for
 * a custom JVP or VJP rule (pass `jvpRules`/`vjpRules`) or for a model of your own.
 * @example
 * const r = checkJvpVjpConsistency(graph, { feeds: { x }, params });
 * if (!r.ok) console.log(r.message);
 */
export function checkJvpVjpConsistency(graph: Graph, options: JvpCheckOptions = {}): JvpCheckResult {
  const seed = options.seed ?? 0;
  const eps = options.eps ?? JVP_CHECK_TOLERANCES.eps;
  const rtol = options.rtol ?? JVP_CHECK_TOLERANCES.rtol;
  const atol = options.atol ?? JVP_CHECK_TOLERANCES.atol;
  const tol = options.consistencyTol ?? JVP_CHECK_TOLERANCES.consistencyTol;
  const feeds = options.feeds ?? {};
  const ofRefs = options.of ?? Object.keys(graph.outputs);
  if (ofRefs.length === 0) {
    throw new GraphError("checkJvpVjpConsistency: the graph has no outputs; pass options.of");
  }
  const ofIds = ofRefs.map((o) => resolveNode(graph, o));
  const ofNames = ofRefs.map((o) => refName(graph, o));
  const needed = ancestors(graph, ofIds);
  const wrt =
    options.wrt ??
    [
      ...Object.entries(graph.inputs).map(([n, id]) => [n, id] as const),
      ...Object.entries(graph.params).map(([n, p]) => [n, p.node] as const),
    ]
      .filter(([, id]) => needed[id])
      .map(([n]) => n);
  for (const w of wrt) {
    if (!Object.hasOwn(graph.params, w) && !Object.hasOwn(graph.inputs, w)) {
      throw new GraphError(`checkJvpVjpConsistency: no param or input named '${w}'`);
    }
  }

  // private float64 copies
  const cast = castGraph(graph, "float64");
  const params = new ParamStore();
  for (const name of Object.keys(graph.params)) {
    if (options.params?.has(name)) params.set(name, options.params.get(name).astype("float64"));
  }
  params.initMissing(cast, seed);
  const base: Record<string, Tensor<"float64">> = {};
  for (const [name, f] of Object.entries(feeds)) {
    if (!Object.hasOwn(graph.inputs, name)) {
      throw new GraphError(`checkJvpVjpConsistency: unknown feed '${name}'`);
    }
    base[name] = toFloat64(name, f, graph.nodes[graph.inputs[name]!]!.shape);
  }
  const wrtValue = (w: string): Tensor => {
    if (Object.hasOwn(graph.params, w)) return params.get(w);
    if (!Object.hasOwn(base, w))
      throw new GraphError(`checkJvpVjpConsistency: missing feed for input '${w}'`);
    return base[w]!;
  };

  // concrete shapes of the `of` values
  let ofShapes: ConcreteShape[];
  const declared = ofIds.map((id) => cast.nodes[id]!.shape);
  if (declared.every(isConcrete)) ofShapes = declared as ConcreteShape[];
  else {
    const exe = compile(withOutputs(cast, Object.fromEntries(ofIds.map((id, i) => [`f${i}`, id]))), {
      params,
    });
    try {
      const out = exe.run(pickFeeds(base, exe.inputNames));
      ofShapes = ofIds.map((_, i) => [...out[`f${i}`]!.shape]);
    } finally {
      exe.dispose();
    }
  }

  // directions
  const rng = new Rng(seed);
  const v = wrt.map((w) => randomValues(rng, wrtValue(w).size));
  const u = ofShapes.map((s) => randomValues(rng, sizeOf(s)));

  // one graph computing J v (jvp) and J^T u (grad of sum(of * u))
  const taken = new Set<string>();
  const tNames = wrt.map((_, k) => freshName(cast, `check:tangent:${k}`, taken));
  const jNames = ofIds.map((_, i) => freshName(cast, `check:jvp:${i}`, taken));
  const uNames = ofIds.map((_, i) => freshName(cast, `check:cotangent:${i}`, taken));
  const sName = freshName(cast, "check:vjp", taken);
  const gPrefix = freshPrefix(cast, "check:grad:");
  const g1 = pushForward(cast, ofIds, wrt, {
    outputs: jNames,
    tangents: tNames.map((name) => ({ name, explicit: false })),
    rules: options.jvpRules,
    who: "checkJvpVjpConsistency",
  });
  const b = GraphBuilder.extend(g1, { dtype: "float64" });
  let s: Value | null = null;
  for (let i = 0; i < ofIds.length; i++) {
    const term = b.sum(b.mul(b.ref(ofIds[i]!), b.input(uNames[i]!, cast.nodes[ofIds[i]!]!.shape)));
    s = s ? b.add(s, term) : term;
  }
  b.output(sName, s!);
  const g2 = grad(b.build(), sName, wrt, { prefix: gPrefix, rules: options.vjpRules });
  const gNames = wrt.map((w) => gradName(w, gPrefix));
  const all: Record<string, Tensor> = { ...base };
  wrt.forEach((w, k) => {
    all[tNames[k]!] = new Tensor(wrtValue(w).shape, v[k]!);
  });
  ofShapes.forEach((shape, i) => {
    all[uNames[i]!] = new Tensor(shape, u[i]!);
  });
  const exe = compile(g2, { params, outputs: [...jNames, ...gNames] });
  let jv: Float64Array[];
  let vjp: Float64Array[];
  try {
    const out = exe.run(pickFeeds(all, exe.inputNames));
    jv = jNames.map((n) => Float64Array.from(out[n]!.data));
    vjp = gNames.map((n) => Float64Array.from(out[n]!.data));
  } finally {
    exe.dispose();
  }
  let lhs = 0;
  let rhs = 0;
  let scale = 0;
  jv.forEach((a, i) => {
    const d = dot(a, u[i]!);
    lhs += d.value;
    scale += d.abs;
  });
  vjp.forEach((g, k) => {
    const d = dot(v[k]!, g);
    rhs += d.value;
    scale += d.abs;
  });
  const diff = Math.abs(lhs - rhs);
  const consistencyError = diff === 0 ? 0 : diff / scale;
  const consistent = consistencyError <= tol;

  // finite differences
  let fdOk: boolean | null = null;
  let worst: JvpFdEntry[] = [];
  if (options.finiteDifferences ?? true) {
    const fparams = params.clone();
    const fwd = compile(withOutputs(cast, Object.fromEntries(ofIds.map((id, i) => [`f${i}`, id]))), {
      params: fparams,
    });
    try {
      const evalAt = (sign: number): Float64Array[] => {
        const fd: Record<string, Tensor> = { ...base };
        wrt.forEach((w, k) => {
          const x0 = wrtValue(w);
          const moved = new Float64Array(x0.size);
          for (let e = 0; e < moved.length; e++) moved[e] = x0.data[e]! + sign * eps * v[k]![e]!;
          if (Object.hasOwn(graph.params, w)) fparams.set(w, new Tensor(x0.shape, moved));
          else fd[w] = new Tensor(x0.shape, moved);
        });
        const out = fwd.run(pickFeeds(fd, fwd.inputNames));
        return ofIds.map((_, i) => Float64Array.from(out[`f${i}`]!.data));
      };
      const plus = evalAt(1);
      const minus = evalAt(-1);
      const entries: JvpFdEntry[] = [];
      jv.forEach((a, i) => {
        for (let e = 0; e < a.length; e++) {
          const numeric = (plus[i]![e]! - minus[i]![e]!) / (2 * eps);
          const analytic = a[e]!;
          const absError = Math.abs(analytic - numeric);
          const ratio = absError / Math.max(atol, rtol * Math.max(Math.abs(analytic), Math.abs(numeric)));
          entries.push({
            of: ofNames[i]!,
            index: e,
            analytic,
            numeric,
            absError,
            ratio: Number.isNaN(ratio) ? Infinity : ratio,
          });
        }
      });
      entries.sort((p, q) => q.ratio - p.ratio);
      worst = entries.slice(0, 10);
      fdOk = entries.every((x) => x.ratio <= 1);
    } finally {
      fwd.dispose();
    }
  }

  const ok = consistent && fdOk !== false;
  const lines = [
    `jvp check ${ok ? "ok" : "FAILED"}: <J v, u> = ${fmt(lhs)}, <v, J^T u> = ${fmt(rhs)} (relative difference ${consistencyError.toExponential(2)}, tolerance ${tol})${
      consistent ? "" : " INCONSISTENT"
    }`,
  ];
  if (fdOk !== null) {
    lines.push(
      `finite differences (eps ${eps}, rtol ${rtol}, atol ${atol}): ${fdOk ? "ok" : "FAILED"}`,
      ...worst
        .filter((x) => !ok && x.ratio > 1)
        .map(
          (x) =>
            `  ${x.of}[${x.index}]: jvp ${fmt(x.analytic)}, finite differences ${fmt(x.numeric)}, error ${x.absError.toExponential(2)}`,
        ),
    );
  }
  if (!ok) lines.push(printGraph(graph));
  return {
    ok,
    jvpDotU: lhs,
    vDotVjp: rhs,
    consistencyError,
    consistent,
    fdOk,
    worst,
    message: lines.join("\n"),
  };
}

/** Options of {@link checkOpJvpCase} and {@link checkOpJvp}: the check's, minus what the case decides. */
export type OpJvpCheckOptions = Omit<JvpCheckOptions, "of" | "wrt" | "feeds" | "params">;

/** Options of {@link checkOpJvpCase} and {@link checkOpJvp} for a user op. */
export interface UserOpJvpCheckOptions<A> extends OpJvpCheckOptions {
  /**
   * How to generate the op's cases and build its node (see `unaryOpSpec`, `binaryOpSpec`), as for
   * `checkOpGradients`. Required unless the op is elementwise with arity 1 or 2: those default to
   * values in [-3, 3] (broadcast-compatible shapes for two inputs).
   */
  readonly spec?: OpTestSpec<A>;
}

/** The outcome of {@link checkOpJvpCase}. */
export interface OpJvpCheckResult {
  /** True when the JVP agrees with the VJP and finite differences, and zero tangents are exactly zero. */
  readonly ok: boolean;
  /** The op (a built-in op's name or a user op's). */
  readonly op: AnyOpName;
  /** The graph checked: the op on its arguments (output `y`), as `checkOpCase` builds it. */
  readonly graph: Graph;
  /** The check of the arguments with a derivative (null when there are none). */
  readonly check: JvpCheckResult | null;
  /** Arguments whose tangent should not change `y` at all but does, with the first bad value. */
  readonly zeroViolations: readonly string[];
  /** A readable summary (case, graph, errors). */
  readonly message: string;
}

/**
 * Checks op `op`'s JVP rule on one case: `<J v, u> = <v, J^T u>` and `J v` against finite
 * differences over the arguments with a derivative, and that moving an argument whose derivative
 * is zero (comparisons, `sign`, `stopGradient`, `where`'s condition) leaves the output's tangent
 * exactly zero. `seed` picks the random directions. `op` is a built-in op (a case of its
 * `OP_SPECS` entry), or a user op's handle or name (its node is built with `options.spec.build`
 * when given, else with `b.op`).
 */
export function checkOpJvpCase<K extends OpName>(
  op: K,
  c: OpCase<K>,
  options?: OpJvpCheckOptions,
): OpJvpCheckResult;
export function checkOpJvpCase<A extends object, N extends CustomArity>(
  op: CustomOp<A, N> | string,
  c: OpTestCase<A>,
  options?: UserOpJvpCheckOptions<A>,
): OpJvpCheckResult;
export function checkOpJvpCase(
  op: string | { readonly name: string },
  c: OpTestCase<object>,
  options: UserOpJvpCheckOptions<object> = {},
): OpJvpCheckResult {
  const { spec, ...checkOptions } = options;
  const opName = (typeof op === "string" ? op : op.name) as AnyOpName;
  const { graph, feeds, params, names } = opCaseGraph(opName, c, spec);
  const fdNames = names.filter((_, i) => c.args[i]!.grad === "fd");
  const zeroNames = names.filter((_, i) => c.args[i]!.grad === "zero");
  const check = fdNames.length
    ? checkJvpVjpConsistency(graph, { ...checkOptions, of: ["y"], wrt: fdNames, feeds, params })
    : null;
  const zeroViolations: string[] = [];
  if (zeroNames.length) {
    const g = jvp(graph, "y", zeroNames, { rules: checkOptions.jvpRules, tangentPrefix: "check:tangent:" });
    const rng = new Rng((checkOptions.seed ?? 0) ^ 0x5a5a);
    const all: Record<string, Tensor> = { ...feeds };
    for (const n of zeroNames) {
      const x = feeds[n] ?? params.get(n);
      all[`check:tangent:${n}`] = new Tensor(x.shape, randomValues(rng, x.size));
    }
    const exe = compile(g, { outputs: ["jvp:y"], params });
    try {
      const data = exe.run(pickFeeds(all, exe.inputNames))["jvp:y"]!.data;
      const bad = data.findIndex((x) => x !== 0);
      if (bad >= 0) {
        zeroViolations.push(
          `${zeroNames.join(", ")}: tangent of y element ${bad} is ${data[bad]}, expected exactly 0`,
        );
      }
    } finally {
      exe.dispose();
    }
  }
  const ok = (check?.ok ?? true) && zeroViolations.length === 0;
  const message = ok
    ? `${opName}: ok`
    : [
        `${opName}: JVP check failed`,
        describeOpCase(opName, c),
        check && !check.ok ? check.message : printGraph(graph),
        ...zeroViolations,
      ].join("\n");
  return { ok, op: opName, graph, check, zeroViolations, message };
}

/**
 * A fast-check property: op `op`'s JVP agrees with its VJP (`<J v, u> = <v, J^T u>`) and with
 * finite differences on every case its test spec generates, with random directions (the second
 * value, a seed, shrinks to 0). A failure throws with the case, the graph and the errors. `op` is
 * a built-in op (cases from `OP_SPECS`) or a user op's handle or name (cases from `options.spec`,
 * or the default of an elementwise op of arity 1 or 2), as for `checkOpGradients`.
 * @example
 * fc.assert(checkOpJvp("softmax"), fcParameters());
 * fc.assert(checkOpJvp(softplus, { spec: softplusSpec }), fcParameters()); // a user op
 */
export function checkOpJvp<K extends OpName>(
  op: K,
  options?: OpJvpCheckOptions,
): fc.IPropertyWithHooks<[OpCase<K>, number]>;
export function checkOpJvp<A extends object, N extends CustomArity>(
  op: CustomOp<A, N>,
  options?: UserOpJvpCheckOptions<A>,
): fc.IPropertyWithHooks<[OpTestCase<A>, number]>;
export function checkOpJvp<A extends object = CustomAttrs>(
  op: string,
  options?: UserOpJvpCheckOptions<A>,
): fc.IPropertyWithHooks<[OpTestCase<A>, number]>;
export function checkOpJvp(
  op: string | { readonly name: string },
  options: UserOpJvpCheckOptions<object> = {},
): fc.IPropertyWithHooks<[OpTestCase<object>, number]> {
  const name = typeof op === "string" ? op : op.name;
  const spec = opTestSpec(name, options.spec);
  const cases: fc.Arbitrary<OpTestCase<object>> = spec.cases.map((c) => ({
    ...c,
    [fc.toStringMethod]: () => describeOpCase(name, c),
  }));
  return fc.property(cases, fc.nat({ max: 1 << 20 }), (c, seed) => {
    const r = checkOpJvpCase(name, c, { ...options, spec, seed });
    if (!r.ok) throw new Error(r.message);
  });
}

/** Options of {@link jvpVjpProperty}. */
export interface JvpPropertyOptions extends Omit<JvpCheckOptions, "wrt" | "feeds" | "params"> {
  /**
   * Check the tangent of every computed node of the graph (not only its outputs), so a wrong
   * rule is caught where it is used even when the loss hides it. Ignored when `of` is given.
   */
  everyNode?: boolean;
}

/**
 * A fast-check property over graph cases (`{ graph, feeds, params, wrt, program }`, e.g. from
 * `randomGraphArb`, or an arbitrary of your own models): {@link checkJvpVjpConsistency} with the
 * case's feeds, params and `wrt`. A failure throws with the program and the check's message.
 * @example
 * fc.assert(jvpVjpProperty(randomGraphArb(), { everyNode: true }), fcParameters());
 */
export function jvpVjpProperty(
  cases: fc.Arbitrary<GraphCase>,
  options: JvpPropertyOptions = {},
): fc.IPropertyWithHooks<[GraphCase]> {
  const { everyNode = false, ...rest } = options;
  return fc.property(cases, (c) => {
    const computed = everyNode
      ? c.graph.nodes
          .filter((n) => n.op !== "input" && n.op !== "param" && n.op !== "constant" && n.op !== "fill")
          .map((n) => n.id)
      : [];
    const of = rest.of ?? (computed.length ? computed : undefined);
    const r = checkJvpVjpConsistency(c.graph, { ...rest, of, wrt: c.wrt, feeds: c.feeds, params: c.params });
    if (!r.ok) throw new Error(`${c.program.join("\n")}\n${r.message}`);
  });
}
