import { unaryOp } from "./elementwise.js";

/** Elementwise sign (-1, 0 or 1); its gradient is zero. */
export const sign = unaryOp("sign", "Elementwise sign (-1, 0 or 1); its gradient is zero.", {
  expr: (x) => `Math.sign(${x})`,
  fn: Math.sign,
});
