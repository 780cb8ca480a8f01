import { unaryOp } from "./elementwise.js";

/** Elementwise square root. */
export const sqrt = unaryOp("sqrt", "Elementwise square root.", {
  expr: (x) => `Math.sqrt(${x})`,
  fn: Math.sqrt,
});
