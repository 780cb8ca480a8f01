/**
 * The engine shared by the gradient checks: a float64 (or float32) copy of the graph compiled once
 * for its `of` outputs, whose param and input buffers are perturbed in place for finite
 * differences (and restored exactly), plus compiled reverse-mode (one per output, with a
 * cotangent input) and forward-mode graphs for the analytic side.
 * @internal
 * @module
 */
import {
  type CompiledGraph,
  type ConcreteShape,
  castGraph,
  compile,
  type DType,
  type Feed,
  type Feeds,
  type FloatArray,
  type Graph,
  GraphBuilder,
  GraphError,
  isConcrete,
  type NodeId,
  ParamStore,
  type Plan,
  type Rng,
  resolveNode,
  type Shape,
  shapeToString,
  sizeOf,
  Tensor,
  topoOrder,
  type Value,
  withOutputs,
} from "@gradgraph/core";
import { grad, gradName } from "../grad.js";
import type { JvpRules } from "../jvp/types.js";
import { jvp, jvpName } from "../jvp.js";
import { freshName } from "../util.js";
import type { VjpRules } from "../vjp/types.js";

/** A param or input being perturbed. */
export interface Target {
  /** Its name. */
  readonly name: string;
  /** Whether it is a param or an input. */
  readonly kind: "param" | "input";
  /** Its concrete shape. */
  readonly shape: ConcreteShape;
  /** Number of elements. */
  readonly size: number;
  /** The buffer the forward plan reads (null when the outputs do not depend on it). */
  readonly buffer: FloatArray | null;
  /** The unperturbed values (float64 copy). */
  readonly x0: Float64Array;
}

/** The result of a finite difference: one value and one rounding bound per output element. */
export interface Difference {
  /** Per output, the derivative estimate of each element. */
  readonly d: Float64Array[];
  /** Per output, the estimated rounding error of each element of `d`. */
  readonly noise: Float64Array[];
  /** Whether `d` is a Richardson extrapolation. */
  readonly refined: boolean;
}

/** What {@link Probe} needs. */
export interface ProbeConfig {
  /** Function name for error messages. */
  readonly who: string;
  /** `of` reference(s); default the first output. */
  readonly of?: NodeId | string | readonly (NodeId | string)[];
  /** `wrt` names; default every param `of` depends on. */
  readonly wrt?: readonly string[];
  /** Param values (copied). */
  readonly params?: ParamStore;
  /** Seed of missing params. */
  readonly seed?: number;
  /** The dtype the check runs in. */
  readonly dtype: DType;
  /** Relative rounding error of one evaluation. */
  readonly roundoff: number;
  /** VJP overrides. */
  readonly rules?: VjpRules;
}

/** The name a check reports for an `of` reference: the output's, input's or param's name, or `#id`. */
export function refName(graph: Graph, ref: NodeId | string): string {
  if (typeof ref === "string") return ref;
  for (const [name, id] of Object.entries(graph.outputs)) if (id === ref) return name;
  const node = graph.nodes[ref];
  if (node && (node.op === "input" || node.op === "param")) return (node.attrs as { name: string }).name;
  return `#${ref}`;
}

/**
 * Resolves a check's `of` option (default: the graph's first output) to node ids and the names
 * the report gives them; throws a `GraphError` when there is nothing to check.
 */
export function resolveOf(
  who: string,
  graph: Graph,
  of: NodeId | string | readonly (NodeId | string)[] | undefined,
): { ids: NodeId[]; names: string[] } {
  const outputNames = Object.keys(graph.outputs);
  const ofRefs: readonly (NodeId | string)[] =
    of === undefined
      ? outputNames.length
        ? [outputNames[0]!]
        : []
      : Array.isArray(of)
        ? (of as readonly (NodeId | string)[])
        : [of as NodeId | string];
  if (ofRefs.length === 0) throw new GraphError(`${who}: the graph has no outputs; pass options.of`);
  return { ids: ofRefs.map((o) => resolveNode(graph, o)), names: ofRefs.map((o) => refName(graph, o)) };
}

/**
 * A check's `wrt` names: the given ones, each of which must name a param or input of `graph`, or
 * by default every param among `needed` (the nodes the checked outputs depend on).
 */
export function resolveWrt(
  who: string,
  graph: Graph,
  needed: ReadonlySet<NodeId>,
  wrt: readonly string[] | undefined,
): readonly string[] {
  const names = wrt ?? Object.keys(graph.params).filter((p) => needed.has(graph.params[p]!.node));
  for (const w of names) {
    if (!Object.hasOwn(graph.params, w) && !Object.hasOwn(graph.inputs, w)) {
      throw new GraphError(
        `${who}: no param or input named '${w}' (params: ${Object.keys(graph.params).join(", ") || "none"}; inputs: ${
          Object.keys(graph.inputs).join(", ") || "none"
        })`,
      );
    }
  }
  return names;
}

/** Throws a `GraphError` when `cotangents` names an output that is not among `ofNames`. */
export function checkCotangentNames(
  who: string,
  cotangents: Readonly<Record<string, unknown>>,
  ofNames: readonly string[],
): void {
  for (const name of Object.keys(cotangents)) {
    if (!ofNames.includes(name)) {
      throw new GraphError(
        `${who}: cotangent for '${name}', which is not checked (of: ${ofNames.join(", ")})`,
      );
    }
  }
}

/**
 * A check's private params in `dtype`: copies of the `given` values of `graph`'s params, and
 * values initialised with `seed` for the ones missing (as `cast`, `graph` in the dtype, declares them).
 */
export function paramsIn(
  graph: Graph,
  cast: Graph,
  dtype: DType,
  given: ParamStore | undefined,
  seed: number,
): ParamStore {
  const params = new ParamStore();
  for (const name of Object.keys(graph.params)) {
    if (given?.has(name)) params.set(name, given.get(name).astype(dtype));
  }
  params.initMissing(cast, seed);
  return params;
}

/** Converts a feed to a tensor of `dtype` (a private copy). */
export function toTensor(who: string, name: string, feed: Feed, declared: Shape, dtype: DType): Tensor {
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
          `${who}: input '${name}': a bare array cannot fill symbolic shape ${shapeToString(declared)}; feed a Tensor`,
        );
      }
      shape = declared.map((d) => (typeof d === "number" ? d : feed.length / known));
    }
    return new Tensor(shape, feed).astype(dtype);
  }
  throw new GraphError(`${who}: input '${name}': unsupported feed ${String(feed)}`);
}

/** A cotangent or tangent value given by the user, checked against the shape it must have. */
export function userVector(who: string, what: string, feed: Feed, shape: ConcreteShape): Float64Array {
  const t = toTensor(who, what, feed, shape, "float64");
  if (
    t.size !== sizeOf(shape) ||
    (feed instanceof Tensor && shapeToString(t.shape) !== shapeToString(shape))
  ) {
    throw new GraphError(
      `${who}: ${what} has shape ${shapeToString(t.shape)}, expected ${shapeToString(shape)}`,
    );
  }
  return Float64Array.from(t.data);
}

/** Multi-index of a flat row-major index. */
export function multiIndexOf(flat: number, shape: ConcreteShape): number[] {
  const out = new Array<number>(shape.length);
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    out[d] = n === 0 ? 0 : rest % n;
    rest = n === 0 ? 0 : Math.floor(rest / n);
  }
  return out;
}

/**
 * A graph prepared for checking: its `of` outputs compiled once (the forward plan), private
 * copies of params and feeds in the check's dtype, and the buffers of the `wrt` targets.
 */
export class Probe {
  /** The check's dtype. */
  readonly dtype: DType;
  /** The graph cast to the check's dtype. */
  readonly cast: Graph;
  /** The cast graph with only the `of` outputs, named {@link Probe.fNames}. */
  readonly forward: Graph;
  /** Node ids of the `of` entries. */
  readonly ofIds: readonly NodeId[];
  /** Reported names of the `of` entries. */
  readonly ofNames: readonly string[];
  /** Output names of the `of` entries in {@link Probe.forward}. */
  readonly fNames: readonly string[];
  /** Concrete shapes of the `of` entries. */
  readonly ofShapes: readonly ConcreteShape[];
  /** The `wrt` names. */
  readonly wrt: readonly string[];
  /** One target per `wrt` name. */
  readonly targets: readonly Target[];
  /** The private param copies (bound to the compiled graphs). */
  readonly params: ParamStore;
  /** Graph evaluations run so far. */
  evaluations = 0;

  private readonly who: string;
  private readonly roundoff: number;
  private readonly rules: VjpRules | undefined;
  private readonly tensors = new Map<string, Tensor>();
  private readonly fwd: CompiledGraph;
  private readonly plan: Plan;
  private readonly outs: FloatArray[];
  private readonly compiled: CompiledGraph[] = [];
  private readonly vjps = new Map<number, { exe: CompiledGraph; u: string }>();
  private readonly taken = new Set<string>();

  /**
   * Resolves `of` and `wrt`, copies params and feeds into the check's dtype and compiles the
   * forward graph (throws a `GraphError` naming what is wrong with the request).
   */
  constructor(graph: Graph, feeds: Feeds, config: ProbeConfig) {
    const { who } = config;
    this.who = who;
    this.dtype = config.dtype;
    this.roundoff = config.roundoff;
    this.rules = config.rules;
    const of = resolveOf(who, graph, config.of);
    this.ofIds = of.ids;
    this.ofNames = of.names;
    // two names of one node are fine (e.g. two gradients that are the same node); one name twice is not
    this.ofNames.forEach((name, i) => {
      const first = this.ofNames.indexOf(name);
      if (first !== i) {
        throw new GraphError(
          `${who}: '${this.ofNames[i]}' appears twice in 'of' (entries ${first} and ${i})`,
        );
      }
    });

    this.cast = castGraph(graph, this.dtype);
    this.fNames = this.ofIds.map((_, i) => freshName(this.cast, `gradcheck:f${i}`, this.taken));
    this.forward = withOutputs(
      this.cast,
      Object.fromEntries(this.ofIds.map((id, i) => [this.fNames[i]!, id])),
    );
    const needed = new Set(topoOrder(graph, this.ofIds));
    this.wrt = resolveWrt(who, graph, needed, config.wrt);
    if (new Set(this.wrt).size !== this.wrt.length) {
      throw new GraphError(`${who}: 'wrt' names an entry twice (${this.wrt.join(", ")})`);
    }
    for (const name of Object.keys(feeds)) {
      if (!Object.hasOwn(graph.inputs, name)) {
        throw new GraphError(
          `${who}: unknown feed '${name}' (inputs: ${Object.keys(graph.inputs).join(", ") || "none"})`,
        );
      }
    }

    // private copies of params and feeds, in the check's dtype
    this.params = paramsIn(graph, this.cast, this.dtype, config.params, config.seed ?? 0);
    for (const [name, f] of Object.entries(feeds)) {
      this.tensors.set(name, toTensor(who, name, f, graph.nodes[graph.inputs[name]!]!.shape, this.dtype));
    }

    this.fwd = this.track(compile(this.forward, { params: this.params }));
    try {
      const fwdFeeds = this.pick(this.fwd.inputNames);
      this.plan = this.fwd.plan(Object.fromEntries(Object.entries(fwdFeeds).map(([k, t]) => [k, t.shape])));
      this.plan.feed(fwdFeeds);
      this.outs = this.fNames.map((n) => this.plan.outputs[n]!.data);
      this.ofShapes = this.fNames.map((n) => [...this.plan.outputs[n]!.shape]);
      this.targets = this.wrt.map((name) => {
        if (Object.hasOwn(graph.params, name)) {
          const t = this.params.get(name);
          const used = needed.has(graph.params[name]!.node);
          return target(name, "param", t.shape, used ? t.data : null, t.data);
        }
        const fed = this.tensors.get(name);
        if (!fed) throw new GraphError(`${who}: missing feed for input '${name}' (it is in wrt)`);
        const buf = this.plan.inputs[name];
        return target(name, "input", fed.shape, buf ? buf.data : null, fed.data);
      });
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Total number of `wrt` coordinates. */
  get inputSize(): number {
    return this.targets.reduce((s, t) => s + t.size, 0);
  }

  /** Total number of `of` coordinates. */
  get outputSize(): number {
    return this.ofShapes.reduce((s, shape) => s + sizeOf(shape), 0);
  }

  /** The private feed tensors the given inputs need (throws naming a missing one). */
  pick(names: readonly string[], extra: ReadonlyMap<string, Tensor> = new Map()): Record<string, Tensor> {
    const out: [string, Tensor][] = [];
    for (const n of names) {
      const t = extra.get(n) ?? this.tensors.get(n);
      if (!t) {
        const decl = this.cast.nodes[this.cast.inputs[n]!]!;
        throw new GraphError(
          `${this.who}: missing feed for input '${n}' (expected ${decl.dtype} ${shapeToString(decl.shape)})`,
        );
      }
      out.push([n, t]);
    }
    return Object.fromEntries(out) as Record<string, Tensor>;
  }

  /**
   * The reverse pass of output `i` with cotangent `u`: `J_i^T u` for each `wrt` target
   * (float64 copies). Compiles the gradient graph on first use.
   */
  vjp(i: number, u: Float64Array): Float64Array[] {
    let entry = this.vjps.get(i);
    if (!entry) {
      const name = freshName(this.cast, "gradcheck:cotangent", this.taken);
      const g = grad(this.forward, this.fNames[i]!, this.wrt, { seed: name, rules: this.rules });
      // A gradient with a symbolic shape may not reference the input that binds its dims (e.g.
      // broadcastTo(u, x.shape) without x); adding `where(0, x, 0)` (exactly 0) binds them.
      const b = GraphBuilder.extend(g);
      const outputs: Record<string, Value> = {};
      for (const w of this.wrt) {
        let v = b.ref(gradName(w));
        if (Object.hasOwn(g.inputs, w) && !isConcrete(v.shape))
          v = b.add(v, b.where(0, b.ref(g.inputs[w]!), 0));
        outputs[gradName(w)] = v;
      }
      const ids = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.id]));
      const exe = this.track(compile(withOutputs(b.build(), ids), { params: this.params }));
      entry = { exe, u: name };
      this.vjps.set(i, entry);
    }
    const uTensor = new Tensor(this.ofShapes[i]!, this.dtype === "float64" ? u : Float32Array.from(u));
    const out = entry.exe.run(this.pick(entry.exe.inputNames, new Map([[entry.u, uTensor]])));
    this.evaluations++;
    return this.wrt.map((w) => Float64Array.from(out[gradName(w)]!.data));
  }

  /**
   * A forward-mode evaluator: compiles `jvp` of every output with respect to every target (with
   * `rules`) and returns a function computing `J v` per output (float64 copies) for tangents `v`
   * (one per target, null for zero).
   */
  jvpRunner(rules: JvpRules | undefined): (v: readonly (Float64Array | null)[]) => Float64Array[] {
    const tNames = this.wrt.map((_, k) => freshName(this.cast, `gradcheck:tangent:${k}`, this.taken));
    const prefix = freshName(this.cast, "gradcheck:jvp:", this.taken);
    const g = jvp(this.forward, this.fNames, this.wrt, { tangents: tNames, prefix, rules });
    const outputs = this.fNames.map((n) => jvpName(n, prefix));
    const exe = this.track(compile(g, { params: this.params, outputs }));
    const tangents = this.targets.map((t) => Tensor.zeros(t.shape, this.dtype));
    const extra = new Map(tNames.map((n, k) => [n, tangents[k]!] as const));
    return (v) => {
      tangents.forEach((t, k) => {
        const vk = v[k];
        if (vk) t.data.set(vk);
        else t.data.fill(0);
      });
      const out = exe.run(this.pick(exe.inputNames, extra));
      this.evaluations++;
      return outputs.map((o) => Float64Array.from(out[o]!.data));
    };
  }

  /** Runs the forward plan and copies its outputs. */
  private evaluate(): Float64Array[] {
    this.plan.run();
    this.evaluations++;
    return this.outs.map((o) => Float64Array.from(o));
  }

  /** The step of coordinate `e` of target `k`: `eps * max(1, |x|)` when `scaled`, else `eps`. */
  stepOf(k: number, e: number, eps: number, scaled: boolean): number {
    return scaled ? eps * Math.max(1, Math.abs(this.targets[k]!.x0[e]!)) : eps;
  }

  /**
   * Central difference along coordinate `e` of target `k` with step `h`, or with `coarse` its
   * Richardson extrapolation from `coarse` (the difference at `h`) and a new one at `h/2` (two more
   * evaluations). Steps are measured after rounding to the buffer's dtype. Returns zeros without
   * evaluating when the outputs do not depend on the target.
   */
  coordinate(k: number, e: number, h: number, coarse?: Difference): Difference {
    const t = this.targets[k]!;
    const buf = t.buffer;
    if (!buf) return this.zeros();
    const x0 = t.x0[e]!;
    const step = coarse ? h / 2 : h;
    try {
      buf[e] = x0 + step;
      const xp = buf[e]!;
      const fp = this.evaluate();
      buf[e] = x0 - step;
      const xm = buf[e]!;
      const fm = this.evaluate();
      const d = this.central(fp, fm, xp - xm);
      return coarse ? richardson(coarse, d) : d;
    } finally {
      buf[e] = x0;
    }
  }

  /**
   * Central difference along direction `dir` (one array per target, null for no move) with step
   * `h`, `(f(x + h dir) - f(x - h dir)) / 2h`, or with `coarse` (the difference at `h`) its
   * Richardson extrapolation (two more evaluations, at `h/2`).
   */
  direction(dir: readonly (Float64Array | null)[], h: number, coarse?: Difference): Difference {
    if (!this.targets.some((t, k) => t.buffer && dir[k])) return this.zeros();
    const step = coarse ? h / 2 : h;
    const shift = (s: number) => {
      this.targets.forEach((t, k) => {
        const buf = t.buffer;
        const dk = dir[k];
        if (!buf || !dk) return;
        for (let i = 0; i < buf.length; i++) buf[i] = t.x0[i]! + s * dk[i]!;
      });
    };
    try {
      shift(step);
      const fp = this.evaluate();
      shift(-step);
      const fm = this.evaluate();
      const d = this.central(fp, fm, 2 * step);
      return coarse ? richardson(coarse, d) : d;
    } finally {
      this.restore();
    }
  }

  /** Puts every target buffer back to its unperturbed values. */
  restore(): void {
    for (const t of this.targets) t.buffer?.set(t.x0);
  }

  /** Releases the compiled plans' memory. */
  dispose(): void {
    for (const c of this.compiled) c.dispose();
    this.compiled.length = 0;
  }

  private track(c: CompiledGraph): CompiledGraph {
    this.compiled.push(c);
    return c;
  }

  private zeros(): Difference {
    const d = this.ofShapes.map((s) => new Float64Array(sizeOf(s)));
    return { d, noise: this.ofShapes.map((s) => new Float64Array(sizeOf(s))), refined: false };
  }

  private central(fp: Float64Array[], fm: Float64Array[], width: number): Difference {
    const rho = this.roundoff;
    const d = fp.map((p, i) => {
      const m = fm[i]!;
      const out = new Float64Array(p.length);
      for (let j = 0; j < p.length; j++) out[j] = (p[j]! - m[j]!) / width;
      return out;
    });
    const noise = fp.map((p, i) => {
      const m = fm[i]!;
      const out = new Float64Array(p.length);
      for (let j = 0; j < p.length; j++)
        out[j] = (rho * (Math.abs(p[j]!) + Math.abs(m[j]!))) / Math.abs(width);
      return out;
    });
    return { d, noise, refined: false };
  }
}

function target(
  name: string,
  kind: "param" | "input",
  shape: ConcreteShape,
  buffer: FloatArray | null,
  values: FloatArray,
): Target {
  return { name, kind, shape, size: sizeOf(shape), buffer, x0: Float64Array.from(values) };
}

/**
 * Richardson extrapolation of central differences at `h` (`d1`) and `h/2` (`d2`):
 * `(4 d2 - d1) / 3`, whose rounding error is bounded by `(4 noise2 + noise1) / 3`.
 */
function richardson(d1: Difference, d2: Difference): Difference {
  const d = d1.d.map((a, i) => {
    const b = d2.d[i]!;
    const out = new Float64Array(a.length);
    for (let j = 0; j < a.length; j++) out[j] = (4 * b[j]! - a[j]!) / 3;
    return out;
  });
  const noise = d1.noise.map((a, i) => {
    const b = d2.noise[i]!;
    const out = new Float64Array(a.length);
    for (let j = 0; j < a.length; j++) out[j] = (4 * b[j]! + a[j]!) / 3;
    return out;
  });
  return { d, noise, refined: true };
}

/**
 * `n` standard normal values from `rng`.
 * @internal
 */
export function normals(rng: Rng, n: number): Float64Array {
  const out = new Float64Array(n);
  rng.fillNormal(out);
  return out;
}

/**
 * Concrete shapes of `ids`: their declared shapes, or, when some are symbolic, those of a plan
 * built for the feeds' shapes (nothing is run). A missing feed is a GraphError naming `who`.
 */
export function concreteShapes(
  who: string,
  graph: Graph,
  ids: readonly NodeId[],
  feeds: Feeds,
  params: ParamStore,
): ConcreteShape[] {
  const declared = ids.map((id) => graph.nodes[id]!.shape);
  if (declared.every(isConcrete)) return declared as ConcreteShape[];
  const names = ids.map((_, i) => `s${i}`);
  const exe = compile(withOutputs(graph, Object.fromEntries(ids.map((id, i) => [names[i]!, id]))), {
    params,
  });
  try {
    const shapes: Record<string, ConcreteShape> = {};
    for (const n of exe.inputNames) {
      const f = feeds[n];
      if (f === undefined || !Object.hasOwn(feeds, n)) {
        throw new GraphError(`${who}: missing feed for input '${n}'`);
      }
      shapes[n] = toTensor(who, n, f, graph.nodes[graph.inputs[n]!]!.shape, "float64").shape;
    }
    const plan = exe.plan(shapes);
    return names.map((n) => [...plan.outputs[n]!.shape]);
  } finally {
    exe.dispose();
  }
}
