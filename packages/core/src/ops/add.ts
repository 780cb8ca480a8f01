import { binaryOp } from "./elementwise.js";

/** Elementwise addition with broadcasting. */
export const add = binaryOp("add", "Elementwise addition with broadcasting.", {
  expr: (a, b) => `((${a}) + (${b}))`,
  fn: (a, b) => a + b,
});
