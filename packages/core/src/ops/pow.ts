import { binaryOp } from "./elementwise.js";

/** Elementwise power a^b with broadcasting. */
export const pow = binaryOp("pow", "Elementwise power a^b with broadcasting.", {
  expr: (a, b) => `Math.pow(${a}, ${b})`,
  fn: Math.pow,
});
