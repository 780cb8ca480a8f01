import { unaryOp } from "./elementwise.js";

/** Elementwise rectified linear unit max(x, 0). */
export const relu = unaryOp("relu", "Elementwise rectified linear unit max(x, 0).", {
  expr: (x) => `Math.max(${x}, 0)`,
  fn: (x) => Math.max(x, 0),
});
