import { unaryOp } from "./elementwise.js";

/** Elementwise square. */
export const square = unaryOp("square", "Elementwise square.", {
  expr: (x) => `((${x}) * (${x}))`,
  fn: (x) => x * x,
});
