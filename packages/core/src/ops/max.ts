import { reductionOp } from "./reduce.js";

/** Maximum over axes (all when axes is null), optionally keeping reduced dims. */
export const max = reductionOp(
  "max",
  "Maximum over axes (all when axes is null), optionally keeping reduced dims.",
);
