import { layerNormBackwardKernel, layerNormKernel } from "../backend/layerNorm.js";
import { type Dim, normalizeAxis, ShapeError, shapesEqual, shapeToString } from "../shape.js";
import type { OpDef } from "./types.js";
import { axisBlocks, intAttr, sameDType } from "./util.js";

/** Attributes of `layerNorm`. */
export interface LayerNormAttrs {
  /** The normalised axis (negative counts from the end; default -1, the last). */
  readonly axis: number;
  /** Added to the variance before the square root (default 1e-5, as PyTorch's `nn.LayerNorm`). */
  readonly epsilon: number;
}

/**
 * The shape `gamma` and `beta` must have for normalising axis `axis` of `shape`: the axis' size,
 * then a 1 for each later axis (`[n]` for the last axis, `[n, 1, 1]` for axis -3), so they
 * broadcast along the normalised axis.
 */
export function layerNormParamShape(shape: readonly Dim[], axis: number): Dim[] {
  return [shape[axis]!, ...Array.from({ length: shape.length - axis - 1 }, () => 1)];
}

/**
 * Layer normalisation over one axis with a gain and a bias:
 * `(x - mean) / sqrt(var + epsilon) * gamma + beta`, the mean and the biased variance taken along
 * `axis` for every other index (PyTorch's `nn.LayerNorm` over one axis). Inputs `[x, gamma, beta]`;
 * `gamma` and `beta` have the shape {@link layerNormParamShape} gives. One fused kernel per plan.
 */
function layerNormAttrs(op: string, raw: LayerNormAttrs): LayerNormAttrs {
  const axis = raw?.axis === undefined ? -1 : intAttr(op, "axis", raw.axis);
  const epsilon = raw?.epsilon ?? 1e-5;
  if (typeof epsilon !== "number" || !Number.isFinite(epsilon) || epsilon < 0)
    throw new Error(
      `${op}: attribute 'epsilon' must be a finite number >= 0, got ${JSON.stringify(epsilon)}`,
    );
  return { axis, epsilon };
}

function axisOf(op: string, axis: number, shape: readonly Dim[]): number {
  try {
    return normalizeAxis(axis, shape.length);
  } catch {
    throw new ShapeError(
      `${op}: axis ${axis} is out of range for input ${shapeToString(shape)} (rank ${shape.length})`,
    );
  }
}

export const layerNorm: OpDef<LayerNormAttrs> = {
  name: "layerNorm",
  doc: "(x - mean) / sqrt(var + epsilon) * gamma + beta along one axis (biased variance).",
  arity: 3,
  kind: "kernel",
  attrs: (raw) => layerNormAttrs("layerNorm", raw),
  shape: (inputs, attrs) => {
    const [x, gamma, beta] = [inputs[0]!, inputs[1]!, inputs[2]!];
    const dtype = sameDType("layerNorm", inputs);
    const a = axisOf("layerNorm", attrs.axis, x.shape);
    const want = layerNormParamShape(x.shape, a);
    for (const [what, p] of [
      ["gamma", gamma],
      ["beta", beta],
    ] as const) {
      if (!shapesEqual(p.shape, want))
        throw new ShapeError(
          `layerNorm: ${what} has shape ${shapeToString(p.shape)} but normalising axis ${attrs.axis} of input ` +
            `${shapeToString(x.shape)} needs ${shapeToString(want)} (the axis' size, then 1 for each later axis)`,
        );
    }
    return { shape: x.shape, dtype };
  },
  kernel: (ctx) =>
    layerNormKernel(ctx.dtype, ...axisBlocks(ctx.inShapes[0]!, ctx.attrs.axis), ctx.attrs.epsilon),
};

/**
 * The input gradient of `layerNorm` as one fused kernel: from `x` and `d` (the output cotangent
 * times `gamma`, of `x`'s shape), `rstd * (d - mean(d) - xhat * mean(d * xhat))` along `axis`,
 * with `xhat` and `rstd` recomputed from `x` as the forward kernel does. Linear in `d` with a
 * symmetric Jacobian, so its gradient in `d` is itself; its gradient in `x` is built from ordinary
 * ops (second derivatives of `layerNorm`).
 */
export const layerNormBackward: OpDef<LayerNormAttrs> = {
  name: "layerNormBackward",
  doc: "The input gradient of layerNorm: rstd * (d - mean(d) - xhat * mean(d * xhat)) along an axis.",
  arity: 2,
  kind: "kernel",
  attrs: (raw) => layerNormAttrs("layerNormBackward", raw),
  shape: (inputs, attrs) => {
    const [x, d] = [inputs[0]!, inputs[1]!];
    const dtype = sameDType("layerNormBackward", inputs);
    axisOf("layerNormBackward", attrs.axis, x.shape);
    if (!shapesEqual(x.shape, d.shape))
      throw new ShapeError(
        `layerNormBackward: the cotangent has shape ${shapeToString(d.shape)} but the input has ${shapeToString(x.shape)}`,
      );
    return { shape: x.shape, dtype };
  },
  kernel: (ctx) =>
    layerNormBackwardKernel(ctx.dtype, ...axisBlocks(ctx.inShapes[0]!, ctx.attrs.axis), ctx.attrs.epsilon),
};
