import { unaryOp } from "./elementwise.js";

/** Elementwise negation. */
export const neg = unaryOp("neg", "Elementwise negation.", {
  expr: (x) => `(-(${x}))`,
  fn: (x) => -x,
});
