/**
 * {@link gradgradcheck}: second derivatives, by checking the gradient graph with `gradcheck`.
 * @module
 */
import {
  castGraph,
  type Feed,
  type Feeds,
  type Graph,
  GraphBuilder,
  GraphError,
  Rng,
  sizeOf,
  Tensor,
  topoOrder,
  type Value,
  withOutputs,
} from "@gradgraph/core";
import { grad, gradName } from "../grad.js";
import { freshName } from "../util.js";
import {
  checkCotangentNames,
  concreteShapes,
  normals,
  paramsIn,
  resolveOf,
  resolveWrt,
  userVector,
} from "./probe.js";
import { resolveSettings, runGradcheck } from "./reverse.js";
import type { GradcheckReport, GradgradcheckOptions } from "./types.js";

const WHO = "gradgradcheck";

/**
 * Checks second derivatives, like `torch.autograd.gradgradcheck`: builds the first-order gradient
 * graph `x -> J^T u` with `grad` (`u`: the `cotangents`, ones for a scalar `of` by default, so the
 * gradient itself, random values for a non-scalar one), then checks that graph's own derivatives
 * (computed by differentiating it again with `grad`) against finite differences of the gradient,
 * with the machinery of {@link gradcheck}.
 *
 * In exhaustive mode this compares the whole Hessian (for a scalar `of`) entry by entry: one
 * reverse pass per gradient coordinate and two runs of the gradient graph per coordinate. In
 * random mode it compares `<w, H v>` for random `w` and `v`; with `gradCotangents` it compares
 * the Hessian-vector product `H w` (the gradient of `<w, grad f>`) coordinate by coordinate.
 * The derivatives with respect to the first-order cotangents (`cotangent:<of>` inputs) are checked
 * too when `of` is not a scalar (see {@link GradgradcheckOptions.checkCotangents}).
 *
 * The report's `of` entries are the gradient outputs, `grad:<wrt>`. VJP `rules` apply to both
 * passes. Tolerances are gradcheck's.
 * @param graph any graph; it is cast to `options.dtype` (float64 by default)
 * @param feeds values of the inputs (any dtype; converted)
 * @param options what to check and how (see {@link GradgradcheckOptions})
 * @returns the report of the check of the gradient graph
 * @example
 * const report = gradgradcheck(graph, { x }, { wrt: ["W"] }); // the Hessian of the loss in W
 * if (!report.ok) console.log(formatGradcheckReport(report));
 */
export function gradgradcheck(
  graph: Graph,
  feeds: Feeds = {},
  options: GradgradcheckOptions = {},
): GradcheckReport {
  const s = resolveSettings(WHO, options);
  const { ids: ofIds, names: ofNames } = resolveOf(WHO, graph, options.of);
  if (new Set(ofNames).size !== ofNames.length)
    throw new GraphError(`${WHO}: an output appears twice in 'of'`);
  const needed = new Set(topoOrder(graph, ofIds));
  const wrt = resolveWrt(WHO, graph, needed, options.wrt);
  const given = options.cotangents ?? {};
  checkCotangentNames(WHO, given, ofNames);

  // the first-order cotangents u
  const cast = castGraph(graph, "float64");
  const params = paramsIn(graph, cast, "float64", options.params, s.seed);
  const shapes = concreteShapes(WHO, cast, ofIds, feeds, params);
  const rng = new Rng(s.seed ^ 0x99c0);
  const scalarOnly = ofIds.length === 1 && sizeOf(shapes[0]!) === 1 && !Object.hasOwn(given, ofNames[0]!);
  const u: Float64Array[] = shapes.map((shape, i) => {
    const name = ofNames[i]!;
    if (Object.hasOwn(given, name)) return userVector(WHO, `cotangent of '${name}'`, given[name]!, shape);
    const n = sizeOf(shape);
    return n === 1 ? new Float64Array([1]) : normals(rng, n);
  });

  // the gradient graph: outputs grad:<w> = sum_i J_i^T u_i
  const taken = new Set<string>();
  let prefix = "grad:";
  for (let i = 1; wrt.some((w) => Object.hasOwn(graph.outputs, gradName(w, prefix))); i++)
    prefix = `grad~${i}:`;
  const uNames = scalarOnly ? [] : ofNames.map((n) => freshName(graph, `cotangent:${n}`, taken));
  let g1: Graph;
  if (scalarOnly) g1 = grad(graph, ofIds[0]!, wrt, { prefix, rules: options.rules });
  else if (ofIds.length === 1)
    g1 = grad(graph, ofIds[0]!, wrt, { prefix, seed: uNames[0]!, rules: options.rules });
  else {
    const b = GraphBuilder.extend(graph);
    let sum: Value | null = null;
    for (let i = 0; i < ofIds.length; i++) {
      const y = b.ref(ofIds[i]!);
      const term = b.sum(b.mul(y, b.input(uNames[i]!, y.shape, y.dtype)));
      sum = sum ? b.add(sum, term) : term;
    }
    const sName = freshName(graph, "gradgradcheck:sum", taken);
    b.output(sName, sum!);
    g1 = grad(b.build(), sName, wrt, { prefix, rules: options.rules });
  }
  const gradOutputs = wrt.map((w) => gradName(w, prefix));
  g1 = withOutputs(g1, Object.fromEntries(gradOutputs.map((o) => [o, o])));

  const feeds2: Record<string, Feed> = { ...feeds };
  uNames.forEach((n, i) => {
    feeds2[n] = new Tensor(shapes[i]!, u[i]!);
  });
  const checkU = options.checkCotangents ?? true;
  const wrt2 = [...wrt, ...(checkU ? uNames.filter((_, i) => sizeOf(shapes[i]!) > 1) : [])];
  let cotangents2: Record<string, Feed> | undefined;
  if (options.gradCotangents) {
    cotangents2 = {};
    for (const [w, value] of Object.entries(options.gradCotangents)) {
      if (!wrt.includes(w)) {
        throw new GraphError(`${WHO}: gradCotangents names '${w}', which is not in wrt (${wrt.join(", ")})`);
      }
      cotangents2[gradName(w, prefix)] = value;
    }
  }
  return runGradcheck(g1, feeds2, { ...options, of: gradOutputs, wrt: wrt2, cotangents: cotangents2 }, WHO);
}
