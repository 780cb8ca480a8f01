/**
 * The compiler and executor: graph + concrete input shapes -> a {@link Plan}.
 *
 * Compiling is a list of small passes over an explicit plan form (`compile/pipeline.ts` lists
 * them in order: select, bind dims, concretise shapes, fold constants, fuse, schedule + liveness,
 * allocate, lower). A plan holds the steps in topological order, a buffer for every value (reused
 * once the value is dead), and preallocated output tensors. Constants and everything computed from
 * constants only are evaluated once when the plan is built. `Plan.run` allocates nothing.
 * {@link CompiledGraph} caches one plan per input-shape signature. `printPlan` shows a plan.
 * @module
 */
import { wasmBackend } from "./backend/memory.js";
import { FeedError, NumericsError } from "./compile/errors.js";
import {
  checkFeedsObject,
  type Feeds,
  type FeedTargets,
  feedFits,
  feedShape,
  unknownFeed,
  writeFeeds,
} from "./compile/feeds.js";
import type { CompileOptions, LoweredForm } from "./compile/form.js";
import { compilePlanForm } from "./compile/pipeline.js";
import { resolveOutputs } from "./compile/select.js";
import type { FloatArray } from "./dtype.js";
import { describeNode, type Graph, GraphError, type GraphNode, type NodeId, resolveNode } from "./graph.js";
import { nameTable, ownValue } from "./names.js";
import { type ConcreteShape, type Shape, shapeToString } from "./shape.js";
import { Tensor } from "./tensor.js";
import { topoOrder } from "./topo.js";

export { FeedError, NumericsError } from "./compile/errors.js";
export type { Feed, Feeds } from "./compile/feeds.js";
export type { CompileOptions } from "./compile/form.js";

/** Frees the arena memory of plans that were garbage-collected without dispose(). */
const planFinalizer =
  typeof FinalizationRegistry === "undefined"
    ? null
    : new FinalizationRegistry<FloatArray[]>((arrays) => {
        const arena = wasmBackend();
        if (arena) for (const a of arrays) arena.free(a);
      });

/** Statistics about a plan's memory and steps. */
export interface PlanStats {
  /** Kernel steps run per call. */
  readonly steps: number;
  /** Nodes evaluated once at build time (constants and what depends only on them). */
  readonly folded: number;
  /** Elementwise nodes computed inside a consumer's fused loop (no buffer, no step of their own). */
  readonly fused: number;
  /** Elements in pooled intermediate buffers. */
  readonly pooledElements: number;
  /** Elements the intermediates would need without reuse. */
  readonly unpooledElements: number;
}

/**
 * An executable plan for one set of input shapes, made by {@link CompiledGraph.plan} (or implicitly by
 * {@link CompiledGraph.run}). Every symbolic dimension is bound, constants are folded, elementwise
 * chains fused and buffers assigned by liveness, so `run` allocates nothing. Buffers are owned by the
 * plan: `inputs` can be filled in place (no feed copy), and `run` writes outputs into the same
 * tensors every time (copy them if you need them after the next run). `stats` reports the memory
 * plan; `dispose` releases its WebAssembly memory.
 *
 * @example
 * ```ts
 * import { compile, GraphBuilder } from "@gradgraph/core";
 *
 * const g = new GraphBuilder();
 * const x = g.input("x", ["N", 2]);
 * g.output("s", x.sum(1));
 * const plan = compile(g.build()).plan({ x: [2, 2] }); // the plan for N = 2
 * plan.inputs.x.data.set([1, 2, 3, 4]); // fill the input buffer in place
 * plan.run();
 * plan.outputs.s.toNested(); // [3, 7]
 * ```
 */
export class Plan {
  /** Input tensors owned by the plan (a prototype-less object); fill them directly to avoid a copy, then call `run()`. */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Output tensors (a prototype-less object), overwritten by each run. */
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** Values of the symbolic dims for this plan. */
  readonly dims: ReadonlyMap<string, number>;
  /** Memory and step statistics. */
  readonly stats: PlanStats;
  private steps: readonly (() => void)[];
  private readonly inputNames: readonly string[];
  private readonly owned: FloatArray[];
  private readonly internal: FloatArray[];
  private disposed = false;
  /** Removes this plan from its {@link CompiledGraph}'s cache (set by the graph). */
  private detach: (() => void) | null = null;
  private readonly inputDecl: Readonly<Record<string, Shape>>;
  private readonly form: LoweredForm;
  /** Made once: `run` must not allocate. */
  private readonly feedTargets: FeedTargets;

  /** @internal use {@link compile} */
  constructor(
    private readonly graph: Graph,
    inputShapes: Readonly<Record<string, ConcreteShape>>,
    private readonly options: CompileOptions,
    order?: readonly NodeId[],
  ) {
    const form = compilePlanForm(graph, inputShapes, options, order);
    this.form = form;
    this.inputNames = form.inputNames;
    this.inputDecl = form.inputDecl;
    this.dims = form.dims;
    this.steps = form.run;
    this.owned = form.owned;
    this.internal = form.internal;
    if (planFinalizer && form.internal.length) planFinalizer.register(this, form.internal, this);
    this.inputs = form.inputs;
    this.outputs = form.outputs;
    this.feedTargets = {
      names: form.inputNames,
      inputs: form.inputs,
      declared: form.inputDecl,
      graphInputs: graph.inputs,
    };
    this.stats = {
      steps: form.kernelSteps,
      folded: form.foldedCount,
      fused: form.fusedCount,
      pooledElements: form.pooledElements,
      unpooledElements: form.unpooledElements,
    };
  }

  /**
   * Runs the plan. Feeds are copied into the plan's input buffers (skipped when a feed already is
   * that buffer). Returns the output tensors (the same objects every run). Allocates nothing.
   */
  run(feeds?: Feeds): Readonly<Record<string, Tensor>> {
    if (this.disposed) throw new Error("this plan was disposed");
    if (feeds !== undefined) this.feed(feeds);
    const steps = this.steps;
    let i = 0;
    try {
      for (; i < steps.length; i++) steps[i]!();
    } catch (e) {
      throw namedRunError(e, this.form.runNodes[i] ?? null);
    }
    return this.outputs;
  }

  /**
   * Releases the plan's WebAssembly memory (inputs, outputs and intermediates). The plan and the
   * tensors it handed out must not be used afterwards. Plans that are simply dropped release their
   * intermediates when garbage-collected, but their input and output buffers only here.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.steps = [];
    this.detach?.();
    this.detach = null;
    const arena = wasmBackend();
    if (planFinalizer) planFinalizer.unregister(this);
    if (arena) {
      for (const a of this.owned) arena.free(a);
      for (const a of this.internal) arena.free(a);
    }
  }

  /** Validates `feeds` and copies them into the input buffers. */
  feed(feeds: Feeds): void {
    writeFeeds(feeds, this.feedTargets);
  }

  /** The graph this plan runs. */
  get source(): Graph {
    return this.graph;
  }

  /** Whether the numerics check is on. */
  get checksNumerics(): boolean {
    return this.options.checkNumerics ?? false;
  }

  /** Called once when the plan is disposed (its compiled graph forgets it). @internal */
  onDispose(fn: () => void): void {
    this.detach = fn;
  }

  /** The plan form every pass contributed to (read by `printPlan`). @internal */
  get planForm(): LoweredForm {
    return this.form;
  }
}

/**
 * A kernel's run-time error (e.g. an out-of-range gather index) with the failing node named in
 * front of its message; NumericsError already names its node.
 */
function namedRunError(e: unknown, node: GraphNode | null): unknown {
  if (!node || !(e instanceof Error) || e instanceof NumericsError) return e;
  e.message = `${describeNode(node)}: ${e.message}`;
  return e;
}

/**
 * A graph ready to run, returned by {@link compile}. It compiles one {@link Plan} per input-shape
 * signature on first use and caches it, so a graph with a symbolic batch dimension serves every
 * batch size; `run` checks the feeds (a missing, unknown or misshaped feed is a {@link FeedError}),
 * reuses the last plan when the shapes match, and returns the outputs by name. Keep one
 * `CompiledGraph` and run it many times; `dispose` releases every cached plan.
 *
 * @example
 * ```ts
 * import { compile, GraphBuilder, Tensor } from "@gradgraph/core";
 *
 * const g = new GraphBuilder();
 * const x = g.input("x", ["N", 2]);
 * g.output("y", x.square().sum(1));
 * const exe = compile(g.build());
 * exe.run({ x: Tensor.from([[1, 2]], { dtype: "float32" }) }).y.toNested(); // [5]
 * exe.run({ x: Tensor.zeros([8, 2]) }); // compiles a second plan, for N = 8
 * exe.cachedPlans; // 2
 * ```
 */
export class CompiledGraph {
  private readonly cache = new Map<string, Plan>();
  private last: Plan | null = null;
  private readonly inputDecl: Record<string, Shape>;
  /** The keys of `inputDecl`, for allocation-free loops (a prototype-less object is a dictionary in V8). */
  private readonly declNames: readonly string[];
  /** The needed nodes in topological order, shared by every plan (a DFS over a 1M-node graph is not free). */
  private readonly order: readonly NodeId[];
  /** Unused inputs that bind a symbolic dim no needed input binds (see {@link dimSources}). */
  private readonly dimSources: readonly string[];
  /** The dim sources' shapes of the last plan run. */
  private lastSourceKey = "";

  /** @internal use {@link compile} */
  constructor(
    /** The graph being run. */
    readonly graph: Graph,
    /** Compile options shared by all plans. */
    readonly options: CompileOptions = {},
  ) {
    const outs = options.outputs ?? Object.keys(graph.outputs);
    if (outs.length === 0) throw new GraphError("the graph has no outputs to compute");
    const roots = resolveOutputs(graph, outs);
    this.inputDecl = nameTable();
    const order = topoOrder(graph, roots);
    this.order = order;
    for (let p = 0; p < order.length; p++) {
      const n = graph.nodes[order[p]!]!;
      if (n.op === "input") this.inputDecl[(n.attrs as { name: string }).name] = n.shape;
    }
    this.declNames = Object.keys(this.inputDecl);
    this.dimSources = dimSources(graph, order, this.inputDecl);
  }

  /** Names of the inputs the selected outputs need. */
  get inputNames(): string[] {
    return Object.keys(this.inputDecl);
  }

  /** The plan for these concrete input shapes (compiled on first use, then cached). */
  plan(shapes: Readonly<Record<string, ConcreteShape>>): Plan {
    // checked here too, so a cached plan does not hide a name the graph lacks
    for (const name of Object.keys(shapes)) {
      if (!Object.hasOwn(this.graph.inputs, name)) throw unknownFeed(name, this.graph.inputs);
    }
    const key = [...Object.keys(this.inputDecl), ...this.dimSources]
      .map((n) => `${n}:${ownValue(shapes, n)?.join("x") ?? "?"}`)
      .join(";");
    let p = this.cache.get(key);
    if (!p) {
      const made = new Plan(this.graph, shapes, this.options, this.order);
      // a plan disposed on its own is forgotten: asking for its shapes again compiles a new one
      made.onDispose(() => {
        if (this.cache.get(key) === made) this.cache.delete(key);
        if (this.last === made) this.last = null;
      });
      this.cache.set(key, made);
      p = made;
    }
    return p;
  }

  /** Disposes every cached plan (see {@link Plan.dispose}); the graph can still be run afterwards. */
  dispose(): void {
    for (const p of [...this.cache.values()]) p.dispose();
    this.cache.clear();
    this.last = null;
  }

  /** Number of cached plans. */
  get cachedPlans(): number {
    return this.cache.size;
  }

  /**
   * Runs with `feeds`, reusing the last plan when the feed shapes match it (no allocation then),
   * otherwise looking up or compiling the plan for the new shapes.
   */
  run(feeds: Feeds = {}): Readonly<Record<string, Tensor>> {
    checkFeedsObject(feeds);
    const last = this.last;
    if (last && this.matches(last, feeds)) return last.run(feeds);
    const shapes = nameTable<ConcreteShape>();
    for (const name of Object.keys(this.inputDecl)) {
      if (!Object.hasOwn(feeds, name)) {
        throw new FeedError(
          `missing feed for input '${name}' (declared ${shapeToString(this.inputDecl[name]!)})`,
        );
      }
      shapes[name] = feedShape(name, feeds[name]!, this.inputDecl[name]!);
    }
    // feeds for declared inputs these outputs do not use are ignored, except to bind free dims
    for (const name of Object.keys(feeds)) {
      if (!Object.hasOwn(this.graph.inputs, name)) throw unknownFeed(name, this.graph.inputs);
    }
    for (const name of this.dimSources) {
      const f = ownValue(feeds, name);
      if (f !== undefined)
        shapes[name] = feedShape(name, f, this.graph.nodes[this.graph.inputs[name]!]!.shape);
    }
    const p = this.plan(shapes);
    this.last = p;
    this.lastSourceKey = this.sourceKey(feeds);
    return p.run(feeds);
  }

  /** The dim sources' fed shapes as a string ("" without dim sources, the common case: no allocation). */
  private sourceKey(feeds: Feeds): string {
    if (this.dimSources.length === 0) return "";
    return this.dimSources
      .map((n) => {
        const f = ownValue(feeds, n);
        return f === undefined
          ? "?"
          : feedShape(n, f, this.graph.nodes[this.graph.inputs[n]!]!.shape).join("x");
      })
      .join(";");
  }

  /** Whether every needed feed fits `p`'s input buffers as they are; allocates nothing. */
  private matches(p: Plan, feeds: Feeds): boolean {
    const names = this.declNames;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      if (!feedFits(p.inputs[name]!, ownValue(feeds, name))) return false;
    }
    return this.dimSources.length === 0 || this.sourceKey(feeds) === this.lastSourceKey;
  }
}

/**
 * The inputs the selected outputs do not read but whose declared shapes name a symbolic dim that
 * the needed nodes use and no needed input binds (e.g. `x` for the gradient of `sum(x)`, which
 * is `broadcastTo(1, [N, 3])`). Their feeds, when given, bind those dims.
 */
function dimSources(graph: Graph, order: readonly NodeId[], used: Record<string, Shape>): string[] {
  const bound = new Set<string>();
  for (const name of Object.keys(used)) for (const d of used[name]!) if (typeof d === "string") bound.add(d);
  const free = new Set<string>();
  for (let p = 0; p < order.length; p++)
    for (const d of graph.nodes[order[p]!]!.shape) if (typeof d === "string" && !bound.has(d)) free.add(d);
  if (free.size === 0) return [];
  return Object.keys(graph.inputs).filter(
    (name) =>
      !Object.hasOwn(used, name) &&
      graph.nodes[graph.inputs[name]!]!.shape.some((d) => typeof d === "string" && free.has(d)),
  );
}

/**
 * Compiles `graph` for execution. Plans are built lazily per input-shape signature.
 * @example
 * const exe = compile(graph, { params });
 * const { loss } = exe.run({ x, y });
 */
export function compile(graph: Graph, options: CompileOptions = {}): CompiledGraph {
  return new CompiledGraph(graph, options);
}

/**
 * Evaluates one output of `graph` once (compiles, runs, and returns copies of the outputs).
 * Convenient for tests and small scalar graphs; use {@link compile} in loops.
 */
export function evaluate(
  graph: Graph,
  feeds: Feeds = {},
  options: CompileOptions = {},
): Record<string, Tensor> {
  const exe = compile(graph, options);
  try {
    const out = exe.run(feeds);
    return Object.fromEntries(
      Object.entries(out).map(([k, v]) => [k, Tensor.from(v.data, { shape: v.shape, dtype: v.dtype })]),
    );
  } finally {
    exe.dispose();
  }
}

/** Resolves a node reference (id or name) and returns the node; re-exported convenience. */
export function nodeByRef(graph: Graph, ref: NodeId | string): GraphNode {
  return graph.nodes[resolveNode(graph, ref)]!;
}
