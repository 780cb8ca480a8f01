/**
 * Feeds: checking the values given for a plan's inputs and copying them into its buffers.
 *
 * A feed is a Tensor, a bare Float32Array/Float64Array (its shape taken from the declaration),
 * or a number (for an input of one element). Every problem is a {@link FeedError} naming the
 * input. The copy into a plan allocates nothing.
 * @module
 */
import type { FloatArray } from "../dtype.js";
import { ownValue } from "../names.js";
import { type ConcreteShape, type Shape, shapesEqual, shapeToString } from "../shape.js";
import { Tensor } from "../tensor.js";
import { FeedError } from "./errors.js";

/** A value fed to an input: a tensor, a bare typed array (shape taken from the declaration), or a number for a scalar. */
export type Feed = Tensor | FloatArray | number;

/**
 * Feeds by input name. Only own properties count, so an input named `toString` is missing unless
 * fed; build feeds for names such as `__proto__` with `Object.fromEntries` or a computed key
 * (`{ ["__proto__"]: t }`), since `{ __proto__: t }` sets the object's prototype instead.
 */
export type Feeds = Readonly<Record<string, Feed>>;

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
  throw new FeedError(`input '${name}': unsupported feed ${String(f)}`);
}

/** Whether `f` can be copied into `t` as it is (same shape); allocates nothing. */
export function feedFits(t: Tensor, f: Feed | undefined): boolean {
  if (f === undefined) return false;
  if (f instanceof Tensor) return shapesEqual(f.shape, t.shape);
  if (typeof f === "number") return t.size === 1;
  return f.length === t.size;
}

/** What a plan knows about its inputs, for {@link writeFeeds}. */
export interface FeedTargets {
  /** Names of the inputs the plan needs. */
  readonly names: readonly string[];
  /** The plan's input tensors, by name. */
  readonly inputs: Readonly<Record<string, Tensor>>;
  /** The inputs' declared shapes, by name. */
  readonly declared: Readonly<Record<string, Shape>>;
}

/**
 * Validates `feeds` and copies them into the plan's input buffers (skipping a feed that already
 * is the buffer). Allocates nothing unless it throws.
 */
export function writeFeeds(feeds: Feeds, to: FeedTargets): void {
  const names = to.names;
  let known = 0;
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!;
    const dst = to.inputs[name]!;
    const f = ownValue(feeds, name);
    if (f === undefined) {
      throw new FeedError(
        `missing feed for input '${name}' (expected ${dst.dtype} ${shapeToString(dst.shape)})`,
      );
    }
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
    } else {
      throw new FeedError(`input '${name}': unsupported feed ${String(f)}`);
    }
  }
  let given = 0;
  for (const _ in feeds) given++;
  if (given !== known) {
    for (const name in feeds) {
      if (!Object.hasOwn(to.inputs, name)) throw unknownFeed(name, names);
    }
  }
}

function wrongShape(name: string, fed: ConcreteShape, dst: Tensor, to: FeedTargets): FeedError {
  return new FeedError(
    `input '${name}': fed shape ${shapeToString(fed)}, this plan was compiled for ${shapeToString(dst.shape)} (declared ${shapeToString(to.declared[name]!)})`,
  );
}

/** The error for a feed naming no input of the plan. */
export function unknownFeed(name: string, inputs: readonly string[]): FeedError {
  return new FeedError(`unknown feed '${name}' (inputs: ${inputs.join(", ") || "none"})`);
}
