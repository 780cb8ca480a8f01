/**
 * The concrete tensor value: a shape and a row-major typed array.
 * @module
 */
import { type ArrayFor, allocArray, type DType, dtypeOfArray, type FloatArray } from "./dtype.js";
import { type ConcreteShape, isValidDim, ShapeError, shapeToString, sizeOf, stridesOf } from "./shape.js";

/** A nested array of numbers, as accepted by {@link Tensor.from}. */
export type NestedArray = number | readonly NestedArray[];

/**
 * A dense tensor: a concrete shape plus a row-major `Float32Array` or `Float64Array`. Tensors are
 * the numbers that go in and out of compiled plans: feeds, outputs, params. A rank-0 tensor (shape
 * `[]`) is a scalar. Make them with {@link Tensor.from} (nested or flat arrays), `zeros`, `full` or
 * `scalar`; read them with `get`, `item`, `toArray` or `toNested`. The data array may be a view into a
 * larger buffer (compiled plans hand out such views), so copy it (`clone`) if you need it to outlive
 * the next run.
 *
 * @example
 * ```ts
 * import { Tensor } from "@gradgraph/core";
 *
 * const t = Tensor.from([[1, 2, 3], [4, 5, 6]], { dtype: "float32" });
 * t.shape; // [2, 3]
 * t.get(1, 2); // 6
 * t.reshape([3, 2]).toNested(); // [[1, 2], [3, 4], [5, 6]]
 * const flat = Tensor.from([1, 2, 3, 4], { shape: [2, 2] }); // float64 unless dtype says otherwise
 * Tensor.scalar(0.5).item(); // 0.5
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** Outermost dimension first. */
  readonly shape: ConcreteShape;
  /** Element type. */
  readonly dtype: D;
  /** Row-major element storage; its length equals the product of the shape. */
  readonly data: ArrayFor<D>;

  /** Wraps `data` (not copied) with `shape`; throws when the length does not match. */
  constructor(shape: ConcreteShape, data: ArrayFor<D>) {
    for (const d of shape) {
      if (typeof d !== "number" || !isValidDim(d))
        throw new ShapeError(`invalid tensor shape ${shapeToString(shape)}`);
    }
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new ShapeError(
        `tensor data has ${data.length} elements but shape ${shapeToString(shape)} needs ${n}`,
      );
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = dtypeOfArray(data) as D;
    this.data = data;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions (0 for a scalar). */
  get rank(): number {
    return this.shape.length;
  }

  /** A zero-filled tensor. */
  static zeros<D extends DType = "float32">(shape: ConcreteShape, dtype: D = "float32" as D): Tensor<D> {
    return new Tensor(shape, allocArray(dtype, sizeOf(shape)));
  }

  /** A tensor filled with `value`. */
  static full<D extends DType = "float32">(
    shape: ConcreteShape,
    value: number,
    dtype: D = "float32" as D,
  ): Tensor<D> {
    const t = Tensor.zeros(shape, dtype);
    t.data.fill(value);
    return t;
  }

  /** A rank-0 tensor holding `value`. */
  static scalar<D extends DType = "float64">(value: number, dtype: D = "float64" as D): Tensor<D> {
    return Tensor.full([], value, dtype);
  }

  /**
   * Builds a tensor from a (nested) array of numbers or a flat array plus a shape.
   * Ragged nesting throws an error naming the offending path.
   */
  static from<D extends DType = "float64">(
    values: NestedArray | ArrayLike<number>,
    options: { shape?: ConcreteShape; dtype?: D } = {},
  ): Tensor<D> {
    const dtype = (options.dtype ?? "float64") as D;
    // a typed array without a shape is a vector (it cannot be nested)
    const shapeOpt =
      options.shape ?? (ArrayBuffer.isView(values) ? [(values as ArrayLike<number>).length] : null);
    if (shapeOpt) {
      const flat = values as ArrayLike<number>;
      const t = Tensor.zeros(shapeOpt, dtype);
      if (flat.length !== t.size) {
        throw new ShapeError(
          `${flat.length} values given for shape ${shapeToString(shapeOpt)} (needs ${t.size})`,
        );
      }
      for (let i = 0; i < t.size; i++) t.data[i] = flat[i]!;
      return t;
    }
    const shape: number[] = [];
    let probe: NestedArray = values as NestedArray;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = (probe as readonly NestedArray[])[0] as NestedArray;
      if (probe === undefined) break;
    }
    const t = Tensor.zeros(shape, dtype);
    let k = 0;
    const walk = (v: NestedArray, depth: number, path: string): void => {
      if (depth === shape.length) {
        if (typeof v !== "number")
          throw new ShapeError(`ragged array: expected a number at ${path || "top"}`);
        t.data[k++] = v;
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw new ShapeError(`ragged array: expected ${shape[depth]} elements at ${path || "top"}`);
      }
      for (let i = 0; i < v.length; i++) walk(v[i] as NestedArray, depth + 1, `${path}[${i}]`);
    };
    walk(values as NestedArray, 0, "");
    return t;
  }

  /** The element at a multi-index (bounds-checked). */
  get(...index: number[]): number {
    if (index.length !== this.shape.length) {
      throw new RangeError(`index of rank ${index.length} for tensor of shape ${shapeToString(this.shape)}`);
    }
    const strides = stridesOf(this.shape);
    let off = 0;
    for (let i = 0; i < index.length; i++) {
      const ix = index[i]!;
      if (ix < 0 || ix >= this.shape[i]! || !Number.isInteger(ix)) {
        throw new RangeError(`index ${ix} out of range for axis ${i} of shape ${shapeToString(this.shape)}`);
      }
      off += ix * strides[i]!;
    }
    return this.data[off]!;
  }

  /** The value of a single-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new ShapeError(`item() needs one element, tensor has shape ${shapeToString(this.shape)}`);
    return this.data[0]!;
  }

  /** A view with a new shape of the same size (data shared). */
  reshape(shape: ConcreteShape): Tensor<D> {
    return new Tensor(shape, this.data);
  }

  /** A deep copy (new data array). */
  clone(): Tensor<D> {
    return new Tensor(this.shape, this.data.slice() as ArrayFor<D>);
  }

  /** A copy converted to `dtype`. */
  astype<E extends DType>(dtype: E): Tensor<E> {
    const t = Tensor.zeros(this.shape, dtype);
    t.data.set(this.data);
    return t;
  }

  /** The elements as a plain flat array. */
  toArray(): number[] {
    return Array.from(this.data);
  }

  /** The elements as nested arrays following the shape (a number for a scalar). */
  toNested(): NestedArray {
    if (this.shape.length === 0) return this.data[0]!;
    const strides = stridesOf(this.shape);
    const build = (depth: number, off: number): NestedArray => {
      const n = this.shape[depth]!;
      const out: NestedArray[] = [];
      for (let i = 0; i < n; i++) {
        out.push(
          depth === this.shape.length - 1 ? this.data[off + i]! : build(depth + 1, off + i * strides[depth]!),
        );
      }
      return out;
    };
    return build(0, 0);
  }

  /** A short description such as `Tensor(float32 [2,3])`. */
  toString(): string {
    return `Tensor(${this.dtype} ${shapeToString(this.shape)})`;
  }
}

/** Copies `src` into `dst` after checking that sizes match. Returns `dst`. */
export function copyInto(dst: FloatArray, src: ArrayLike<number>): FloatArray {
  if (dst.length !== src.length) throw new ShapeError(`copy of ${src.length} elements into ${dst.length}`);
  if (ArrayBuffer.isView(src)) dst.set(src as FloatArray);
  else for (let i = 0; i < src.length; i++) dst[i] = src[i]!;
  return dst;
}
