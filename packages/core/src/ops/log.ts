import { unaryOp } from "./elementwise.js";

/** Elementwise natural logarithm. */
export const log = unaryOp("log", "Elementwise natural logarithm.", {
  expr: (x) => `Math.log(${x})`,
  fn: Math.log,
});
