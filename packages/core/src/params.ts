/**
 * Parameter storage: named tensors that compiled plans read in place and optimizers update in place.
 * @module
 */
import { allocKernelArray } from "./backend/memory.js";
import type { Graph } from "./graph.js";
import { initTensor } from "./init.js";
import { Rng } from "./rng.js";
import { shapesEqual, shapeToString } from "./shape.js";
import { Tensor } from "./tensor.js";

/**
 * Named parameter tensors: the weights a graph's `param` nodes read. {@link ParamStore.init} draws
 * every param of a graph from its declared initialiser with a seeded {@link Rng}, so the same seed
 * gives the same values everywhere. Plans bind these buffers by reference when they are compiled, so
 * always update values in place (`set` copies into the existing buffer) rather than replacing them;
 * optimizers do exactly that.
 *
 * @example
 * ```ts
 * import { compile, GraphBuilder, ParamStore, Tensor } from "@gradgraph/core";
 *
 * const g = new GraphBuilder();
 * const x = g.input("x", ["N", 3]);
 * const W = g.param("W", [3, 2], { init: { kind: "normal" } });
 * g.output("y", x.matmul(W));
 * const graph = g.build();
 *
 * const params = ParamStore.init(graph, 42); // seeded
 * params.names(); // ["W"]
 * const exe = compile(graph, { params }); // plans bind params.get("W")'s buffer
 * params.set("W", Tensor.zeros([3, 2])); // copied into that buffer, so the plan sees it
 * exe.run({ x: Tensor.zeros([1, 3]) }).y.toNested(); // [[0, 0]]
 * ```
 */
export class ParamStore {
  private readonly map = new Map<string, Tensor>();

  /** Creates a store holding `entries` (tensors are used as given, not copied). */
  constructor(entries: Iterable<[string, Tensor]> = []) {
    for (const [k, v] of entries) this.map.set(k, v);
  }

  /**
   * Initialises every param of `graph` from its declared initialiser, drawing in declaration order
   * from `rng` (or a new Rng seeded with the number given).
   */
  static init(graph: Graph, rng: Rng | number = 0): ParamStore {
    const store = new ParamStore();
    store.initMissing(graph, rng);
    return store;
  }

  /** Initialises the params of `graph` that this store does not have yet. Returns this store. */
  initMissing(graph: Graph, rng: Rng | number = 0): this {
    const r = typeof rng === "number" ? new Rng(rng) : rng;
    for (const [name, spec] of Object.entries(graph.params)) {
      if (!this.map.has(name)) {
        const t = initTensor(spec.init, spec.shape, spec.dtype, r);
        const data = allocKernelArray(spec.dtype, t.size);
        data.set(t.data);
        this.map.set(name, new Tensor(spec.shape, data as Float64Array));
      }
    }
    return this;
  }

  /** True when a tensor is stored under `name`. */
  has(name: string): boolean {
    return this.map.has(name);
  }

  /** The tensor stored under `name`; throws naming the known params when missing. */
  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) throw new Error(`no param named '${name}' (known: ${[...this.map.keys()].join(", ") || "none"})`);
    return t;
  }

  /**
   * Stores `value` under `name`. When a tensor already exists there, the values are copied into
   * its buffer (shapes must match), so compiled plans see the change.
   */
  set(name: string, value: Tensor): void {
    const cur = this.map.get(name);
    if (!cur) {
      this.map.set(name, value);
      return;
    }
    if (!shapesEqual(cur.shape, value.shape)) {
      throw new Error(
        `param '${name}': shape ${shapeToString(value.shape)} does not match ${shapeToString(cur.shape)}`,
      );
    }
    cur.data.set(value.data);
  }

  /** Parameter names, in insertion order. */
  names(): string[] {
    return [...this.map.keys()];
  }

  /** `[name, tensor]` pairs, in insertion order. */
  entries(): [string, Tensor][] {
    return [...this.map.entries()];
  }

  /** Number of parameters (tensors). */
  get size(): number {
    return this.map.size;
  }

  /** Total number of scalar elements over all tensors. */
  get count(): number {
    let n = 0;
    for (const t of this.map.values()) n += t.size;
    return n;
  }

  /** A deep copy (its buffers live in the kernel arena when available, like {@link ParamStore.init}'s). */
  clone(): ParamStore {
    return new ParamStore(
      [...this.map].map(([k, v]) => {
        const data = allocKernelArray(v.dtype, v.size);
        data.set(v.data);
        return [k, new Tensor(v.shape, data as Float64Array)] as [string, Tensor];
      }),
    );
  }

  /** Copies every value of `other` into this store's buffers (same names and shapes). */
  copyFrom(other: ParamStore): void {
    for (const [k, v] of other.entries()) this.set(k, v);
  }

  /** A plain object view `{name: tensor}`. */
  toRecord(): Record<string, Tensor> {
    return Object.fromEntries(this.map);
  }

  /** Makes a store from `{name: tensor | nested array}` (float64 for arrays unless tensors say otherwise). */
  static from(record: Record<string, Tensor>): ParamStore {
    return new ParamStore(Object.entries(record));
  }
}
