import { GRAPH_FORMAT, type Graph } from "../graph.js";
import type { OpDef } from "./types.js";
import { intAttr } from "./util.js";

/**
 * Attributes of a `customGradient` node (made by the `customGradient` function). The node has
 * `inputs + 1` inputs: the wrapped sub-graph's output first, then the `inputs` values the custom
 * rule differentiates with respect to. Its rules are stored as graphs, so a graph holding one
 * serialises, prints and parses like any other and needs nothing registered to be read back.
 */
export interface CustomGradientAttrs {
  /** A label shown in printouts and messages (may be empty). */
  readonly name: string;
  /** Number of wrapped inputs `n` (at least 1). */
  readonly inputs: number;
  /**
   * The VJP rule as a graph: inputs `x0` ... `x<n-1>` (the wrapped inputs), `y` (the output) and
   * `g` (its cotangent); outputs `grad<k>` for every input that has a gradient.
   */
  readonly backward: Graph;
  /**
   * The JVP rule as a graph, or null: inputs `x0` ... `x<n-1>`, `y` and `t0` ... `t<n-1>` (the
   * inputs' tangents); output `t`. Without one, forward mode differentiates the wrapped sub-graph.
   */
  readonly tangent: Graph | null;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** True when `x` looks like a graph (its format tag and tables), not a check of its nodes. */
export function isGraphValue(x: unknown): x is Graph {
  return (
    isRecord(x) &&
    x.format === GRAPH_FORMAT &&
    Array.isArray(x.nodes) &&
    isRecord(x.inputs) &&
    isRecord(x.params) &&
    isRecord(x.outputs)
  );
}

/** Checks a rule graph's input and output names; throws an Error naming the field. */
function checkRuleGraph(
  field: string,
  g: unknown,
  inputs: readonly string[],
  outputs: readonly string[],
  required: boolean,
): Graph {
  if (!isGraphValue(g)) throw new Error(`customGradient: attribute '${field}' must be a graph`);
  const have = Object.keys(g.inputs).sort();
  const want = [...inputs].sort();
  if (have.length !== want.length || have.some((n, i) => n !== want[i])) {
    throw new Error(
      `customGradient: '${field}' must have the inputs ${want.join(", ")}, it has ${have.join(", ") || "none"}`,
    );
  }
  if (Object.keys(g.params).length > 0) {
    throw new Error(`customGradient: '${field}' must not declare params`);
  }
  for (const o of Object.keys(g.outputs)) {
    if (!outputs.includes(o))
      throw new Error(
        `customGradient: '${field}' has an unexpected output '${o}' (allowed: ${outputs.join(", ")})`,
      );
  }
  if (required && Object.keys(g.outputs).length !== outputs.length) {
    throw new Error(`customGradient: '${field}' must have the output ${outputs.join(", ")}`);
  }
  return g;
}

function validate(raw: CustomGradientAttrs): CustomGradientAttrs {
  const name = raw.name ?? "";
  if (typeof name !== "string") throw new Error(`customGradient: attribute 'name' must be a string`);
  const n = intAttr("customGradient", "inputs", raw.inputs);
  if (n < 1) throw new Error(`customGradient: attribute 'inputs' must be at least 1, got ${n}`);
  const xs = Array.from({ length: n }, (_, k) => `x${k}`);
  const backward = checkRuleGraph(
    "backward",
    raw.backward,
    [...xs, "y", "g"],
    xs.map((_, k) => `grad${k}`),
    false,
  );
  const tangent =
    raw.tangent === null || raw.tangent === undefined
      ? null
      : checkRuleGraph("tangent", raw.tangent, [...xs, "y", ...xs.map((_, k) => `t${k}`)], ["t"], true);
  return { name, inputs: n, backward, tangent };
}

/**
 * A sub-graph with a user-written derivative: the identity on its first input (the wrapped
 * sub-graph's output), whose VJP (and optional JVP) rule is a stored graph. See the
 * `customGradient` function.
 */
export const customGradient: OpDef<CustomGradientAttrs> = {
  name: "customGradient",
  doc: "Identity on the wrapped value; its derivative is a stored rule graph.",
  arity: "variadic",
  kind: "alias",
  attrs: validate,
  shape: (inputs, attrs) => {
    if (inputs.length !== attrs.inputs + 1) {
      throw new Error(
        `customGradient: expects ${attrs.inputs + 1} inputs (the wrapped value, then ${attrs.inputs}), got ${inputs.length}`,
      );
    }
    return inputs[0]!;
  },
  kernel: () => (ins, out) => {
    out.set(ins[0]!);
  },
};
