/**
 * Checking one op's VJP rule against finite differences on generated cases: a built-in op with
 * its {@link OP_SPECS} entry, or a user op (`defineOp`) with the cases you give (elementwise user
 * ops of arity 1 or 2 have default cases).
 * @module
 */
import {
  type AnyOpName,
  type CustomArity,
  type CustomAttrs,
  type CustomOp,
  compile,
  customOpDef,
  type Graph,
  GraphBuilder,
  GraphError,
  isOpName,
  type OpName,
  ParamStore,
  printGraph,
  Rng,
  shapeToString,
  type Tensor,
  type Value,
} from "@gradgraph/core";
import fc from "fast-check";
import { grad, gradName } from "../grad.js";
import {
  formatGradcheckReport,
  type GradcheckOptions,
  type GradcheckReport,
  gradcheck,
} from "../gradcheck.js";
import {
  binaryOpSpec,
  OP_SPECS,
  type OpArg,
  type OpCase,
  type OpTestCase,
  type OpTestSpec,
  unaryOpSpec,
} from "./opSpecs.js";

/** Options of {@link checkOpCase} and {@link checkOpGradients}: gradcheck's, minus what the case decides. */
export type OpCheckOptions = Omit<GradcheckOptions, "of" | "wrt" | "params">;

/** Options of {@link checkOpCase} and {@link checkOpGradients} for a user op. */
export interface UserOpCheckOptions<A> extends OpCheckOptions {
  /**
   * How to generate the op's cases and build its node (see `unaryOpSpec`, `binaryOpSpec`).
   * Required unless the op is elementwise with arity 1 or 2: those default to values in [-3, 3]
   * (broadcast-compatible shapes for two inputs).
   */
  readonly spec?: OpTestSpec<A>;
}

/** The name of an op given as a name or a user op's handle. */
function nameOf(op: string | { readonly name: string }): string {
  return typeof op === "string" ? op : op.name;
}

/**
 * The test spec of `op`: the given one, the built-in table's, or the default of an elementwise
 * user op; a GraphError when there is none.
 * @internal
 */
export function opTestSpec(op: string, given?: OpTestSpec<object>): OpTestSpec<object> {
  if (given) return given;
  if (isOpName(op)) return OP_SPECS[op] as OpTestSpec<object>;
  const def = customOpDef(op);
  if (!def) throw new GraphError(`unknown op '${op}': neither a built-in op nor registered with defineOp`);
  if (def.elementwise && def.arity === 1) return unaryOpSpec({ min: -3, max: 3 });
  if (def.elementwise && def.arity === 2) return binaryOpSpec({ min: -3, max: 3 }, { min: -3, max: 3 });
  throw new GraphError(
    `user op '${op}' has no default test cases (only elementwise ops of arity 1 or 2 do); pass options.spec`,
  );
}

/** The outcome of {@link checkOpCase}. */
export interface OpCheckResult {
  /** True when finite differences agree and every "zero" gradient is exactly zero. */
  readonly ok: boolean;
  /** The op. */
  readonly op: AnyOpName;
  /** The graph checked: the op on its arguments, then `loss = sum(y * w)` with fixed weights `w`. */
  readonly graph: Graph;
  /** The finite-difference report (null when no argument is checked that way). */
  readonly report: GradcheckReport | null;
  /** Arguments whose gradient should be exactly zero but is not, with the first bad value. */
  readonly zeroViolations: readonly string[];
  /** A readable summary (graph, report, violations). */
  readonly message: string;
}

/** Deterministic weights in [-1, 1) of `n` elements (the cotangent of the op under test). */
function weights(n: number): number[] {
  const rng = new Rng(0x9a7d);
  return Array.from({ length: n }, () => rng.uniform(-1, 1));
}

/** Builds the test graph of one op case: inputs `x<i>` (or params `p<i>`), `y = op(...)`, `loss = sum(y * w)`. */
export function opCaseGraph<K extends OpName>(
  op: K,
  c: OpCase<K>,
): { graph: Graph; feeds: Record<string, Tensor>; params: ParamStore; names: string[] };
export function opCaseGraph<A extends object, N extends CustomArity>(
  op: CustomOp<A, N> | string,
  c: OpTestCase<A>,
  spec?: OpTestSpec<A>,
): { graph: Graph; feeds: Record<string, Tensor>; params: ParamStore; names: string[] };
export function opCaseGraph(
  op: string | { readonly name: string },
  c: OpTestCase<object>,
  spec?: OpTestSpec<object>,
): { graph: Graph; feeds: Record<string, Tensor>; params: ParamStore; names: string[] } {
  const name = nameOf(op);
  const build = spec?.build ?? (isOpName(name) ? (OP_SPECS[name] as OpTestSpec<object>).build : undefined);
  const b = new GraphBuilder({ dtype: "float64" });
  const feeds: Record<string, Tensor> = {};
  const params = new ParamStore();
  const names: string[] = [];
  const xs: Value[] = c.args.map((a, i) => {
    if (a.source === "param") {
      const name = `p${i}`;
      names.push(name);
      params.set(name, a.value.clone());
      return b.param(name, a.value.shape);
    }
    const name = `x${i}`;
    names.push(name);
    feeds[name] = a.value;
    return b.input(name, a.value.shape);
  });
  const y = build ? build(b, xs, c.attrs) : b.op(name, xs, c.attrs);
  const n = y.shape.reduce<number>((p, d) => p * (d as number), 1);
  const w = b.constant(weights(n)).reshape(y.shape);
  b.output("y", y);
  b.output("loss", b.sum(b.mul(y, w)));
  return { graph: b.build(), feeds, params, names };
}

/** A readable one-case description: the op, its attributes, and each argument's shape and values. */
export function describeOpCase(
  op: string,
  c: { readonly args: readonly OpArg[]; readonly attrs: object },
): string {
  const args = c.args.map(
    (a, i) =>
      `${a.source === "param" ? "p" : "x"}${i} (${a.grad}) ${shapeToString(a.value.shape)} [${Array.from(a.value.data).join(", ")}]`,
  );
  return `${op} ${JSON.stringify(c.attrs)}: ${args.join("; ")}`;
}

/**
 * Checks op `op` on one case: the VJP of every `"fd"` argument against central finite
 * differences (exhaustively, in float64), and that every `"zero"` argument gets an exactly-zero
 * gradient. `op` is a built-in op, or a user op's handle or name (its node is built with
 * `options.spec.build` when given, else with `b.op`).
 */
export function checkOpCase<K extends OpName>(op: K, c: OpCase<K>, options?: OpCheckOptions): OpCheckResult;
export function checkOpCase<A extends object, N extends CustomArity>(
  op: CustomOp<A, N> | string,
  c: OpTestCase<A>,
  options?: UserOpCheckOptions<A>,
): OpCheckResult;
export function checkOpCase(
  op: string | { readonly name: string },
  c: OpTestCase<object>,
  options: UserOpCheckOptions<object> = {},
): OpCheckResult {
  const { spec, ...gradcheckOptions } = options;
  const opName = nameOf(op) as AnyOpName;
  const { graph, feeds, params, names } = opCaseGraph(opName, c, spec);
  const fdNames = names.filter((_, i) => c.args[i]!.grad === "fd");
  const zeroNames = names.filter((_, i) => c.args[i]!.grad === "zero");
  const report = fdNames.length
    ? gradcheck(graph, feeds, { ...gradcheckOptions, of: "loss", wrt: fdNames, params })
    : null;
  const zeroViolations: string[] = [];
  if (zeroNames.length) {
    const g = grad(graph, "loss", zeroNames, { rules: gradcheckOptions.rules });
    const exe = compile(g, { outputs: zeroNames.map((n) => gradName(n)), params });
    try {
      const out = exe.run(Object.fromEntries(exe.inputNames.map((k) => [k, feeds[k]!])));
      for (const n of zeroNames) {
        const data = out[gradName(n)]!.data;
        const bad = data.findIndex((v) => v !== 0);
        if (bad >= 0)
          zeroViolations.push(`${n}: gradient element ${bad} is ${data[bad]}, expected exactly 0`);
      }
    } finally {
      exe.dispose();
    }
  }
  const ok = (report?.ok ?? true) && zeroViolations.length === 0;
  const message = ok
    ? `${opName}: ok`
    : [
        `${opName}: gradient check failed`,
        describeOpCase(opName, c),
        printGraph(graph),
        report ? formatGradcheckReport(report) : "",
        ...zeroViolations,
      ]
        .filter(Boolean)
        .join("\n");
  return { ok, op: opName, graph, report, zeroViolations, message };
}

/**
 * A fast-check property: op `op`'s VJP equals finite differences on every case its test spec
 * generates (and zero gradients are exactly zero). A failure throws with the case, the graph and
 * the gradcheck report; fast-check shrinks it first. `op` is a built-in op (cases from
 * {@link OP_SPECS}) or a user op's handle or name (cases from `options.spec`, or the default of an
 * elementwise op).
 * @example
 * fc.assert(checkOpGradients("softmax"), fcParameters());
 * fc.assert(checkOpGradients(softplus), fcParameters()); // a user op (elementwise: default cases)
 * fc.assert(checkOpGradients(myLog, { spec: unaryOpSpec({ min: 0.2, max: 4 }) }), fcParameters());
 */
export function checkOpGradients<K extends OpName>(
  op: K,
  options?: OpCheckOptions,
): fc.IPropertyWithHooks<[OpCase<K>]>;
export function checkOpGradients<A extends object, N extends CustomArity>(
  op: CustomOp<A, N>,
  options?: UserOpCheckOptions<A>,
): fc.IPropertyWithHooks<[OpTestCase<A>]>;
export function checkOpGradients<A extends object = CustomAttrs>(
  op: string,
  options?: UserOpCheckOptions<A>,
): fc.IPropertyWithHooks<[OpTestCase<A>]>;
export function checkOpGradients(
  op: string | { readonly name: string },
  options: UserOpCheckOptions<object> = {},
): fc.IPropertyWithHooks<[OpTestCase<object>]> {
  const name = nameOf(op);
  const spec = opTestSpec(name, options.spec);
  const cases: fc.Arbitrary<OpTestCase<object>> = spec.cases.map((c) => ({
    ...c,
    [fc.toStringMethod]: () => describeOpCase(name, c),
  }));
  return fc.property(cases, (c) => {
    const r = checkOpCase(name, c, { ...options, spec });
    if (!r.ok) throw new Error(r.message);
  });
}
