/**
 * The plan form: what the compiler knows about a plan after each pass.
 *
 * Each pass (see `pipeline.ts`) takes the form the previous one returned and returns it extended
 * with its own decisions, so the types say what a pass may rely on: `fuse` sees folded nodes but
 * no buffers; `allocate` sees the schedule but no kernels. Tables indexed by node id are typed
 * arrays sized to the whole graph (entries of nodes the plan does not need stay at their default).
 * @module
 */
import type { ExprTree } from "../backend/elementwise-wasm.js";
import type { DType, FloatArray } from "../dtype.js";
import type { Graph, GraphNode, NodeId } from "../graph.js";
import type { ElementwiseSpec } from "../ops/types.js";
import type { ParamStore } from "../params.js";
import type { ConcreteShape, Shape } from "../shape.js";
import type { Tensor } from "../tensor.js";

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

/** What a plan is compiled from: a graph, the concrete shape of each fed input, and the options. */
export interface PlanRequest {
  /** The graph. */
  readonly graph: Graph;
  /** The needed nodes in topological order, when the caller has them already (`CompiledGraph` does). */
  readonly order?: readonly NodeId[];
  /** Concrete shape of each fed input, by name. */
  readonly inputShapes: Readonly<Record<string, ConcreteShape>>;
  /** Compile options. */
  readonly options: CompileOptions;
}

/** After `select`: the outputs to compute and the nodes they need, in order. */
export interface SelectedForm extends PlanRequest {
  /** Names of the selected outputs. */
  readonly outNames: readonly string[];
  /** Their nodes, in the same order. */
  readonly outIds: readonly NodeId[];
  /** Every needed node, inputs before users (an iterative DFS from the outputs). */
  readonly order: readonly NodeId[];
  /** 1 for output nodes (by node id): they keep a buffer of their own. */
  readonly isOutput: Uint8Array;
  /** The kind of each needed node's op (by node id; codes in `select.ts`'s `KIND_CODE`). */
  readonly opKind: Uint8Array;
  /** 1 for needed nodes whose op is elementwise (fusable), by node id. */
  readonly elementwise: Uint8Array;
}

/** After `bind dims`: the needed inputs, their declarations, and the symbolic dims' values. */
export interface BoundForm extends SelectedForm {
  /** Names of the inputs the outputs need, in order. */
  readonly inputNames: readonly string[];
  /** Declared shape of each needed input (a prototype-less object). */
  readonly inputDecl: Readonly<Record<string, Shape>>;
  /** Value of every symbolic dim, bound from the input shapes. */
  readonly dims: ReadonlyMap<string, number>;
}

/** After `concretise shapes`: every needed node's concrete shape and size. */
export interface ConcreteForm extends BoundForm {
  /** Concrete shape by node id (needed nodes only). */
  readonly shapes: readonly ConcreteShape[];
  /** Element count by node id (needed nodes only). */
  readonly sizes: Float64Array;
}

/** After `fold constants`: which nodes are computed once, when the plan is built. */
export interface FoldedForm extends ConcreteForm {
  /** 1 for folded nodes (constants, fills, and everything computed only from them), by node id. */
  readonly folded: Uint8Array;
  /** Number of folded nodes. */
  readonly foldedCount: number;
}

/** An elementwise expression over a group's leaves (leaf k is the k-th kernel input). */
export type FusedTree = ExprTree;

/** A group of elementwise nodes computed by one generated loop. */
export interface FusedGroup {
  /** The node whose value the loop writes. */
  readonly root: NodeId;
  /** Number of nodes fused into the root (they get no buffer and no step). */
  readonly absorbed: number;
  /** The values the loop reads, in leaf order. */
  readonly leaves: readonly NodeId[];
  /** The expression, with leaves as indices into `leaves`. */
  readonly tree: FusedTree;
  /** Cache key of the generated loop (the expression's structure). */
  readonly key: string;
  /** The composed expression (text for code generation, and a function). */
  readonly spec: ElementwiseSpec;
  /** Index of the expression's structure among the plan's groups (equal structures share one loop). */
  readonly structure: number;
}

/** After `fuse`: which nodes are computed inside a consumer's loop. */
export interface FusedForm extends FoldedForm {
  /** The node each fused node is computed inside (-1: not fused), by node id. */
  readonly fusedInto: Int32Array;
  /** The groups, by root. */
  readonly groups: ReadonlyMap<NodeId, FusedGroup>;
  /**
   * Batch-summed products: a `sum` over the batch axes of a batched `matmul(A, B, {transA})`
   * (the weight gradient of `x [N, T, D] · W`) computed as one product (see `fuse.ts`). Maps the
   * sum to the matmul fused into it; the sum's step reads the matmul's inputs.
   */
  readonly products: ReadonlyMap<NodeId, NodeId>;
  /** Number of nodes fused away. */
  readonly fusedCount: number;
}

/**
 * What a step does: bind an `input` or `param` buffer, make an `alias` view of its input's
 * storage (no work), evaluate a `folded` value once at build time, or run a `kernel` every run.
 */
export type StepKind = "input" | "param" | "alias" | "folded" | "kernel";

/** One scheduled node (a fused group counts as its root). */
export interface Step {
  /** Position in the schedule. */
  readonly index: number;
  /** The node whose value the step produces. */
  readonly node: NodeId;
  /** See {@link StepKind}. */
  readonly kind: StepKind;
  /** The fused group rooted here, if any. */
  readonly group: FusedGroup | null;
  /** The values the step reads (a group's leaves, else the node's inputs). */
  readonly reads: readonly NodeId[];
  /** Whether the value is an output (it keeps its own buffer for ever). */
  readonly output: boolean;
  /** Index of the last step reading the value (`Infinity` for outputs). */
  readonly last: number;
}

/** After `schedule`: the steps in run order, with the live range of every value. */
export interface ScheduledForm extends FusedForm {
  /** The steps, in order. */
  readonly steps: readonly Step[];
}

/**
 * Where a buffer comes from: a plan `input`, a `param` bound in place, a `mirror` of a param
 * outside the WebAssembly arena (refreshed at the start of every run), a `folded` value, an
 * `output`, or the liveness `pool` (reused once its value is dead).
 */
export type BufferKind = "input" | "param" | "mirror" | "folded" | "output" | "pool";

/** One buffer of the plan. */
export interface PlanBuffer {
  /** Index in {@link AllocatedForm.buffers}. */
  readonly id: number;
  /** See {@link BufferKind}. */
  readonly kind: BufferKind;
  /** Element type. */
  readonly dtype: DType;
  /** Capacity in elements. */
  readonly elements: number;
}

/** After `allocate`: a buffer for every value, and the plan's input and output tensors. */
export interface AllocatedForm extends ScheduledForm {
  /** All buffers. */
  readonly buffers: readonly PlanBuffer[];
  /** Buffer of each value (-1: none, e.g. fused away), by node id. */
  readonly bufferOf: Int32Array;
  /** The array each value is read from and written to, by node id. */
  readonly arrays: readonly FloatArray[];
  /** Input tensors by name (a prototype-less object). */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** Output tensors by name (a prototype-less object). */
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** Params outside the arena and their mirrors inside it, copied at the start of every run. */
  readonly mirrors: readonly { readonly src: FloatArray; readonly dst: FloatArray }[];
  /** Arena arrays the plan owns (inputs, outputs, folded values, mirrors), freed by dispose. */
  readonly owned: FloatArray[];
  /** Arena arrays of the pool, freed by dispose or when the plan is garbage-collected. */
  readonly internal: FloatArray[];
  /** Elements in pooled buffers. */
  readonly pooledElements: number;
  /** Elements pooled values would need without reuse. */
  readonly unpooledElements: number;
}

/** Which implementation runs a kernel step. */
export interface KernelChoice {
  /** `js`: a JavaScript loop; `wasm-simd`: a WebAssembly SIMD kernel on the arena. */
  readonly impl: "js" | "wasm-simd";
  /** For a SIMD matrix product: the size of one product (threads split those of at least `minWork`). */
  readonly gemm?: { readonly M: number; readonly N: number; readonly K: number; readonly batches: number };
}

/** After `lower`: a kernel for every step, and the closures `Plan.run` calls. */
export interface LoweredForm extends AllocatedForm {
  /** The implementation of each kernel or folded step (null for other steps), by step index. */
  readonly kernels: readonly (KernelChoice | null)[];
  /** What `Plan.run` calls, in order: param mirror copies, then one closure per kernel step. */
  readonly run: readonly (() => void)[];
  /** The node each closure of `run` computes (null for the mirror copies), so run-time errors name it. */
  readonly runNodes: readonly (GraphNode | null)[];
  /** Number of kernel steps (mirror copies not counted). */
  readonly kernelSteps: number;
}
