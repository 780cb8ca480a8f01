import { unaryOp } from "./elementwise.js";

/** Elementwise square. */
export const square = unaryOp("square", "Elementwise square.", {
  expr: (x) => `((${x}) ** 2)`,
  fn: (x) => x * x,
});
