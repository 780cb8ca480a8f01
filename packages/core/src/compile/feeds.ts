/**
 * Feeds: checking the values given for a plan's inputs and copying them into its buffers.
 *
 * A feed is a Tensor, a bare Float32Array/Float64Array (its shape taken from the declaration),
 * a number (for an input of one element), or nested arrays of numbers. Every problem is a
 * {@link FeedError} naming the input. The copy into a plan allocates nothing.
 * @module
 */
import type { FloatArray } from "../dtype.js";
import type { NodeId } from "../graph.js";
import { type ConcreteShape, type Shape, shapesEqual, shapeToString } from "../shape.js";
import { type NestedArray, Tensor } from "../tensor.js";
import { FeedError } from "./errors.js";

/**
 * A value fed to an input: a tensor, a bare typed array (shape taken from the declaration), a
 * number for an input of one element, or nested arrays of numbers (shape checked against the
 * declaration; copied into the plan's buffer, so they are slower than a tensor).
 */
export type Feed = Tensor | FloatArray | number | readonly NestedArray[];

/**
 * Feeds by input name. Only own properties count, so an input named `toString` is missing unless
 * fed; build feeds for names such as `__proto__` with `Object.fromEntries` or a computed key
 * (`{ ["__proto__"]: t }`), since `{ __proto__: t }` sets the object's prototype instead.
 * Feeds for declared inputs that the selected outputs do not use are ignored.
 */
export type Feeds = Readonly<Record<string, Feed>>;

/** Throws unless `feeds` is an object (a `null` feeds argument would otherwise be a TypeError). */
export function checkFeedsObject(feeds: unknown): void {
  if (feeds === null || typeof feeds !== "object") {
    throw new FeedError(`feeds must be an object of input name -> value, got ${describeValue(feeds)}`);
  }
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v);
  if (typeof v === "object") return (v as object).constructor?.name ?? "an object";
  return String(v);
}

/** The error for a feed that is not a tensor, typed array, number or nested array. */
function unsupported(name: string, f: unknown, expected: string): FeedError {
  if (f === null || f === undefined) return new FeedError(`input '${name}': fed ${f} (${expected})`);
  return new FeedError(`input '${name}': unsupported feed ${String(f)}`);
}

/**
 * Checks a fed shape against an input's declaration and binds its symbolic dims into `dims`
 * (a dim already bound must agree).
 */
export function bindShape(
  name: string,
  declared: Shape,
  given: ConcreteShape,
  dims: Map<string, number>,
): void {
  const bad = (why: string) =>
    new FeedError(
      `input '${name}': fed shape ${shapeToString(given)} does not match declared ${shapeToString(declared)}: ${why}`,
    );
  if (declared.length !== given.length) throw bad(`rank ${given.length}, expected ${declared.length}`);
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i]!;
    const g = given[i]!;
    if (!Number.isInteger(g) || g < 0) throw bad(`dim ${i} is ${g}`);
    if (typeof d === "number") {
      if (d !== g) throw bad(`dim ${i} is ${g}, expected ${d}`);
    } else {
      const prev = dims.get(d);
      if (prev === undefined) dims.set(d, g);
      else if (prev !== g) throw bad(`dim ${i} ('${d}') is ${g} but '${d}' is ${prev} elsewhere`);
    }
  }
}

/** The shape of nested arrays, read along their first elements (raggedness is checked on copy). */
export function nestedShape(a: readonly NestedArray[]): number[] {
  const shape: number[] = [];
  let probe: NestedArray | undefined = a;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = (probe as readonly NestedArray[])[0];
  }
  return shape;
}

/** Whether nested arrays have `shape` along their first elements; allocates nothing. */
function nestedMatches(a: readonly NestedArray[], shape: ConcreteShape): boolean {
  let probe: NestedArray | undefined = a;
  for (let d = 0; d < shape.length; d++) {
    if (!Array.isArray(probe) || probe.length !== shape[d]) return false;
    probe = (probe as readonly NestedArray[])[0];
  }
  return !Array.isArray(probe);
}

/**
 * The shape a feed gives its input, for choosing a plan. A bare typed array takes the declared
 * shape (filling one symbolic dim from its length); a number has one element.
 */
export function feedShape(name: string, f: Feed, declared: Shape): ConcreteShape {
  if (typeof f === "number") {
    if (declared.some((d) => d !== 1 && typeof d === "number")) {
      throw new FeedError(
        `input '${name}': a number was fed but the input has shape ${shapeToString(declared)}`,
      );
    }
    return declared.map(() => 1);
  }
  if (f instanceof Tensor) return f.shape;
  if (ArrayBuffer.isView(f)) {
    if (declared.every((d) => typeof d === "number")) return declared as ConcreteShape;
    const known = declared.reduce<number>((p, d) => (typeof d === "number" ? p * d : p), 1);
    const syms = declared.filter((d) => typeof d === "string");
    if (syms.length === 1 && known > 0 && f.length % known === 0) {
      return declared.map((d) => (typeof d === "number" ? d : f.length / known));
    }
    throw new FeedError(
      `input '${name}': a bare array cannot fill symbolic shape ${shapeToString(declared)}; feed a Tensor`,
    );
  }
  if (Array.isArray(f)) return nestedShape(f);
  throw unsupported(name, f, `declared ${shapeToString(declared)}`);
}

/** Whether `f` can be copied into `t` as it is (same shape); allocates nothing. */
export function feedFits(t: Tensor, f: Feed | undefined): boolean {
  if (f === undefined || f === null) return false;
  if (f instanceof Tensor) return shapesEqual(f.shape, t.shape);
  if (typeof f === "number") return t.size === 1;
  if (ArrayBuffer.isView(f)) return f.length === t.size;
  if (Array.isArray(f)) return nestedMatches(f, t.shape);
  return false;
}

/** Copies nested arrays of `shape` into `dst` from element `k`; returns the next element, or -1 if ragged. */
function copyNested(v: NestedArray, shape: ConcreteShape, depth: number, dst: FloatArray, k: number): number {
  if (depth === shape.length) {
    if (typeof v !== "number") return -1;
    dst[k] = v;
    return k + 1;
  }
  if (!Array.isArray(v) || v.length !== shape[depth]) return -1;
  for (let i = 0; i < v.length && k >= 0; i++) k = copyNested(v[i] as NestedArray, shape, depth + 1, dst, k);
  return k;
}

/** Where nested arrays first depart from `shape`, e.g. `expected 4 elements at [1]`. */
function raggedAt(v: NestedArray, shape: ConcreteShape, depth: number, path: string): string | null {
  if (depth === shape.length) return typeof v === "number" ? null : `expected a number at ${path || "top"}`;
  if (!Array.isArray(v) || v.length !== shape[depth])
    return `expected ${shape[depth]} elements at ${path || "top"}`;
  for (let i = 0; i < v.length; i++) {
    const why = raggedAt(v[i] as NestedArray, shape, depth + 1, `${path}[${i}]`);
    if (why) return why;
  }
  return null;
}

/** What a plan knows about its inputs, for {@link writeFeeds}. */
export interface FeedTargets {
  /** Names of the inputs the plan needs. */
  readonly names: readonly string[];
  /** The plan's input tensors, by name. */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** The inputs' declared shapes, by name. */
  readonly declared: Readonly<Record<string, Shape>>;
  /** Every input the graph declares (feeds for those the plan does not need are ignored). */
  readonly graphInputs: Readonly<Record<string, NodeId>>;
}

/**
 * Validates `feeds` and copies them into the plan's input buffers (skipping a feed that already
 * is the buffer). Allocates nothing unless it throws.
 */
export function writeFeeds(feeds: Feeds, to: FeedTargets): void {
  checkFeedsObject(feeds);
  const names = to.names;
  let known = 0;
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!;
    const dst = to.inputs[name]!;
    if (!Object.hasOwn(feeds, name)) {
      throw new FeedError(
        `missing feed for input '${name}' (expected ${dst.dtype} ${shapeToString(dst.shape)})`,
      );
    }
    const f = feeds[name] as Feed;
    known++;
    if (typeof f === "number") {
      if (dst.size !== 1)
        throw new FeedError(
          `input '${name}': a number was fed but the input has shape ${shapeToString(dst.shape)}`,
        );
      dst.data[0] = f;
    } else if (f instanceof Tensor) {
      if (f.dtype !== dst.dtype)
        throw new FeedError(`input '${name}': fed ${f.dtype}, expected ${dst.dtype}`);
      if (!shapesEqual(f.shape, dst.shape)) throw wrongShape(name, f.shape, dst, to);
      if (f.data !== dst.data) dst.data.set(f.data);
    } else if (ArrayBuffer.isView(f)) {
      if ((f instanceof Float32Array ? "float32" : "float64") !== dst.dtype) {
        throw new FeedError(`input '${name}': fed a ${f.constructor.name}, expected ${dst.dtype}`);
      }
      if (f.length !== dst.size)
        throw new FeedError(`input '${name}': fed ${f.length} elements, expected ${dst.size}`);
      if (f !== dst.data) dst.data.set(f);
    } else if (Array.isArray(f)) {
      if (!nestedMatches(f, dst.shape)) throw wrongShape(name, nestedShape(f), dst, to);
      // check everything before writing, so a ragged feed leaves the buffer as it was
      const why = raggedAt(f, dst.shape, 0, "");
      if (why) throw new FeedError(`input '${name}': ragged nested array: ${why}`);
      copyNested(f, dst.shape, 0, dst.data, 0);
    } else {
      throw unsupported(name, f, `expected ${dst.dtype} ${shapeToString(dst.shape)}`);
    }
  }
  let given = 0;
  for (const name in feeds) if (Object.hasOwn(feeds, name)) given++;
  if (given !== known) {
    for (const name in feeds) {
      // a declared input the outputs do not use is ignored; only names the graph lacks are errors
      if (Object.hasOwn(feeds, name) && !Object.hasOwn(to.graphInputs, name))
        throw unknownFeed(name, to.graphInputs);
    }
  }
}

function wrongShape(name: string, fed: ConcreteShape, dst: Tensor, to: FeedTargets): FeedError {
  return new FeedError(
    `input '${name}': fed shape ${shapeToString(fed)}, this plan was compiled for ${shapeToString(dst.shape)} (declared ${shapeToString(to.declared[name]!)})`,
  );
}

/** The error for a feed naming no input of the graph. */
export function unknownFeed(name: string, graphInputs: Readonly<Record<string, NodeId>>): FeedError {
  return new FeedError(`unknown feed '${name}' (inputs: ${Object.keys(graphInputs).join(", ") || "none"})`);
}
