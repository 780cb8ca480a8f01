import { binaryOp } from "./elementwise.js";

/** Elementwise maximum with broadcasting. */
export const maximum = binaryOp("maximum", "Elementwise maximum with broadcasting.", {
  expr: (a, b) => `Math.max(${a}, ${b})`,
  fn: Math.max,
});
