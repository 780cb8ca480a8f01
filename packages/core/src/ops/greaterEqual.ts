import { binaryOp } from "./elementwise.js";

/** Elementwise a >= b as 1 or 0; its gradient is zero. */
export const greaterEqual = binaryOp("greaterEqual", "Elementwise a >= b as 1 or 0; its gradient is zero.", {
  expr: (a, b) => `((${a}) >= (${b}) ? 1 : 0)`,
  fn: (a, b) => (a >= b ? 1 : 0),
});
