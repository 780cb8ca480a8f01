/**
 * Checking one op's VJP rule against finite differences on generated cases.
 * @module
 */
import {
  compile,
  type Graph,
  GraphBuilder,
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
import { OP_SPECS, type OpCase, type OpSpec } from "./opSpecs.js";

/** Options of {@link checkOpCase} and {@link checkOpGradients}: gradcheck's, minus what the case decides. */
export type OpCheckOptions = Omit<GradcheckOptions, "of" | "wrt" | "params">;

/** The outcome of {@link checkOpCase}. */
export interface OpCheckResult {
  /** True when finite differences agree and every "zero" gradient is exactly zero. */
  readonly ok: boolean;
  /** The op. */
  readonly op: OpName;
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
): { graph: Graph; feeds: Record<string, Tensor>; params: ParamStore; names: string[] } {
  const spec = OP_SPECS[op] as OpSpec<K>;
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
  const y = spec.build ? spec.build(b, xs, c.attrs) : b.op(op, xs, c.attrs);
  const n = y.shape.reduce<number>((p, d) => p * (d as number), 1);
  const w = b.constant(weights(n)).reshape(y.shape);
  b.output("y", y);
  b.output("loss", b.sum(b.mul(y, w)));
  return { graph: b.build(), feeds, params, names };
}

/** A readable one-case description: the op, its attributes, and each argument's shape and values. */
export function describeOpCase(op: OpName, c: OpCase): string {
  const args = c.args.map(
    (a, i) =>
      `${a.source === "param" ? "p" : "x"}${i} (${a.grad}) ${shapeToString(a.value.shape)} [${Array.from(a.value.data).join(", ")}]`,
  );
  return `${op} ${JSON.stringify(c.attrs)}: ${args.join("; ")}`;
}

/**
 * Checks op `op` on one case: the VJP of every `"fd"` argument against central finite
 * differences (exhaustively, in float64), and that every `"zero"` argument gets an exactly-zero
 * gradient.
 */
export function checkOpCase<K extends OpName>(
  op: K,
  c: OpCase<K>,
  options: OpCheckOptions = {},
): OpCheckResult {
  const { graph, feeds, params, names } = opCaseGraph(op, c);
  const fdNames = names.filter((_, i) => c.args[i]!.grad === "fd");
  const zeroNames = names.filter((_, i) => c.args[i]!.grad === "zero");
  const report = fdNames.length
    ? gradcheck(graph, feeds, { ...options, of: "loss", wrt: fdNames, params })
    : null;
  const zeroViolations: string[] = [];
  if (zeroNames.length) {
    const g = grad(graph, "loss", zeroNames, { rules: options.rules });
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
    ? `${op}: ok`
    : [
        `${op}: gradient check failed`,
        describeOpCase(op, c as OpCase),
        printGraph(graph),
        report ? formatGradcheckReport(report) : "",
        ...zeroViolations,
      ]
        .filter(Boolean)
        .join("\n");
  return { ok, op, graph, report, zeroViolations, message };
}

/**
 * A fast-check property: op `op`'s VJP equals finite differences on every case its
 * {@link OP_SPECS} entry generates (and zero gradients are exactly zero). A failure throws
 * with the case, the graph and the gradcheck report; fast-check shrinks it first.
 * @example
 * fc.assert(checkOpGradients("softmax"), fcParameters());
 */
export function checkOpGradients<K extends OpName>(
  op: K,
  options: OpCheckOptions = {},
): fc.IPropertyWithHooks<[OpCase<K>]> {
  const spec = OP_SPECS[op] as OpSpec<K>;
  const cases: fc.Arbitrary<OpCase<K>> = spec.cases.map((c) => ({
    ...c,
    [fc.toStringMethod]: () => describeOpCase(op, c as OpCase),
  }));
  return fc.property(cases, (c) => {
    const r = checkOpCase(op, c, options);
    if (!r.ok) throw new Error(r.message);
  });
}
