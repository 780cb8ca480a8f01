/**
 * Flat-vector views of parameter sets, so that {@link minimize} can drive a model's params.
 * @module
 */
import { ParamStore, type Tensor } from "@gradgraph/core";

/** Tensors by name: a {@link ParamStore} or a plain record (e.g. the gradients a compiled graph returns). */
export type TensorSet = ParamStore | Readonly<Record<string, Tensor>>;

function lookup(set: TensorSet, name: string, what: string): Tensor {
  if (set instanceof ParamStore) {
    if (!set.has(name))
      throw new Error(`${what}: no param named '${name}' (known: ${set.names().join(", ") || "none"})`);
    return set.get(name);
  }
  if (!Object.hasOwn(set, name)) {
    throw new Error(`${what}: no tensor named '${name}' (known: ${Object.keys(set).join(", ") || "none"})`);
  }
  return set[name]!;
}

function namesOf(set: TensorSet, names: readonly string[] | undefined): readonly string[] {
  return names ?? (set instanceof ParamStore ? set.names() : Object.keys(set));
}

/**
 * Concatenates the tensors named `names` (default: all, in the store's insertion order) into one
 * float64 vector, each row-major. Writes into `out` when given (its length must be the total size).
 * Use the same `names` for params and their gradients so that the layouts match.
 */
export function flattenParams(
  params: TensorSet,
  names?: readonly string[],
  out?: Float64Array,
): Float64Array {
  const list = namesOf(params, names);
  let total = 0;
  for (const name of list) total += lookup(params, name, "flattenParams").size;
  if (out && out.length !== total) {
    throw new RangeError(`flattenParams: output has ${out.length} elements, the tensors have ${total}`);
  }
  const x = out ?? new Float64Array(total);
  let off = 0;
  for (const name of list) {
    const t = lookup(params, name, "flattenParams");
    x.set(t.data, off);
    off += t.size;
  }
  return x;
}

/**
 * Copies the flat vector `x` back into the tensors named `names` (default: all params, in insertion
 * order) in place, so compiled plans bound to those buffers see the new values. The length of `x`
 * must equal the total size. Returns `params`.
 */
export function unflattenParams<T extends TensorSet>(
  x: ArrayLike<number>,
  params: T,
  names?: readonly string[],
): T {
  const list = namesOf(params, names);
  let total = 0;
  for (const name of list) total += lookup(params, name, "unflattenParams").size;
  if (x.length !== total) {
    throw new RangeError(`unflattenParams: vector has ${x.length} elements, the params need ${total}`);
  }
  let off = 0;
  for (const name of list) {
    const data = lookup(params, name, "unflattenParams").data;
    for (let i = 0; i < data.length; i++) data[i] = x[off + i]!;
    off += data.length;
  }
  return params;
}
