/**
 * The compiler, pass by pass. Graph + concrete input shapes -> a plan form that `Plan` runs.
 *
 * | # | pass | module | decides |
 * |---|------|--------|---------|
 * | 1 | select | `select.ts` | which outputs, which nodes they need, in what (topological) order |
 * | 2 | bind dims | `bind-dims.ts` | the value of each symbolic dim; feed shape errors |
 * | 3 | concretise shapes | `shapes.ts` | every node's concrete shape and size |
 * | 4 | fold constants | `fold.ts` | which nodes are computed once, at build time |
 * | 5 | fuse | `fuse.ts` | which elementwise nodes run inside a consumer's loop, and each loop's expression |
 * | 6 | schedule + liveness | `schedule.ts` | the steps, what each reads, when each value dies |
 * | 7 | allocate | `allocate.ts` (+ `pool.ts`) | a buffer per value: inputs, params in place, reuse by liveness |
 * | 8 | lower | `lower.ts` (+ `kernel-choice.ts`) | a kernel per step (JS or WebAssembly SIMD), bound to its buffers |
 *
 * Each pass takes the form the previous one returned and adds its own decisions (the types in
 * `form.ts`). Every pass is linear in the needed nodes and edges, except the pool's O(log k)
 * best-fit lookups over k distinct buffer sizes. `printPlan` shows the result.
 * @module
 */

import type { Graph, NodeId } from "../graph.js";
import type { ConcreteShape } from "../shape.js";
import { Allocator, allocateBuffers } from "./allocate.js";
import { bindDims } from "./bind-dims.js";
import { foldConstants } from "./fold.js";
import type { CompileOptions, LoweredForm } from "./form.js";
import { fuseElementwise } from "./fuse.js";
import { lowerToKernels } from "./lower.js";
import { schedule } from "./schedule.js";
import { selectOutputs } from "./select.js";
import { concretiseShapes } from "./shapes.js";

/**
 * Runs every pass in order (`order`: the needed nodes in topological order, if known). A pass that
 * throws after `allocate` frees the memory allocated so far.
 */
export function compilePlanForm(
  graph: Graph,
  inputShapes: Readonly<Record<string, ConcreteShape>>,
  options: CompileOptions,
  order?: readonly NodeId[],
): LoweredForm {
  const selected = selectOutputs(
    order ? { graph, inputShapes, options, order } : { graph, inputShapes, options },
  );
  const bound = bindDims(selected);
  const concrete = concretiseShapes(bound);
  const folded = foldConstants(concrete);
  const fused = fuseElementwise(folded);
  const scheduled = schedule(fused);
  const allocator = new Allocator();
  const allocated = allocateBuffers(scheduled, allocator);
  try {
    return lowerToKernels(allocated);
  } catch (e) {
    allocator.release();
    throw e;
  }
}
