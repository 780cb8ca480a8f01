import { reductionOp } from "./reduce.js";

/** Mean over axes (all when axes is null), optionally keeping reduced dims. */
export const mean = reductionOp(
  "mean",
  "Mean over axes (all when axes is null), optionally keeping reduced dims.",
);
