/**
 * Gradient checking, like `torch.autograd.gradcheck`/`gradgradcheck` and `jax.test_util.check_grads`
 * but for graphs:
 *
 * - {@link gradcheck}: reverse mode (`grad`) against central finite differences, for any number
 *   of outputs of any shape (the whole Jacobian, or random cotangents and directions);
 * - {@link gradgradcheck}: the same on the gradient graph (second derivatives);
 * - {@link jvpcheck}: forward mode (`jvp`) against reverse mode (`<J v, u> = <v, J^T u>`) and
 *   against finite differences.
 *
 * Every check casts the graph to `float64` (whatever its own dtype), compiles the forward graph
 * and the derivative graphs once each, then perturbs the param and input buffers in place
 * (restoring them exactly), so an exhaustive check costs two forward runs per coordinate and no
 * recompilation. Steps are scaled by `max(1, |x|)`, an entry's tolerance includes the finite
 * difference's rounding error (which grows with `|f|`), and a difference that misses its
 * tolerance is refined by Richardson extrapolation before it counts as a failure.
 * @module
 */
import type { Feeds, Graph } from "@gradgraph/core";
import { runGradcheck } from "./gradcheck/reverse.js";
import type { GradcheckOptions, GradcheckReport } from "./gradcheck/types.js";

export { jvpcheck } from "./gradcheck/forward.js";
export { type FormatGradcheckOptions, formatGradcheckReport } from "./gradcheck/report.js";
export { gradgradcheck } from "./gradcheck/second.js";
export {
  GRADCHECK_TOLERANCES,
  type GradcheckBlock,
  type GradcheckEntry,
  type GradcheckEntryKind,
  type GradcheckMode,
  type GradcheckOptions,
  type GradcheckReport,
  type GradcheckRichardson,
  type GradcheckStep,
  type GradcheckTolerance,
  type GradgradcheckOptions,
  type JvpcheckOptions,
} from "./gradcheck/types.js";

/**
 * Checks the derivatives of `graph`'s outputs computed by `grad` against central finite
 * differences.
 *
 * - A scalar `of` (the default: the first output) is checked coordinate by coordinate, as before.
 * - A non-scalar `of`, or several, are checked through their whole Jacobian in exhaustive mode
 *   (one reverse pass per output coordinate, two forward runs per input coordinate), or through
 *   `<u, J v>` with random cotangents `u` and directions `v` in random mode; `cotangents` fixes `u`
 *   (a vector-Jacobian product check).
 * - Entries are judged with `|a - n| <= max(atol, rtol * max(|a|, |n|)) + noise`, where `noise`
 *   bounds the finite difference's rounding error; a failing entry is recomputed with Richardson
 *   extrapolation (`richardson: "auto"`) before it counts.
 *
 * @param graph any graph; it is cast to `options.dtype` (float64 by default) for the check
 * @param feeds values of the inputs the outputs need (any dtype; converted)
 * @param options what to check and how (see {@link GradcheckOptions})
 * @returns a report: `ok`, the largest errors, the worst entries, a summary per (`of`, `wrt`)
 *   pair and the number of evaluations
 * @example
 * const report = gradcheck(graph, { x, y }, { params });
 * if (!report.ok) console.log(formatGradcheckReport(report));
 * // the whole Jacobian of a [2, 3] output with respect to input x
 * gradcheck(graph, { x }, { of: "logits", wrt: ["x"] });
 */
export function gradcheck(graph: Graph, feeds: Feeds = {}, options: GradcheckOptions = {}): GradcheckReport {
  return runGradcheck(graph, feeds, options, "gradcheck");
}
