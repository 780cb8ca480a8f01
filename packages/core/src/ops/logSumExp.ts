import { reductionOp } from "./reduce.js";

/** Numerically stable log(sum(exp(x))) over contiguous axes. */
export const logSumExp = reductionOp(
  "logSumExp",
  "Numerically stable log(sum(exp(x))) over contiguous axes.",
);
