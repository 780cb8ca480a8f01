/** Runs the compiler's passes one by one, so each test can look at the form a pass produced. */
import type { ConcreteShape, Graph } from "@gradgraph/core";
import { bindDims } from "../../src/compile/bind-dims.js";
import { foldConstants } from "../../src/compile/fold.js";
import type { CompileOptions } from "../../src/compile/form.js";
import { fuseElementwise } from "../../src/compile/fuse.js";
import { schedule } from "../../src/compile/schedule.js";
import { selectOutputs } from "../../src/compile/select.js";
import { concretiseShapes } from "../../src/compile/shapes.js";

/** Every form up to (not including) allocation; nothing is allocated. */
export function stages(
  graph: Graph,
  inputShapes: Record<string, ConcreteShape> = {},
  options: CompileOptions = {},
) {
  const selected = selectOutputs({ graph, inputShapes, options });
  const bound = bindDims(selected);
  const concrete = concretiseShapes(bound);
  const folded = foldConstants(concrete);
  const fused = fuseElementwise(folded);
  const scheduled = schedule(fused);
  return { selected, bound, concrete, folded, fused, scheduled };
}
