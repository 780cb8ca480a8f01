import { unaryOp } from "./elementwise.js";

/** Elementwise natural exponential. */
export const exp = unaryOp("exp", "Elementwise natural exponential.", {
  expr: (x) => `Math.exp(${x})`,
  fn: Math.exp,
});
