/**
 * Small networks and data shared by the gradcheck tests (not a test file itself).
 * @module
 */
import { type Graph, GraphBuilder, Rng, Tensor } from "@gradgraph/core";
import { VJP, type VjpFn, type VjpTable } from "../src/index.js";

/** A two-layer MLP (tanh hidden layer) with outputs `loss` (softmax cross-entropy) and `logits`, declared in float32. */
export function mlp(inputs: number, hidden: number, classes: number): Graph {
  const b = new GraphBuilder({ dtype: "float32" });
  const x = b.input("x", ["N", inputs]);
  const y = b.input("y", ["N", classes]);
  const W1 = b.param("W1", [inputs, hidden], { init: { kind: "glorotUniform" } });
  const b1 = b.param("b1", [hidden], { init: { kind: "normal", std: 0.1 } });
  const W2 = b.param("W2", [hidden, classes], { init: { kind: "glorotUniform" } });
  const b2 = b.param("b2", [classes], { init: { kind: "normal", std: 0.1 } });
  const h = x.matmul(W1).add(b1).tanh();
  const logits = h.matmul(W2).add(b2);
  b.output("loss", logits.logSoftmax(-1).mul(y).sum(-1).mean().neg());
  b.output("logits", logits);
  return b.build();
}

/** Seeded inputs `x` (normal) and one-hot targets `y` for {@link mlp}. */
export function data(n: number, inputs: number, classes: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = new Tensor([n, inputs], rng.fillNormal(new Float32Array(n * inputs)));
  const y = Tensor.zeros([n, classes]);
  for (let i = 0; i < n; i++) y.data[i * classes + rng.int(classes)] = 1;
  return { x, y };
}

/** tanh's VJP with `1 - y` instead of `1 - y^2`: wrong first derivative. */
export const wrongTanh: Partial<VjpTable> = { tanh: ({ b, g, y }) => [b.mul(g, b.sub(1, y))] };

/**
 * tanh's VJP with `y^2` behind `stopGradient`: the right first derivative (values are equal), a
 * wrong second derivative (the `d(1 - y^2)/dx` term is lost).
 */
export const wrongTanhSecondOrder: Partial<VjpTable> = {
  tanh: ({ b, g, y }) => [b.mul(g, b.sub(1, b.stopGradient(b.square(y))))],
};

/** The built-in VJP of `op` with its result multiplied by `factor` (a subtly wrong rule). */
export function scaledRule<K extends "logSumExp" | "tanh">(op: K, factor: number): Partial<VjpTable> {
  const base = VJP[op] as VjpFn<K>;
  const rule: VjpFn<K> = (args) => base(args).map((v) => (v ? args.b.mul(v, factor) : v));
  return { [op]: rule } as Partial<VjpTable>;
}

/**
 * `f = sum(logSumExp(x, -1))` over a `[rows, cols]` input of logits near `centers[row]` (offsets
 * uniform in [-spread, spread], so the softmax is not saturated), and those logits.
 */
export function logSumExpCase(
  centers: readonly number[],
  cols: number,
  spread: number,
  seed: number,
): { graph: Graph; x: Tensor } {
  const rng = new Rng(seed);
  const rows = centers.length;
  const b = new GraphBuilder({ dtype: "float64" });
  const x = b.input("x", [rows, cols]);
  b.output("f", x.logSumExp(-1).sum());
  const values = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) values[r * cols + c] = centers[r]! + rng.uniform(-spread, spread);
  }
  return { graph: b.build(), x: new Tensor([rows, cols], values) };
}

/** `sum(logSumExp(x, -1))` of a `[rows, cols]` array, computed directly in float64. */
export function logSumExpValue(x: Tensor): number {
  const [rows, cols] = x.shape as [number, number];
  let f = 0;
  for (let r = 0; r < rows; r++) {
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < cols; c++) m = Math.max(m, x.data[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x.data[r * cols + c]! - m);
    f += m + Math.log(s);
  }
  return f;
}
