/**
 * Shapes, symbolic dimensions and numpy-style broadcasting.
 * @module
 */

/**
 * One dimension of a shape: a non-negative integer, or a symbol (a string such as `"N"`)
 * for a dimension that is only known when the graph is compiled (e.g. the batch size).
 */
export type Dim = number | string;

/** A possibly symbolic shape, outermost dimension first (row-major). */
export type Shape = readonly Dim[];

/** A concrete shape: every dimension is a number. */
export type ConcreteShape = readonly number[];

/**
 * Error raised when shapes do not fit together: by the builder as a node is made (the message names
 * the op, the node, its name and the input shapes), and by {@link Tensor} and the compiler when a
 * concrete shape is wrong.
 *
 * @example
 * ```ts
 * import { GraphBuilder, ShapeError } from "@gradgraph/core";
 *
 * const g = new GraphBuilder();
 * const x = g.input("x", ["N", 784]);
 * const W = g.param("W", [785, 30]);
 * try {
 *   x.matmul(W);
 * } catch (e) {
 *   if (e instanceof ShapeError) console.log(e.message);
 *   // matmul at node #2: inner dimensions 784 and 785 differ in [N,784] x [785,30] (inputs: ...)
 * }
 * ```
 */
export class ShapeError extends Error {
  override name = "ShapeError";
}

/** Formats a shape as `[N,784]`; the empty shape (a scalar) is `[]`. */
export function shapeToString(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

/** Returns true when every dimension of `shape` is a number. */
export function isConcrete(shape: Shape): shape is ConcreteShape {
  for (const d of shape) if (typeof d !== "number") return false;
  return true;
}

/** Number of elements of a concrete shape (1 for a scalar). */
export function sizeOf(shape: ConcreteShape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides (in elements) of a concrete shape. */
export function stridesOf(shape: ConcreteShape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Returns true when two shapes are equal dimension by dimension (symbols compare by name). */
export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Checks that `d` is a valid dimension: a non-negative integer or a non-empty symbol. */
export function isValidDim(d: unknown): d is Dim {
  return (typeof d === "number" && Number.isInteger(d) && d >= 0) || (typeof d === "string" && d.length > 0);
}

/**
 * Broadcasts two shapes by numpy's rules: align trailing dimensions; each pair must be equal
 * or one of them 1. A symbol broadcasts with 1 or with the same symbol.
 * Returns the broadcast shape, or `null` when the shapes are incompatible.
 */
export function tryBroadcastShapes(a: Shape, b: Shape): Dim[] | null {
  const n = Math.max(a.length, b.length);
  const out = new Array<Dim>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db) out[i] = da;
    else if (da === 1) out[i] = db;
    else if (db === 1) out[i] = da;
    else return null;
  }
  return out;
}

/** Like {@link tryBroadcastShapes} but throws a {@link ShapeError} naming both shapes. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] {
  const r = tryBroadcastShapes(a, b);
  if (r === null) {
    throw new ShapeError(`shapes ${shapeToString(a)} and ${shapeToString(b)} cannot be broadcast together`);
  }
  return r;
}

/**
 * The axes of `out` along which an input of shape `input` was broadcast: leading axes it lacks
 * and axes where it has size 1 but `out` does not. Summing the gradient over these axes
 * (then reshaping) brings it back to `input`'s shape.
 */
export function broadcastAxes(input: Shape, out: Shape): number[] {
  const axes: number[] = [];
  const lead = out.length - input.length;
  for (let i = 0; i < out.length; i++) {
    if (i < lead) axes.push(i);
    else if (input[i - lead] === 1 && out[i] !== 1) axes.push(i);
  }
  return axes;
}

/** Normalises a possibly negative axis against `rank`; throws a ShapeError when out of range. */
export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/**
 * Substitutes symbol values into a shape. Throws when a symbol has no value.
 * @param bindings map from symbol name to its concrete size
 */
export function resolveShape(shape: Shape, bindings: ReadonlyMap<string, number>): number[] {
  return shape.map((d) => {
    if (typeof d === "number") return d;
    const v = bindings.get(d);
    if (v === undefined) throw new ShapeError(`symbolic dimension '${d}' has no value`);
    return v;
  });
}
