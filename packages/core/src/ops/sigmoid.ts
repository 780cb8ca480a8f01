import { unaryOp } from "./elementwise.js";

/** Elementwise logistic sigmoid 1 / (1 + exp(-x)). */
export const sigmoid = unaryOp("sigmoid", "Elementwise logistic sigmoid 1 / (1 + exp(-x)).", {
  expr: (x) => `(1 / (1 + Math.exp(-(${x}))))`,
  fn: (x) => 1 / (1 + Math.exp(-x)),
});
