/**
 * The compiler and executor: graph + concrete input shapes -> a {@link Plan}.
 *
 * A plan holds the steps in topological order, a buffer for every value (reused once the value
 * is dead: liveness-based allocation), and preallocated output tensors. Constants and everything
 * computed from constants only are evaluated once when the plan is built. `Plan.run` allocates
 * nothing. {@link CompiledGraph} caches one plan per input-shape signature.
 * @module
 */
import { wasmBackend } from "./backend/memory.js";
import { AllocationError, allocArray, type DType, type FloatArray } from "./dtype.js";
import { describeNode, type Graph, GraphError, type GraphNode, type NodeId, resolveNode } from "./graph.js";
import { nameTable, ownValue } from "./names.js";
import { elementwiseKernel } from "./ops/elementwise.js";
import { opDef } from "./ops/index.js";
import type { ElementwiseSpec, Kernel } from "./ops/types.js";
import type { ParamStore } from "./params.js";
import { type ConcreteShape, type Shape, ShapeError, shapesEqual, shapeToString, sizeOf } from "./shape.js";
import { Tensor } from "./tensor.js";
import { topoOrder } from "./topo.js";

/** A value fed to an input: a tensor, a bare typed array (shape taken from the declaration), or a number for a scalar. */
export type Feed = Tensor | FloatArray | number;

/**
 * Feeds by input name. Only own properties count, so an input named `toString` is missing unless
 * fed; build feeds for names such as `__proto__` with `Object.fromEntries` or a computed key
 * (`{ ["__proto__"]: t }`), since `{ __proto__: t }` sets the object's prototype instead.
 */
export type Feeds = Readonly<Record<string, Feed>>;

/** Options of {@link compile}. */
export interface CompileOptions {
  /** Outputs to compute (default: all outputs of the graph). */
  outputs?: readonly string[];
  /** Parameter buffers, bound by name (required when the outputs depend on params). */
  params?: ParamStore;
  /** After every step, scan its output and throw a {@link NumericsError} at the first NaN or Inf. */
  checkNumerics?: boolean;
  /** Fuse chains of elementwise ops into single generated loops (default true; off under checkNumerics). */
  fuse?: boolean;
}

/** Error raised by the numerics check: names the first node that produced NaN or Inf. */
export class NumericsError extends Error {
  override name = "NumericsError";
  /** The offending node. */
  readonly node: GraphNode;
  /** Index of the first bad element. */
  readonly index: number;
  /** The bad value. */
  readonly value: number;
  /** @internal */
  constructor(node: GraphNode, index: number, value: number, inputs: string) {
    super(`node ${describeNode(node)} produced ${value} at element ${index}${inputs}`);
    this.node = node;
    this.index = index;
    this.value = value;
  }
}

/** Largest number of elementwise nodes fused into one loop. */
const MAX_FUSED = 24;

type FusedTree = { op: string; kids: (FusedTree | number)[] };

/**
 * The expression of a fused elementwise group rooted at `root`: its leaves (the values read from
 * memory), a cache key describing its structure, and the composed expression and function.
 */
function fuseGroup(
  nodes: readonly GraphNode[],
  root: NodeId,
  fusedInto: ReadonlyMap<NodeId, NodeId>,
): { leaves: NodeId[]; key: string; spec: ElementwiseSpec; nodes: number; tree: FusedTree } {
  const leaves: NodeId[] = [];
  const leafIndex = new Map<NodeId, number>();
  let count = 0;
  const build = (id: NodeId): FusedTree => {
    const n = nodes[id]!;
    return {
      op: n.op,
      kids: n.inputs.map((i) => {
        if (fusedInto.get(i) === id) {
          count++;
          return build(i);
        }
        let k = leafIndex.get(i);
        if (k === undefined) {
          k = leaves.length;
          leafIndex.set(i, k);
          leaves.push(i);
        }
        return k;
      }),
    };
  };
  const tree = build(root);
  const spec = (op: string) => opDef(op as "add").elementwise!;
  const text = (t: FusedTree | number, args: readonly string[]): string =>
    typeof t === "number" ? args[t]! : spec(t.op).expr(...t.kids.map((k) => text(k, args)));
  const value = (t: FusedTree | number, args: readonly number[]): number =>
    typeof t === "number" ? args[t]! : spec(t.op).fn(...t.kids.map((k) => value(k, args)));
  return {
    leaves,
    key: `fused:${text(
      tree,
      leaves.map((_, k) => `$${k}`),
    )}`,
    spec: { expr: (...args) => text(tree, args), fn: (...args) => value(tree, args) },
    nodes: count,
    tree,
  };
}

/** Error raised for wrong, missing or unknown feeds. */
export class FeedError extends Error {
  override name = "FeedError";
}

interface Storage {
  size: number;
  dtype: DType;
  array: FloatArray | null;
  /** step index after which the storage is dead (-1: never released) */
  lastUse: number;
  kind: "pool" | "fixed";
  released?: boolean;
}

interface PoolBuffer {
  buf: FloatArray;
}

/** Allocates plan memory: in the WebAssembly arena when available (so SIMD kernels can use it), else on the JS heap. */
class Allocator {
  readonly arena = wasmBackend();
  readonly owned: FloatArray[] = [];
  /** The node being planned, named in allocation errors. */
  node: GraphNode | null = null;
  alloc(dtype: DType, size: number): FloatArray {
    if (!this.arena) return this.named(() => allocArray(dtype, size));
    const a = this.named(() => this.arena!.alloc(dtype, size));
    this.owned.push(a);
    return a;
  }
  /** Runs an allocation, naming the node in its error (a huge `fill` should say which fill). */
  named<T>(allocate: () => T): T {
    try {
      return allocate();
    } catch (e) {
      if (!(e instanceof AllocationError) || e.what || !this.node) throw e;
      throw new AllocationError(e.dtype, e.length, e.reason, `node ${describeNode(this.node)}`);
    }
  }
}

/** Frees the arena memory of plans that were garbage-collected without dispose(). */
const planFinalizer =
  typeof FinalizationRegistry === "undefined"
    ? null
    : new FinalizationRegistry<FloatArray[]>((arrays) => {
        const arena = wasmBackend();
        if (arena) for (const a of arrays) arena.free(a);
      });

class BufferPool {
  private free: Record<DType, PoolBuffer[]> = { float32: [], float64: [] };
  allocated = 0;
  /** Pool buffers (never handed to users), freed when the plan is collected. */
  readonly internal: FloatArray[] = [];
  constructor(private readonly allocator: Allocator) {}
  take(dtype: DType, size: number): PoolBuffer {
    const list = this.free[dtype];
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!.buf.length;
      if (c >= size && (best < 0 || c < list[best]!.buf.length)) best = i;
    }
    if (best >= 0) return list.splice(best, 1)[0]!;
    this.allocated += size;
    const arena = this.allocator.arena;
    const buf = this.allocator.named(() =>
      arena ? arena.alloc(dtype, Math.max(size, 1)) : allocArray(dtype, Math.max(size, 1)),
    );
    if (this.allocator.arena) this.internal.push(buf);
    return { buf };
  }
  give(dtype: DType, b: PoolBuffer): void {
    this.free[dtype].push(b);
  }
}

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
 * An executable plan for one set of input shapes. Buffers are owned by the plan; `run` writes
 * outputs into the same tensors every time (copy them if you need them after the next run).
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
  private steps: (() => void)[];
  private readonly inputNames: string[];
  private readonly owned: FloatArray[];
  private readonly internal: FloatArray[];
  private disposed = false;
  private readonly inputDecl: Record<string, Shape>;

  /** @internal use {@link compile} */
  constructor(
    private readonly graph: Graph,
    inputShapes: Readonly<Record<string, ConcreteShape>>,
    private readonly options: CompileOptions,
  ) {
    const outNames = options.outputs ?? Object.keys(graph.outputs);
    const outIds = outNames.map((n) => {
      if (!Object.hasOwn(graph.outputs, n)) {
        throw new GraphError(
          `no output named '${n}' (outputs: ${Object.keys(graph.outputs).join(", ") || "none"})`,
        );
      }
      return graph.outputs[n]!;
    });
    const order = topoOrder(graph, outIds);
    const nodes = graph.nodes;

    // 1. bind symbolic dims from the input shapes
    const dims = new Map<string, number>();
    const neededInputs = order.filter((id) => nodes[id]!.op === "input");
    this.inputNames = neededInputs.map((id) => (nodes[id]!.attrs as { name: string }).name);
    this.inputDecl = nameTable();
    for (const id of neededInputs) {
      const node = nodes[id]!;
      const name = (node.attrs as { name: string }).name;
      this.inputDecl[name] = node.shape;
      const given = ownValue(inputShapes, name);
      if (!given) {
        throw new FeedError(
          `missing feed for input '${name}' (expected ${node.dtype} ${shapeToString(node.shape)})`,
        );
      }
      bindDims(name, node.shape, given, dims);
    }
    for (const name of Object.keys(inputShapes)) {
      if (!this.inputNames.includes(name)) {
        throw new FeedError(
          `unknown feed '${name}' (inputs used by ${outNames.join(", ")}: ${this.inputNames.join(", ") || "none"})`,
        );
      }
    }
    this.dims = dims;

    // 2. concrete shapes
    const shapes = new Map<NodeId, number[]>();
    for (const id of order) {
      const node = nodes[id]!;
      shapes.set(
        id,
        node.shape.map((d) => {
          if (typeof d === "number") return d;
          const v = dims.get(d);
          if (v === undefined) {
            throw new ShapeError(
              `node ${describeNode(node)}: symbolic dim '${d}' is not bound by any fed input`,
            );
          }
          return v;
        }),
      );
    }

    // 3. constant folding, elementwise fusion, and the last use of every value
    const position = new Map<NodeId, number>();
    for (let i = 0; i < order.length; i++) position.set(order[i]!, i);
    const outSet = new Set(outIds);
    const checkNumerics = options.checkNumerics ?? false;
    const isStatic = new Set<NodeId>();
    const uses = new Map<NodeId, number>();
    const consumer = new Map<NodeId, NodeId>();
    for (const id of order) {
      const n = nodes[id]!;
      const d = opDef(n.op);
      if (
        d.kind === "static" ||
        (d.kind !== "source" && n.inputs.length > 0 && n.inputs.every((i) => isStatic.has(i)))
      ) {
        isStatic.add(id);
      }
      for (const i of n.inputs) {
        uses.set(i, (uses.get(i) ?? 0) + 1);
        consumer.set(i, id);
      }
    }
    // an elementwise node used once, by an elementwise node of the same size, is computed inside
    // its consumer's loop (no buffer, no pass over memory); groups are capped at MAX_FUSED nodes
    const fusedInto = new Map<NodeId, NodeId>();
    const groupSize = new Map<NodeId, number>();
    if (options.fuse !== false && !checkNumerics) {
      for (const id of order) {
        const n = nodes[id]!;
        if (!opDef(n.op).elementwise || isStatic.has(id) || outSet.has(id) || uses.get(id) !== 1) continue;
        const c = consumer.get(id)!;
        if (!opDef(nodes[c]!.op).elementwise || isStatic.has(c)) continue;
        if (sizeOf(shapes.get(id)!) !== sizeOf(shapes.get(c)!)) continue;
        const mine = groupSize.get(id) ?? 1;
        const theirs = groupSize.get(c) ?? 1;
        if (mine + theirs > MAX_FUSED) continue;
        fusedInto.set(id, c);
        groupSize.set(c, mine + theirs);
      }
    }
    const execRoot = (id: NodeId): NodeId => {
      let r = id;
      while (fusedInto.has(r)) r = fusedInto.get(r)!;
      return r;
    };
    const lastUse = new Map<NodeId, number>();
    for (const id of order) {
      const at = position.get(execRoot(id))!;
      for (const i of nodes[id]!.inputs) lastUse.set(i, Math.max(lastUse.get(i) ?? -1, at));
    }

    // 4. storage assignment
    const storageOf = new Map<NodeId, Storage>();
    const arrays = new Map<NodeId, FloatArray>();
    const staticNodes = new Set<NodeId>();
    const inputs = nameTable<Tensor>();
    const params = options.params;
    const allocator = new Allocator();
    const pool = new BufferPool(allocator);
    const copyIns: (() => void)[] = [];
    let unpooled = 0;
    const steps: (() => void)[] = [];
    let fusedCount = 0;

    const concreteOf = (id: NodeId) => shapes.get(id)!;
    const release = (id: NodeId, step: number) => {
      const s = storageOf.get(id)!;
      if (s.kind === "pool" && s.lastUse === step && !s.released) {
        s.released = true;
        pool.give(s.dtype, (s as Storage & { handle: PoolBuffer }).handle);
      }
    };

    for (let step = 0; step < order.length; step++) {
      const id = order[step]!;
      if (fusedInto.has(id)) continue;
      const node = nodes[id]!;
      allocator.node = node;
      const def = opDef(node.op);
      const shape = concreteOf(id);
      const size = sizeOf(shape);
      const pinned = outSet.has(id);
      const last = pinned ? Number.POSITIVE_INFINITY : (lastUse.get(id) ?? step);
      if (def.kind === "source") {
        const name = (node.attrs as { name: string }).name;
        let t: Tensor;
        if (node.op === "input") {
          t = new Tensor(shape, allocator.alloc(node.dtype, size) as Float64Array);
          inputs[name] = t;
        } else {
          if (!params)
            throw new GraphError(
              `node ${describeNode(node)} needs param '${name}' but no ParamStore was given`,
            );
          if (!params.has(name)) {
            throw new GraphError(
              `param '${name}' (node #${id}) is missing from the ParamStore (has: ${params.names().join(", ")})`,
            );
          }
          t = params.get(name);
          if (!shapesEqual(t.shape, shape) || t.dtype !== node.dtype) {
            throw new ShapeError(
              `param '${name}': store holds ${t.dtype} ${shapeToString(t.shape)}, graph declares ${node.dtype} ${shapeToString(shape)}`,
            );
          }
        }
        let data: FloatArray = t.data;
        if (allocator.arena && !allocator.arena.owns(data)) {
          // a param outside the arena: mirror it there, refreshed at the start of every run
          const src = data;
          const mirror = allocator.alloc(node.dtype, size);
          copyIns.push(() => mirror.set(src));
          data = mirror;
        }
        storageOf.set(id, { size, dtype: node.dtype, array: data, lastUse: -1, kind: "fixed" });
        arrays.set(id, data);
        continue;
      }
      const allStatic = isStatic.has(id);
      if (def.kind === "alias" && !allStatic && !pinned) {
        const src = storageOf.get(node.inputs[0]!)!;
        storageOf.set(id, src);
        if (src.kind === "pool") src.lastUse = Math.max(src.lastUse, last);
        arrays.set(id, arrays.get(node.inputs[0]!)!.subarray(0, size));
        continue;
      }
      let kernelInputs: readonly NodeId[] = node.inputs;
      let kernel: Kernel;
      if (groupSize.has(id)) {
        const fused = fuseGroup(nodes, id, fusedInto);
        kernelInputs = fused.leaves;
        kernel = elementwiseKernel(
          fused.key,
          fused.spec,
          { attrs: {}, inShapes: fused.leaves.map(concreteOf), outShape: shape, dtype: node.dtype },
          fused.tree,
        );
        fusedCount += fused.nodes;
      } else {
        kernel = def.kernel!({
          attrs: node.attrs as never,
          inShapes: node.inputs.map(concreteOf),
          outShape: shape,
          dtype: node.dtype,
        });
      }
      let array: FloatArray;
      if (allStatic || pinned) {
        array = allocator.alloc(node.dtype, size);
        storageOf.set(id, { size, dtype: node.dtype, array, lastUse: -1, kind: "fixed" });
      } else {
        const handle = pool.take(node.dtype, size);
        array = handle.buf.subarray(0, size);
        unpooled += size;
        storageOf.set(
          id,
          Object.assign({ size, dtype: node.dtype, array, lastUse: last, kind: "pool" as const }, { handle }),
        );
      }
      arrays.set(id, array);
      const ins = kernelInputs.map((i) => arrays.get(i)!);
      if (allStatic) {
        staticNodes.add(id);
        kernel(ins, array);
      } else if (checkNumerics) {
        const inputsDesc = ` (inputs: ${node.inputs.map((i) => describeNode(nodes[i]!)).join(", ") || "none"})`;
        steps.push(() => {
          kernel(ins, array);
          for (let k = 0; k < array.length; k++) {
            const v = array[k]!;
            if (v - v !== 0) throw new NumericsError(node, k, v, inputsDesc);
          }
        });
      } else {
        steps.push(() => kernel(ins, array));
      }
      // free inputs whose storage dies here (after the output was taken, so no aliasing)
      for (const i of kernelInputs) release(i, step);
    }
    this.steps = copyIns.length ? [...copyIns, ...steps] : steps;
    this.owned = allocator.owned;
    this.internal = pool.internal;
    if (planFinalizer && pool.internal.length) planFinalizer.register(this, pool.internal, this);
    this.inputs = inputs;
    const outputs = nameTable<Tensor>();
    outNames.forEach((n, k) => {
      const id = outIds[k]!;
      outputs[n] = new Tensor(concreteOf(id), arrays.get(id)! as Float64Array);
    });
    this.outputs = outputs;
    this.stats = {
      steps: steps.length,
      folded: staticNodes.size,
      fused: fusedCount,
      pooledElements: pool.allocated,
      unpooledElements: unpooled,
    };
  }

  /**
   * Runs the plan. Feeds are copied into the plan's input buffers (skipped when a feed already is
   * that buffer). Returns the output tensors (the same objects every run). Allocates nothing.
   */
  run(feeds?: Feeds): Readonly<Record<string, Tensor>> {
    if (this.disposed) throw new Error("this plan was disposed");
    if (feeds) this.feed(feeds);
    const steps = this.steps;
    for (let i = 0; i < steps.length; i++) steps[i]!();
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
    const arena = wasmBackend();
    if (planFinalizer) planFinalizer.unregister(this);
    if (arena) {
      for (const a of this.owned) arena.free(a);
      for (const a of this.internal) arena.free(a);
    }
  }

  /** Validates `feeds` and copies them into the input buffers. */
  feed(feeds: Feeds): void {
    let known = 0;
    for (let k = 0; k < this.inputNames.length; k++) {
      const name = this.inputNames[k]!;
      const f = ownValue(feeds, name);
      const dst = this.inputs[name]!;
      if (f === undefined) {
        throw new FeedError(
          `missing feed for input '${name}' (expected ${dst.dtype} ${shapeToString(dst.shape)})`,
        );
      }
      known++;
      if (typeof f === "number") {
        if (dst.size !== 1)
          throw new FeedError(
            `input '${name}': a number was fed but the input has shape ${shapeToString(dst.shape)}`,
          );
        dst.data[0] = f;
      } else if (f instanceof Tensor) {
        if (f.dtype !== dst.dtype)
          throw new FeedError(`input '${name}': fed ${f.dtype}, expected ${dst.dtype}`);
        if (!shapesEqual(f.shape, dst.shape)) {
          throw new FeedError(
            `input '${name}': fed shape ${shapeToString(f.shape)}, this plan was compiled for ${shapeToString(dst.shape)} (declared ${shapeToString(this.inputDecl[name]!)})`,
          );
        }
        if (f.data !== dst.data) dst.data.set(f.data);
      } else if (ArrayBuffer.isView(f)) {
        if ((f instanceof Float32Array ? "float32" : "float64") !== dst.dtype) {
          throw new FeedError(`input '${name}': fed a ${f.constructor.name}, expected ${dst.dtype}`);
        }
        if (f.length !== dst.size)
          throw new FeedError(`input '${name}': fed ${f.length} elements, expected ${dst.size}`);
        if (f !== dst.data) dst.data.set(f);
      } else {
        throw new FeedError(`input '${name}': unsupported feed ${String(f)}`);
      }
    }
    let given = 0;
    for (const _ in feeds) given++;
    if (given !== known) {
      for (const name in feeds) {
        if (!Object.hasOwn(this.inputs, name)) {
          throw new FeedError(`unknown feed '${name}' (inputs: ${this.inputNames.join(", ") || "none"})`);
        }
      }
    }
  }

  /** The graph this plan runs. */
  get source(): Graph {
    return this.graph;
  }

  /** Whether the numerics check is on. */
  get checksNumerics(): boolean {
    return this.options.checkNumerics ?? false;
  }
}

function bindDims(name: string, declared: Shape, given: ConcreteShape, dims: Map<string, number>): void {
  const bad = (why: string) =>
    new FeedError(
      `input '${name}': fed shape ${shapeToString(given)} does not match declared ${shapeToString(declared)}: ${why}`,
    );
  if (declared.length !== given.length) throw bad(`rank ${given.length}, expected ${declared.length}`);
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i]!;
    const g = given[i]!;
    if (!Number.isInteger(g) || g < 0) throw bad(`dim ${i} is ${g}`);
    if (typeof d === "number") {
      if (d !== g) throw bad(`dim ${i} is ${g}, expected ${d}`);
    } else {
      const prev = dims.get(d);
      if (prev === undefined) dims.set(d, g);
      else if (prev !== g) throw bad(`dim ${i} ('${d}') is ${g} but '${d}' is ${prev} elsewhere`);
    }
  }
}

function feedShape(name: string, f: Feed, declared: Shape): ConcreteShape {
  if (typeof f === "number") {
    if (declared.some((d) => d !== 1 && typeof d === "number")) {
      throw new FeedError(
        `input '${name}': a number was fed but the input has shape ${shapeToString(declared)}`,
      );
    }
    return declared.map(() => 1);
  }
  if (f instanceof Tensor) return f.shape;
  if (ArrayBuffer.isView(f)) {
    if (declared.every((d) => typeof d === "number")) return declared as ConcreteShape;
    const known = declared.reduce<number>((p, d) => (typeof d === "number" ? p * d : p), 1);
    const syms = declared.filter((d) => typeof d === "string");
    if (syms.length === 1 && known > 0 && f.length % known === 0) {
      return declared.map((d) => (typeof d === "number" ? d : f.length / known));
    }
    throw new FeedError(
      `input '${name}': a bare array cannot fill symbolic shape ${shapeToString(declared)}; feed a Tensor`,
    );
  }
  throw new FeedError(`input '${name}': unsupported feed ${String(f)}`);
}

/**
 * A graph ready to run: it compiles and caches one {@link Plan} per input-shape signature.
 */
export class CompiledGraph {
  private readonly cache = new Map<string, Plan>();
  private last: Plan | null = null;
  private readonly inputDecl: Record<string, Shape>;
  /** The keys of `inputDecl`, for allocation-free loops (a prototype-less object is a dictionary in V8). */
  private readonly declNames: readonly string[];

  /** @internal use {@link compile} */
  constructor(
    /** The graph being run. */
    readonly graph: Graph,
    /** Compile options shared by all plans. */
    readonly options: CompileOptions = {},
  ) {
    const outs = options.outputs ?? Object.keys(graph.outputs);
    if (outs.length === 0) throw new GraphError("the graph has no outputs to compute");
    const roots = outs.map((o) => {
      if (!Object.hasOwn(graph.outputs, o)) {
        throw new GraphError(
          `no output named '${o}' (outputs: ${Object.keys(graph.outputs).join(", ") || "none"})`,
        );
      }
      return graph.outputs[o]!;
    });
    this.inputDecl = nameTable();
    for (const id of topoOrder(graph, roots)) {
      const n = graph.nodes[id]!;
      if (n.op === "input") this.inputDecl[(n.attrs as { name: string }).name] = n.shape;
    }
    this.declNames = Object.keys(this.inputDecl);
  }

  /** Names of the inputs the selected outputs need. */
  get inputNames(): string[] {
    return Object.keys(this.inputDecl);
  }

  /** The plan for these concrete input shapes (compiled on first use, then cached). */
  plan(shapes: Readonly<Record<string, ConcreteShape>>): Plan {
    const key = Object.keys(this.inputDecl)
      .map((n) => `${n}:${ownValue(shapes, n)?.join("x") ?? "?"}`)
      .join(";");
    let p = this.cache.get(key);
    if (!p) {
      p = new Plan(this.graph, shapes, this.options);
      this.cache.set(key, p);
    }
    return p;
  }

  /** Disposes every cached plan (see {@link Plan.dispose}); the graph can still be run afterwards. */
  dispose(): void {
    for (const p of this.cache.values()) p.dispose();
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
    const last = this.last;
    if (last && this.matches(last, feeds)) return last.run(feeds);
    const shapes = nameTable<ConcreteShape>();
    for (const name of Object.keys(this.inputDecl)) {
      const f = ownValue(feeds, name);
      if (f === undefined) {
        throw new FeedError(
          `missing feed for input '${name}' (declared ${shapeToString(this.inputDecl[name]!)})`,
        );
      }
      shapes[name] = feedShape(name, f, this.inputDecl[name]!);
    }
    for (const name of Object.keys(feeds)) {
      if (!Object.hasOwn(this.inputDecl, name)) {
        throw new FeedError(
          `unknown feed '${name}' (inputs: ${Object.keys(this.inputDecl).join(", ") || "none"})`,
        );
      }
    }
    const p = this.plan(shapes);
    this.last = p;
    return p.run(feeds);
  }

  private matches(p: Plan, feeds: Feeds): boolean {
    const names = this.declNames;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const f = ownValue(feeds, name);
      const t = p.inputs[name]!;
      if (f === undefined) return false;
      if (f instanceof Tensor) {
        if (!shapesEqual(f.shape, t.shape)) return false;
      } else if (typeof f === "number") {
        if (t.size !== 1) return false;
      } else if (f.length !== t.size) return false;
    }
    return true;
  }
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
