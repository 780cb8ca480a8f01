import { binaryOp } from "./elementwise.js";

/** Elementwise minimum with broadcasting. */
export const minimum = binaryOp("minimum", "Elementwise minimum with broadcasting.", {
  expr: (a, b) => `Math.min(${a}, ${b})`,
  fn: Math.min,
});
