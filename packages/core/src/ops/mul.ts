import { binaryOp } from "./elementwise.js";

/** Elementwise multiplication with broadcasting. */
export const mul = binaryOp("mul", "Elementwise multiplication with broadcasting.", {
  expr: (a, b) => `((${a}) * (${b}))`,
  fn: (a, b) => a * b,
});
