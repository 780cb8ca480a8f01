/**
 * Pass 7, allocate: a buffer for every value, walking the schedule.
 *
 * - inputs get a buffer of their own (the plan's input tensors);
 * - params are bound by name to the ParamStore's buffers, in place (optimizers update them), or
 *   mirrored into the WebAssembly arena when they live outside it;
 * - an alias (reshape, stopGradient) is a view of its input's storage and extends its life;
 * - outputs and folded values get buffers of their own, never reused;
 * - every other value takes a buffer from the liveness pool, which gets it back after the value's
 *   last reader (after that reader's output was taken, so a kernel's output never aliases its inputs).
 *
 * Memory lives in the WebAssembly arena when there is one (so SIMD kernels and worker threads can
 * use it), else on the JS heap. An allocation that fails is an AllocationError naming the node.
 * @module
 */
import { wasmBackend } from "../backend/memory.js";
import { AllocationError, allocArray, type DType, type FloatArray } from "../dtype.js";
import { describeNode, GraphError, type GraphNode, type NodeId } from "../graph.js";
import { nameTable } from "../names.js";
import { ShapeError, shapesEqual, shapeToString } from "../shape.js";
import { Tensor } from "../tensor.js";
import type { AllocatedForm, BufferKind, PlanBuffer, ScheduledForm } from "./form.js";
import { BufferPool, type PoolSlot } from "./pool.js";

/** Allocates plan memory: in the WebAssembly arena when available, else on the JS heap. */
export class Allocator {
  /** The arena, or null (pure JS). */
  readonly arena = wasmBackend();
  /** Arena arrays handed to the plan's inputs, outputs, folded values and mirrors. */
  readonly owned: FloatArray[] = [];
  /** Arena arrays of the pool. */
  readonly internal: FloatArray[] = [];
  /** The node being planned, named in allocation errors. */
  node: GraphNode | null = null;

  /** A zeroed array of `size` elements that the plan owns. */
  alloc(dtype: DType, size: number): FloatArray {
    const a = this.raw(dtype, size);
    if (this.arena) this.owned.push(a);
    return a;
  }

  /** A zeroed array for the pool. */
  pooled(dtype: DType, size: number): FloatArray {
    const a = this.raw(dtype, size);
    if (this.arena) this.internal.push(a);
    return a;
  }

  private raw(dtype: DType, size: number): FloatArray {
    const arena = this.arena;
    try {
      return arena ? arena.alloc(dtype, size) : allocArray(dtype, size);
    } catch (e) {
      // name the node: a huge `fill` should say which fill
      if (!(e instanceof AllocationError) || e.what || !this.node) throw e;
      throw new AllocationError(e.dtype, e.length, e.reason, `node ${describeNode(this.node)}`);
    }
  }

  /** Returns everything allocated so far to the arena (a plan that failed to build). */
  release(): void {
    if (!this.arena) return;
    for (const a of this.owned) this.arena.free(a);
    for (const a of this.internal) this.arena.free(a);
    this.owned.length = 0;
    this.internal.length = 0;
  }
}

/** A value's storage: shared by a value and its aliases, released once after its last reader. */
interface Storage {
  /** The pool buffer, or null for storage that is never reused. */
  readonly slot: PoolSlot | null;
  /** Index of the last step reading any value stored here. */
  last: number;
  released: boolean;
}

/** Assigns buffers along the schedule; frees what it allocated if it throws. */
export function allocateBuffers(form: ScheduledForm, allocator = new Allocator()): AllocatedForm {
  try {
    return assign(form, allocator);
  } catch (e) {
    allocator.release();
    throw e;
  }
}

function assign(form: ScheduledForm, allocator: Allocator): AllocatedForm {
  const { graph, steps, shapes, sizes, outNames, outIds } = form;
  const nodes = graph.nodes;
  const store = form.options.params;
  const buffers: PlanBuffer[] = [];
  const bufferOf = new Int32Array(nodes.length).fill(-1);
  const arrays: FloatArray[] = new Array(nodes.length);
  const storage: Storage[] = new Array(nodes.length);
  const inputs = nameTable<Tensor>();
  const mirrors: { src: FloatArray; dst: FloatArray }[] = [];
  const fixed: Storage = { slot: null, last: -1, released: false };
  const newBuffer = (kind: BufferKind, dtype: DType, elements: number): number => {
    buffers.push({ id: buffers.length, kind, dtype, elements });
    return buffers.length - 1;
  };
  // every size the pool will be asked for, so it can index them up front
  const requests: Record<DType, number[]> = { float32: [], float64: [] };
  for (let k = 0; k < steps.length; k++) {
    const s = steps[k]!;
    if (s.kind === "kernel" && !s.output) requests[nodes[s.node]!.dtype].push(sizes[s.node]!);
  }
  const pool = new BufferPool(requests, (dtype, capacity) => {
    const buf = allocator.pooled(dtype, capacity);
    buffers.push({ id: buffers.length, kind: "pool", dtype, elements: capacity });
    return { buf, id: buffers.length - 1 };
  });
  let unpooled = 0;

  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    const id = step.node;
    const node = nodes[id]!;
    allocator.node = node;
    const shape = shapes[id]!;
    const size = sizes[id]!;
    const dtype = node.dtype;
    if (step.kind === "input" || step.kind === "param") {
      const name = (node.attrs as { name: string }).name;
      let data: FloatArray;
      let kind: BufferKind = step.kind;
      if (step.kind === "input") {
        data = allocator.alloc(dtype, size);
        inputs[name] = new Tensor(shape, data as Float64Array);
      } else {
        const t = boundParam(store, node, name, shape);
        data = t.data;
        if (allocator.arena && !allocator.arena.owns(data)) {
          // a param outside the arena: mirror it there, refreshed at the start of every run
          const mirror = allocator.alloc(dtype, size);
          mirrors.push({ src: data, dst: mirror });
          data = mirror;
          kind = "mirror";
        }
      }
      storage[id] = fixed;
      arrays[id] = data;
      bufferOf[id] = newBuffer(kind, dtype, size);
      continue;
    }
    if (step.kind === "alias") {
      const src = step.reads[0]!;
      const s = storage[src]!;
      storage[id] = s;
      if (s.slot && step.last > s.last) s.last = step.last;
      arrays[id] = arrays[src]!.subarray(0, size);
      bufferOf[id] = bufferOf[src]!;
      continue;
    }
    if (step.kind === "folded" || step.output) {
      arrays[id] = allocator.alloc(dtype, size);
      storage[id] = fixed;
      bufferOf[id] = newBuffer(step.kind === "folded" ? "folded" : "output", dtype, size);
    } else {
      const slot = pool.take(dtype, size);
      arrays[id] = slot.buf.length === size ? slot.buf : slot.buf.subarray(0, size);
      unpooled += size;
      storage[id] = { slot, last: step.last, released: false };
      bufferOf[id] = slot.id;
    }
    // free inputs whose storage dies here (after the output was taken, so no aliasing)
    const reads = step.reads;
    for (let r = 0; r < reads.length; r++) {
      const s = storage[reads[r]!]!;
      if (s.slot && s.last === step.index && !s.released) {
        s.released = true;
        pool.give(s.slot);
      }
    }
  }
  const outputs = nameTable<Tensor>();
  outNames.forEach((n, k) => {
    const id = outIds[k]!;
    outputs[n] = new Tensor(shapes[id]!, arrays[id]! as Float64Array);
  });
  return {
    ...form,
    buffers,
    bufferOf,
    arrays,
    inputs,
    outputs,
    mirrors,
    owned: allocator.owned,
    internal: allocator.internal,
    pooledElements: pool.allocated,
    unpooledElements: unpooled,
  };
}

/**
 * The values each buffer holds, in the order they were assigned (aliases included): the schedule
 * order, since `allocate` assigns one value per step. Shows the reuse by liveness.
 */
export function valuesByBuffer(form: AllocatedForm): NodeId[][] {
  const values: NodeId[][] = form.buffers.map(() => []);
  for (const s of form.steps) {
    const b = form.bufferOf[s.node]!;
    if (b >= 0) values[b]!.push(s.node);
  }
  return values;
}

/** The store's tensor for a param node, checked against the graph's declaration. */
function boundParam(
  store: ScheduledForm["options"]["params"],
  node: GraphNode,
  name: string,
  shape: readonly number[],
): Tensor {
  if (!store)
    throw new GraphError(`node ${describeNode(node)} needs param '${name}' but no ParamStore was given`);
  if (!store.has(name)) {
    throw new GraphError(
      `param '${name}' (node #${node.id}) is missing from the ParamStore (has: ${store.names().join(", ")})`,
    );
  }
  const t = store.get(name);
  if (!shapesEqual(t.shape, shape) || t.dtype !== node.dtype) {
    throw new ShapeError(
      `param '${name}': store holds ${t.dtype} ${shapeToString(t.shape)}, graph declares ${node.dtype} ${shapeToString(shape)}`,
    );
  }
  return t;
}
