import { binaryOp } from "./elementwise.js";

/** Elementwise division with broadcasting. */
export const div = binaryOp("div", "Elementwise division with broadcasting.", {
  expr: (a, b) => `((${a}) / (${b}))`,
  fn: (a, b) => a / b,
});
