import { unaryOp } from "./elementwise.js";

/** Elementwise hyperbolic tangent. */
export const tanh = unaryOp("tanh", "Elementwise hyperbolic tangent.", {
  expr: (x) => `Math.tanh(${x})`,
  fn: Math.tanh,
});
