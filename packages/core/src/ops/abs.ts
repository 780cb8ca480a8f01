import { unaryOp } from "./elementwise.js";

/** Elementwise absolute value. */
export const abs = unaryOp("abs", "Elementwise absolute value.", {
  expr: (x) => `Math.abs(${x})`,
  fn: Math.abs,
});
