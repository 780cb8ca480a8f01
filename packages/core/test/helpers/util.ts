import { type DType, type Graph, GraphBuilder, Rng, Tensor } from "@gradgraph/core";

/** A float64 tensor of uniform draws in [lo, hi). */
export function randTensor(rng: Rng, shape: readonly number[], lo = -2, hi = 2): Tensor<"float64"> {
  const t = Tensor.zeros(shape, "float64");
  rng.fillUniform(t.data, lo, hi);
  return t;
}

/** A float64 tensor of uniform integers in [lo, hi]. */
export function intTensor(rng: Rng, shape: readonly number[], lo: number, hi: number): Tensor<"float64"> {
  const t = Tensor.zeros(shape, "float64");
  for (let i = 0; i < t.size; i++) t.data[i] = lo + rng.int(hi - lo + 1);
  return t;
}

/** A small deterministic hash of a string, to seed per-case generators. */
export function seedOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Builds a graph with `fn` (which declares outputs) using a fresh builder. */
export function buildGraph(fn: (g: GraphBuilder) => void, dtype: DType = "float64"): Graph {
  const g = new GraphBuilder({ dtype });
  fn(g);
  return g.build();
}

export { Rng };
