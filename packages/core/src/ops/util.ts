/**
 * Small helpers shared by op modules.
 * @module
 */
import type { DType } from "../dtype.js";
import {
  type Dim,
  normalizeAxis,
  type Shape,
  ShapeError,
  shapeToString,
  sizeOf,
  tryBroadcastShapes,
} from "../shape.js";
import type { TypeInfo } from "./types.js";

/**
 * `[outer, n, inner]` of a concrete shape around `axis` (negative counts from the end): the
 * elements before the axis, its length and the elements after it, the loop bounds of every op
 * that works along one axis (softmax, argmax, gather, layerNorm).
 */
export function axisBlocks(shape: readonly number[], axis: number): [number, number, number] {
  const a = normalizeAxis(axis, shape.length);
  return [sizeOf(shape.slice(0, a)), shape[a]!, sizeOf(shape.slice(a + 1))];
}

/** Broadcasts the shapes of all inputs, throwing a ShapeError that lists them. */
export function broadcastAll(op: string, inputs: readonly TypeInfo[]): Dim[] {
  let out: Dim[] | null = [...inputs[0]!.shape];
  for (let i = 1; i < inputs.length && out; i++) out = tryBroadcastShapes(out, inputs[i]!.shape);
  if (!out) {
    throw new ShapeError(
      `${op}: shapes ${inputs.map((t) => shapeToString(t.shape)).join(" and ")} cannot be broadcast together`,
    );
  }
  return out;
}

/** Checks that all inputs share one dtype and returns it. */
export function sameDType(op: string, inputs: readonly TypeInfo[]): DType {
  const d = inputs[0]!.dtype;
  for (const t of inputs) {
    if (t.dtype !== d)
      throw new ShapeError(`${op}: mixed dtypes ${inputs.map((x) => x.dtype).join(" and ")}`);
  }
  return d;
}

/** Normalises a list of axes (negative allowed; none means all), sorted and deduplicated. */
export function normalizeAxes(
  op: string,
  axes: readonly number[] | null | undefined,
  rank: number,
): number[] {
  if (axes === null || axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const out = new Set<number>();
  for (const a of axes) {
    try {
      out.add(normalizeAxis(a, rank));
    } catch {
      throw new ShapeError(`${op}: axis ${a} is out of range for rank ${rank}`);
    }
  }
  return [...out].sort((x, y) => x - y);
}

/** Shape after reducing `axes` (keepdims keeps them as 1). */
export function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      if (keepdims) out.push(1);
    } else out.push(d);
  });
  return out;
}

/** Validates that `x` is a boolean attribute. */
export function boolAttr(op: string, field: string, x: unknown, dflt: boolean): boolean {
  if (x === undefined) return dflt;
  if (typeof x !== "boolean")
    throw new Error(`${op}: attribute '${field}' must be a boolean, got ${JSON.stringify(x)}`);
  return x;
}

/** Validates that `x` is an integer attribute. */
export function intAttr(op: string, field: string, x: unknown): number {
  if (typeof x !== "number" || !Number.isInteger(x)) {
    throw new Error(`${op}: attribute '${field}' must be an integer, got ${JSON.stringify(x)}`);
  }
  return x;
}
