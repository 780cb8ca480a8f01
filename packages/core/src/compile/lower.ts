/**
 * Pass 8, lower: a kernel for every step, bound to its buffers.
 *
 * A fused group gets one generated elementwise loop for its composed expression; every other
 * node gets its op's kernel for the concrete shapes (kernels pick WebAssembly SIMD where it
 * exists; see `kernel-choice.ts`). Folded steps run once, here. The rest become the closures
 * `Plan.run` calls: param mirror copies first, then one closure per kernel step, with a scan for
 * NaN and Inf after each under `checkNumerics`.
 *
 * A batch-summed product (a sum over the batch axes with its batched product fused in, see
 * `fuse.ts`) gets the matmul kernel for the stacked matrices.
 *
 * Elementwise kernels are pure functions of their shapes, so steps with the same expression and
 * shapes share one kernel (a long chain repeats a few group structures thousands of times).
 * @module
 */
import type { DType, FloatArray } from "../dtype.js";
import { describeNode, type GraphNode } from "../graph.js";
import { elementwiseKernel } from "../ops/elementwise.js";
import { isOpName, opDef } from "../ops/index.js";
import type { Kernel } from "../ops/types.js";
import { type ConcreteShape, sizeOf } from "../shape.js";
import { NumericsError } from "./errors.js";
import type { AllocatedForm, KernelChoice, LoweredForm } from "./form.js";
import { kernelChoice } from "./kernel-choice.js";

/** Builds and binds the kernels; evaluates folded steps. */
/**
 * The kernel of a batch-summed product (see `batchSummedProduct` in `fuse.ts`): `Σ_b A_bᵀ·B_b`
 * over A `[..., K, M]` and B `[..., K, N]` is the matmul kernel run once on them as stacked
 * `[nb·K, M]` and `[nb·K, N]` matrices (the same arrays), writing `[M, N]`.
 */
function stackedProduct(
  product: GraphNode,
  inShapes: readonly ConcreteShape[],
  outShape: ConcreteShape,
  dtype: DType,
): { kernel: Kernel; choice: KernelChoice } {
  const [as, bs] = [inShapes[0]!, inShapes[1]!];
  const M = as[as.length - 1]!;
  const N = bs[bs.length - 1]!;
  const K = sizeOf(as) / M;
  const shapes = [
    [K, M],
    [K, N],
  ];
  const mm = { ...product, attrs: { transA: true, transB: false } } as GraphNode;
  const ctx = { attrs: mm.attrs as never, inShapes: shapes, outShape: [M, N], dtype };
  if (sizeOf(outShape) !== M * N)
    throw new Error(`batch-summed product: output ${outShape} is not ${M}x${N}`);
  return { kernel: opDef("matmul").kernel!(ctx), choice: kernelChoice(mm, null, shapes, [M, N], dtype) };
}

export function lowerToKernels(form: AllocatedForm): LoweredForm {
  const { graph, steps, shapes, arrays, mirrors, elementwise } = form;
  const nodes = graph.nodes;
  const checkNumerics = form.options.checkNumerics ?? false;
  const kernels: (KernelChoice | null)[] = new Array(steps.length).fill(null);
  const run: (() => void)[] = [];
  const runNodes: (GraphNode | null)[] = [];
  for (const { src, dst } of mirrors) {
    run.push(() => dst.set(src));
    runNodes.push(null);
  }
  const shared = new Map<string, { kernel: Kernel; choice: KernelChoice }>();
  let kernelSteps = 0;
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s]!;
    if (step.kind !== "kernel" && step.kind !== "folded") continue;
    const id = step.node;
    const node = nodes[id]!;
    const outShape = shapes[id]!;
    const inShapes = step.reads.map((i) => shapes[i]!);
    const group = step.group;
    // built-in elementwise ops have no attributes and no state; user ops' kernels might
    const pure = group !== null || (elementwise[id] === 1 && isOpName(node.op));
    const key = pure
      ? `${group ? `#${group.structure}` : node.op}|${node.dtype}|${inShapes.join(";")}|${outShape.join()}`
      : "";
    let made = pure ? shared.get(key) : undefined;
    if (!made) {
      const ctx = { attrs: node.attrs as never, inShapes, outShape, dtype: node.dtype };
      const product = form.products.get(id);
      made =
        product !== undefined
          ? stackedProduct(nodes[product]!, inShapes, outShape, node.dtype)
          : {
              kernel: group
                ? elementwiseKernel(group.key, group.spec, { ...ctx, attrs: {} }, group.tree)
                : opDef(node.op).kernel!(ctx),
              choice: kernelChoice(node, group, inShapes, outShape, node.dtype),
            };
      if (pure) shared.set(key, made);
    }
    const kernel = made.kernel;
    kernels[step.index] = made.choice;
    const out = arrays[id]!;
    const ins: FloatArray[] = step.reads.map((i) => arrays[i]!);
    if (step.kind === "folded") {
      kernel(ins, out);
      continue;
    }
    kernelSteps++;
    runNodes.push(node);
    if (checkNumerics) {
      const inputsDesc = ` (inputs: ${node.inputs.map((i) => describeNode(nodes[i]!)).join(", ") || "none"})`;
      run.push(() => {
        kernel(ins, out);
        for (let k = 0; k < out.length; k++) {
          const v = out[k]!;
          if (v - v !== 0) throw new NumericsError(node, k, v, inputsDesc);
        }
      });
    } else {
      run.push(() => kernel(ins, out));
    }
  }
  return { ...form, kernels, run, runNodes, kernelSteps };
}
