import { reductionOp } from "./reduce.js";

/** Sum over axes (all when axes is null), optionally keeping reduced dims. */
export const sum = reductionOp(
  "sum",
  "Sum over axes (all when axes is null), optionally keeping reduced dims.",
);
