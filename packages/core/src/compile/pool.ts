/**
 * The liveness pool: buffers of dead values handed to new values, best fit (the smallest free
 * buffer that is large enough).
 *
 * Every capacity the pool will ever hold is a requested size, and `allocate` knows all requests
 * in advance, so capacities are indexed once (sorted) and the free buffers are counted per
 * capacity in a Fenwick tree: finding the best fit is O(log k) for k distinct sizes. (Scanning a
 * free list per request made compiling the gradient of a long chain quadratic: with every
 * forward value alive until the backward pass reaches it, the list holds ~n/2 buffers.)
 * @module
 */
import type { DType, FloatArray } from "../dtype.js";

/** A buffer owned by the pool. */
export interface PoolSlot {
  /** The whole buffer (values use a prefix of it). */
  readonly buf: FloatArray;
  /** Its id in the plan's buffer table. */
  readonly id: number;
  /** Index of its capacity in the pool's sorted capacities. */
  readonly cap: number;
}

/** Free buffers of one dtype, bucketed by capacity. */
class FreeList {
  /** Sorted distinct capacities. */
  readonly caps: Float64Array;
  /** Fenwick tree over the number of free buffers per capacity. */
  private readonly tree: Int32Array;
  private readonly stacks: PoolSlot[][];
  private free = 0;
  private readonly high: number;

  constructor(capacities: readonly number[]) {
    const caps = [...new Set(capacities)].sort((a, b) => a - b);
    this.caps = Float64Array.from(caps);
    this.tree = new Int32Array(caps.length + 1);
    this.stacks = caps.map(() => []);
    let h = 1;
    while (h * 2 <= caps.length) h *= 2;
    this.high = h;
  }

  /** Index of the smallest capacity >= size (caps.length when none). */
  indexOf(size: number): number {
    const caps = this.caps;
    let lo = 0;
    let hi = caps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (caps[mid]! < size) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private add(i: number, delta: number): void {
    for (let j = i + 1; j < this.tree.length; j += j & -j) this.tree[j]! += delta;
  }

  /** Free buffers with capacity index < i. */
  private before(i: number): number {
    let s = 0;
    for (let j = i; j > 0; j -= j & -j) s += this.tree[j]!;
    return s;
  }

  /** A free buffer of capacity index >= i with the smallest capacity, removed from the list. */
  takeAtLeast(i: number): PoolSlot | null {
    const skip = this.before(i);
    if (skip === this.free) return null;
    // descend the tree to the first index whose prefix count exceeds `skip`
    let pos = 0;
    let rest = skip;
    for (let step = this.high; step > 0; step >>= 1) {
      const next = pos + step;
      if (next < this.tree.length && this.tree[next]! <= rest) {
        pos = next;
        rest -= this.tree[next]!;
      }
    }
    this.add(pos, -1);
    this.free--;
    // the most recently freed buffer of that size: likely still in cache
    return this.stacks[pos]!.pop()!;
  }

  give(slot: PoolSlot): void {
    this.stacks[slot.cap]!.push(slot);
    this.add(slot.cap, 1);
    this.free++;
  }
}

/**
 * A best-fit pool of buffers per dtype. `make` allocates a new buffer (it may throw an
 * AllocationError) and numbers it in the plan's buffer table.
 */
export class BufferPool {
  private readonly lists: Record<DType, FreeList>;
  /** Elements allocated for the pool so far. */
  allocated = 0;

  /** `requests`: every size the pool will be asked for, per dtype. */
  constructor(
    requests: Readonly<Record<DType, readonly number[]>>,
    private readonly make: (dtype: DType, capacity: number) => { buf: FloatArray; id: number },
  ) {
    // a buffer for an empty value still has one element
    this.lists = {
      float32: new FreeList(requests.float32.map((s) => Math.max(s, 1))),
      float64: new FreeList(requests.float64.map((s) => Math.max(s, 1))),
    };
  }

  /** The smallest free buffer of at least `size` elements, else a new one of `max(size, 1)`. */
  take(dtype: DType, size: number): PoolSlot {
    const list = this.lists[dtype];
    const i = list.indexOf(size);
    const hit = list.takeAtLeast(i);
    if (hit) return hit;
    const capacity = Math.max(size, 1);
    const cap = list.indexOf(capacity);
    if (list.caps[cap] !== capacity) throw new Error(`internal: pool size ${size} was not announced`);
    const { buf, id } = this.make(dtype, capacity);
    this.allocated += size;
    return { buf, id, cap };
  }

  /** Returns a buffer whose value is dead. */
  give(slot: PoolSlot): void {
    this.lists[slot.buf instanceof Float32Array ? "float32" : "float64"].give(slot);
  }
}
