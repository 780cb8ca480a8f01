import { ternaryOp } from "./elementwise.js";

/** Elementwise select: `cond != 0 ? a : b`, all three broadcast together. */
export const where = ternaryOp("where", "Elementwise select: cond != 0 ? a : b, with broadcasting.", {
  expr: (c, a, b) => `((${c}) !== 0 ? (${a}) : (${b}))`,
  fn: (c, a, b) => (c !== 0 ? a : b),
});
