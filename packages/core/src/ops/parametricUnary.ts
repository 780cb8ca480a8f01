/**
 * Elementwise ops with numeric attributes: `leakyRelu`, `elu` and `clip`. Their loops are the
 * ordinary elementwise loops with the attribute values written into the expression (one loop per
 * attribute value). An op's fused expression cannot depend on a node's attributes, so these
 * ops are not fused with their neighbours.
 * @module
 */
import { elementwiseKernel, elementwiseShape } from "./elementwise.js";
import type { ElementwiseSpec, OpDef } from "./types.js";

/** A number as JavaScript source that reads back to the same double. */
const lit = (v: number) => `(${Object.is(v, -0) ? "-0" : String(v)})`;

function finite(op: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new Error(`${op}: '${field}' must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function parametric<A extends object>(
  name: string,
  doc: string,
  attrs: (raw: A) => A,
  spec: (attrs: A) => ElementwiseSpec,
): OpDef<A> {
  return {
    name,
    doc,
    arity: 1,
    kind: "kernel",
    attrs,
    shape: (inputs) => elementwiseShape(name, inputs),
    kernel: (ctx) => elementwiseKernel(`${name}${JSON.stringify(ctx.attrs)}`, spec(ctx.attrs), ctx),
  };
}

/** Attributes of `leakyRelu`. */
export interface LeakyReluAttrs {
  /** Slope for negative inputs (default 0.01). */
  readonly slope: number;
}

/** Leaky ReLU as a scalar function (used by the kernel's fallback and by tests). */
export function leakyReluScalar(x: number, slope: number): number {
  return x > 0 ? x : slope * x;
}

/**
 * Elementwise leaky ReLU: `x` for `x > 0`, `slope · x` otherwise. Its derivative at 0 is `slope`
 * (the flat side, as `relu'(0) = 0`).
 */
export const leakyRelu: OpDef<LeakyReluAttrs> = parametric<LeakyReluAttrs>(
  "leakyRelu",
  "Elementwise leaky ReLU: x for x > 0, slope * x otherwise.",
  (raw) => ({ slope: raw?.slope === undefined ? 0.01 : finite("leakyRelu", "slope", raw.slope) }),
  ({ slope }) => ({
    expr: (x) => `((v) => (v > 0 ? v : ${lit(slope)} * v))(${x})`,
    fn: (v) => leakyReluScalar(v, slope),
  }),
);

/** Attributes of `elu`. */
export interface EluAttrs {
  /** Scale of the negative branch (default 1). */
  readonly alpha: number;
}

/** ELU as a scalar function (used by the kernel's fallback and by tests). */
export function eluScalar(x: number, alpha: number): number {
  return x > 0 ? x : alpha * Math.expm1(x);
}

/**
 * Elementwise ELU: `x` for `x > 0`, `alpha · (exp(x) - 1)` otherwise. Its derivative at 0 is
 * `alpha` (the left side; both sides agree when `alpha = 1`).
 */
export const elu: OpDef<EluAttrs> = parametric<EluAttrs>(
  "elu",
  "Elementwise ELU: x for x > 0, alpha * (exp(x) - 1) otherwise.",
  (raw) => ({ alpha: raw?.alpha === undefined ? 1 : finite("elu", "alpha", raw.alpha) }),
  ({ alpha }) => ({
    expr: (x) => `((v) => (v > 0 ? v : ${lit(alpha)} * Math.expm1(v)))(${x})`,
    fn: (v) => eluScalar(v, alpha),
  }),
);

/** Attributes of `clip`. */
export interface ClipAttrs {
  /** Lower bound (finite). */
  readonly min: number;
  /** Upper bound (finite, at least `min`). */
  readonly max: number;
}

/**
 * Elementwise clip `min(max(x, min), max)`. Its derivative is 1 strictly inside `(min, max)` and
 * 0 elsewhere, bounds included (the flat side, as `relu'(0) = 0`). NaN stays NaN.
 */
export const clip: OpDef<ClipAttrs> = parametric<ClipAttrs>(
  "clip",
  "Elementwise clip to [min, max].",
  (raw) => {
    const min = finite("clip", "min", raw?.min);
    const max = finite("clip", "max", raw?.max);
    if (min > max) throw new Error(`clip: 'min' ${min} is greater than 'max' ${max}`);
    return { min, max };
  },
  ({ min, max }) => ({
    expr: (x) => `Math.min(Math.max(${x}, ${lit(min)}), ${lit(max)})`,
    fn: (v) => Math.min(Math.max(v, min), max),
  }),
);
