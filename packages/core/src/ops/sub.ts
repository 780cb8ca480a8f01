import { binaryOp } from "./elementwise.js";

/** Elementwise subtraction with broadcasting. */
export const sub = binaryOp("sub", "Elementwise subtraction with broadcasting.", {
  expr: (a, b) => `((${a}) - (${b}))`,
  fn: (a, b) => a - b,
});
