import { layerNormKernel } from "../backend/layerNorm.js";
import { type Dim, normalizeAxis, ShapeError, shapesEqual, shapeToString, sizeOf } from "../shape.js";
import type { OpDef } from "./types.js";
import { intAttr, sameDType } from "./util.js";

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
export const layerNorm: OpDef<LayerNormAttrs> = {
  name: "layerNorm",
  doc: "(x - mean) / sqrt(var + epsilon) * gamma + beta along one axis (biased variance).",
  arity: 3,
  kind: "kernel",
  attrs: (raw) => {
    const axis = raw?.axis === undefined ? -1 : intAttr("layerNorm", "axis", raw.axis);
    const epsilon = raw?.epsilon ?? 1e-5;
    if (typeof epsilon !== "number" || !Number.isFinite(epsilon) || epsilon < 0)
      throw new Error(
        `layerNorm: attribute 'epsilon' must be a finite number >= 0, got ${JSON.stringify(epsilon)}`,
      );
    return { axis, epsilon };
  },
  shape: (inputs, attrs) => {
    const [x, gamma, beta] = [inputs[0]!, inputs[1]!, inputs[2]!];
    const dtype = sameDType("layerNorm", inputs);
    let a: number;
    try {
      a = normalizeAxis(attrs.axis, x.shape.length);
    } catch {
      throw new ShapeError(
        `layerNorm: axis ${attrs.axis} is out of range for input ${shapeToString(x.shape)} (rank ${x.shape.length})`,
      );
    }
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
  kernel: (ctx) => {
    const s = ctx.inShapes[0]!;
    const a = normalizeAxis(ctx.attrs.axis, s.length);
    return layerNormKernel(
      ctx.dtype,
      sizeOf(s.slice(0, a)),
      s[a]!,
      sizeOf(s.slice(a + 1)),
      ctx.attrs.epsilon,
    );
  },
};
