/**
 * {@link defineOp}: registering a user op at run time, with the built-in ops' contract.
 * @module
 */
import type { GraphBuilder, Value, ValueLike } from "../builder.js";
import { isDType } from "../dtype.js";
import { GraphError } from "../graph.js";
import { isValidDim, ShapeError, shapeToString, tryBroadcastShapes } from "../shape.js";
import { elementwiseKernel, elementwiseShape } from "./elementwise.js";
import { isOpName } from "./index.js";
import { type CustomOpDef, type CustomOpName, customOpDef, registerOp } from "./registry.js";
import type {
  Arity,
  CustomAttrs,
  ElementwiseSpec,
  JvpRuleFn,
  Kernel,
  KernelContext,
  NoAttrs,
  TypeInfo,
  VjpRuleFn,
} from "./types.js";

/** How many inputs a user op takes (user ops take at least one). */
export type CustomArity = Exclude<Arity, 0>;

/** The input arguments of a user op's handle for arity `N`: one value per input, or one list when variadic. */
export type OpInputs<N extends CustomArity> = N extends 1
  ? [x: ValueLike]
  : N extends 2
    ? [a: ValueLike, b: ValueLike]
    : N extends 3
      ? [a: ValueLike, b: ValueLike, c: ValueLike]
      : [xs: readonly ValueLike[]];

/**
 * What an attribute validator is given: the node's stored attributes (plain JSON data, from the
 * builder or read from JSON), or the attributes typed as the op's `Partial<A>`, or its own result
 * `A` (validators are idempotent). Declare a validator `(raw: AttrsInput<MyAttrs>) => MyAttrs` so
 * that `myAttrs(myAttrs(raw))` typechecks even when `MyAttrs` is an interface (an interface is not
 * assignable to {@link CustomAttrs}, a record type).
 */
export type AttrsInput<A extends object> = CustomAttrs | Partial<A>;

/**
 * A kernel for one array type: `Float32Array`s for `"float32"` graphs, `Float64Array`s for
 * `"float64"` ones (inputs and output alike).
 */
export type TypedKernel<T extends Float32Array | Float64Array> = (inputs: readonly T[], out: T) => void;

/**
 * A kernel factory per dtype, the alternative to one `kernel(ctx)` that checks `ctx.dtype`: each
 * builds a kernel that gets its own array type, so each loop is typed (and stays monomorphic)
 * without casts. `defineOp` calls the one matching the node's dtype.
 * @example
 * kernel: {
 *   float32: ({ attrs }) => (ins, out) => loop(ins[0]!, out, attrs.beta), // Float32Array
 *   float64: ({ attrs }) => (ins, out) => loop(ins[0]!, out, attrs.beta), // Float64Array
 * },
 */
export interface DTypeKernels<A> {
  /** Builds the kernel for a float32 node. */
  readonly float32: (ctx: KernelContext<A>) => TypedKernel<Float32Array>;
  /** Builds the kernel for a float64 node. */
  readonly float64: (ctx: KernelContext<A>) => TypedKernel<Float64Array>;
}

/** Everything {@link defineOp} needs to know about an op. `A` is its attribute type. */
export interface DefineOpConfig<A extends object, N extends CustomArity> {
  /**
   * The op's name: a letter or `_`, then letters, digits and `_ . : / -` (at most 100 characters).
   * It must not be a built-in op's; a namespace such as `"myproject.softplus"` avoids clashes.
   */
  readonly name: string;
  /** One line of documentation. */
  readonly doc: string;
  /** Number of inputs (1, 2, 3 or `"variadic"`). */
  readonly arity: N;
  /**
   * Validates and normalises attributes (the builder's, or those read from JSON) and throws an
   * Error naming the bad field. It must be idempotent (`attrs(attrs(raw))` equals `attrs(raw)`),
   * and its result must be plain JSON data: it is what graphs store and serialise. Without it the
   * op takes no attributes. Not allowed with `elementwise` (a fused expression cannot see them).
   * A validator written on its own may type its parameter {@link AttrsInput}`<A>`, so that it
   * also accepts its own result (`softplusAttrs(softplusAttrs(raw))`) when `A` is an interface.
   */
  readonly attrs?: (raw: CustomAttrs) => A;
  /**
   * Output shape and dtype from the inputs' and the attributes (throws an Error describing a
   * mismatch; the builder adds the node and the input shapes). Required unless `elementwise` is
   * given, which implies numpy broadcasting of the inputs and their common dtype.
   */
  readonly shape?: (inputs: readonly TypeInfo[], attrs: A) => TypeInfo;
  /**
   * Builds the kernel for concrete shapes; `ctx.dtype` says whether it gets Float32Arrays or
   * Float64Arrays. The kernel reads its inputs and writes the whole output, must not allocate, and
   * may assume the output does not alias an input. Or `{ float32, float64 }` ({@link DTypeKernels}):
   * one factory per dtype, each building a kernel typed with its own array type. Optional when
   * `elementwise` is given (a generated loop is used).
   */
  readonly kernel?: ((ctx: KernelContext<A>) => Kernel) | DTypeKernels<A>;
  /**
   * For elementwise ops (fixed arity, no attributes): the arithmetic as expression text and as a
   * function. The compiler then fuses the op into loops with its elementwise neighbours.
   */
  readonly elementwise?: ElementwiseSpec;
  /**
   * The VJP rule, written with builder ops (so it can be differentiated again), or `"zero"` for a
   * gradient that is zero wherever it exists. Without it `grad` fails on the op, naming the node.
   */
  readonly vjp?: VjpRuleFn<A> | "zero";
  /** The JVP rule (forward mode), or `"zero"`. Without it `jvp` fails on the op, naming the node. */
  readonly jvp?: JvpRuleFn<A> | "zero";
  /**
   * Replace an op already registered under this name (default false: defining a name twice
   * throws). Graphs keep only the name, so every later use of the name (building, compiling,
   * differentiating, parsing) gets the new definition, including graphs built before.
   */
  readonly replace?: boolean;
}

/**
 * The typed handle {@link defineOp} returns. Call it with a builder, the inputs and optional
 * attributes to add a node: `softplus(b, x)`, `scaled(b, x, { factor: 2 })`, or for a variadic op
 * `op(b, [x, y, z], attrs)`. `b.call(handle, inputs, attrs)` and `b.op(handle.name, ...)` do the same.
 */
export interface CustomOp<A extends object = NoAttrs, N extends CustomArity = CustomArity> {
  /** Adds a node of this op to `b`'s graph. */
  (b: GraphBuilder, ...args: [...OpInputs<N>, attrs?: Partial<A>]): Value;
  /** The op's registered name (what graph nodes store). */
  readonly name: CustomOpName;
  /** Its documentation line. */
  readonly doc: string;
  /** Its arity. */
  readonly arity: N;
  /** Its current definition (follows a redefinition with `replace`). */
  readonly def: CustomOpDef<A>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:/-]*$/;

/**
 * The shape rule of an elementwise op, for a user op that needs `shape` (one with attributes, or
 * a hand-written kernel): the inputs broadcast together with numpy's rules (symbolic dims
 * included), and the output has their common dtype. Pass it as is (`shape: broadcastShapeRule`)
 * or call it from a rule of your own. Throws a ShapeError when the shapes do not broadcast or
 * the dtypes differ (the builder adds the op, the node and the input shapes).
 * @example
 * defineOp({ name: "myproject.scaledAdd", doc: "a + factor * b", arity: 2, attrs, shape: broadcastShapeRule, kernel });
 */
export function broadcastShapeRule(inputs: readonly TypeInfo[], _attrs?: unknown): TypeInfo {
  if (inputs.length === 0) throw new ShapeError("broadcastShapeRule: needs at least one input");
  let shape: TypeInfo["shape"] | null = inputs[0]!.shape;
  for (let i = 1; i < inputs.length && shape; i++) shape = tryBroadcastShapes(shape, inputs[i]!.shape);
  if (!shape) {
    throw new ShapeError(
      `shapes ${inputs.map((t) => shapeToString(t.shape)).join(" and ")} cannot be broadcast together`,
    );
  }
  const dtype = inputs[0]!.dtype;
  if (inputs.some((t) => t.dtype !== dtype)) {
    throw new ShapeError(`mixed dtypes ${inputs.map((t) => t.dtype).join(" and ")}`);
  }
  return { shape: [...shape], dtype };
}

function checkTypeInfo(name: string, t: unknown): TypeInfo {
  const info = t as TypeInfo | null;
  if (
    typeof info !== "object" ||
    info === null ||
    !Array.isArray(info.shape) ||
    !info.shape.every(isValidDim) ||
    !isDType(info.dtype)
  ) {
    throw new ShapeError(
      `${name}: the shape rule must return { shape, dtype } with valid dims and a dtype, got ${String(JSON.stringify(t))}`,
    );
  }
  return { shape: [...info.shape], dtype: info.dtype };
}

/** Checks that `expr` and `fn` agree on a few points (catches a typo in one of them). */
function checkElementwise(name: string, arity: number, spec: ElementwiseSpec): void {
  if (typeof spec.expr !== "function" || typeof spec.fn !== "function") {
    throw new GraphError(`defineOp '${name}': 'elementwise' needs an 'expr' and an 'fn' function`);
  }
  const args = Array.from({ length: arity }, (_, k) => `a${k}`);
  const text = spec.expr(...args);
  if (typeof text !== "string")
    throw new GraphError(`defineOp '${name}': 'elementwise.expr' must return a string`);
  let compiled: ((...v: number[]) => number) | null = null;
  try {
    compiled = new Function(...args, `return (${text});`) as (...v: number[]) => number;
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new GraphError(`defineOp '${name}': 'elementwise.expr' is not a JavaScript expression: ${text}`);
    }
    return; // code generation is not allowed here (e.g. a content security policy): skip the check
  }
  const points = [0.5, -1.25, 2, 0.1];
  for (let i = 0; i < points.length; i++) {
    const v = args.map((_, k) => points[(i + k) % points.length]!);
    const a = compiled(...v);
    const b = spec.fn(...v);
    const same = Object.is(a, b) || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
    if (!same) {
      throw new GraphError(
        `defineOp '${name}': 'elementwise.expr' and 'elementwise.fn' disagree at (${v.join(", ")}): ${a} vs ${b}`,
      );
    }
  }
}

function checkRule(name: string, field: "vjp" | "jvp", rule: unknown): void {
  if (rule !== undefined && rule !== "zero" && typeof rule !== "function") {
    throw new GraphError(`defineOp '${name}': '${field}' must be a function or "zero", got ${String(rule)}`);
  }
}

/**
 * Registers a user op and returns a typed handle to call it with. The op gets the built-in ops'
 * contract: the builder validates its attributes and infers its shape when a node is made (errors
 * name the op, the node and the input shapes), the compiler runs its kernel (or fuses its
 * elementwise expression), `grad`/`jvp` use its rules, and graphs using it serialise and parse
 * (when the reader has registered it too).
 *
 * Names must not be a built-in op's, and defining a registered name again throws unless `replace`
 * is set. Invalid configurations throw a GraphError naming the op and the field.
 * @example
 * const softplus = defineOp({
 *   name: "softplus",
 *   doc: "log(1 + exp(x)), computed stably.",
 *   arity: 1,
 *   elementwise: {
 *     expr: (x) => `(Math.max(${x}, 0) + Math.log1p(Math.exp(-Math.abs(${x}))))`,
 *     fn: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
 *   },
 *   vjp: ({ b, g, x }) => [b.mul(g, b.sigmoid(x[0]!))],
 *   jvp: ({ b, t, x }) => b.mul(t[0]!, b.sigmoid(x[0]!)),
 * });
 * const y = softplus(b, x); // or b.call(softplus, [x]), or b.op("softplus", [x])
 */
export function defineOp<A extends object = NoAttrs, const N extends CustomArity = CustomArity>(
  config: DefineOpConfig<A, N>,
): CustomOp<A, N> {
  const name = config?.name;
  if (typeof name !== "string" || !NAME.test(name) || name.length > 100) {
    throw new GraphError(
      `defineOp: invalid name ${JSON.stringify(name)} (a letter or '_', then letters, digits or _ . : / -; at most 100 characters)`,
    );
  }
  if (isOpName(name)) {
    throw new GraphError(
      `defineOp: '${name}' is a built-in op; a user op needs another name (e.g. 'myproject.${name}')`,
    );
  }
  const previous = customOpDef(name);
  if (previous && !config.replace) {
    throw new GraphError(
      `defineOp: an op named '${name}' is already defined; pass replace: true to redefine it`,
    );
  }
  const fail = (msg: string): never => {
    throw new GraphError(`defineOp '${name}': ${msg}`);
  };
  if (typeof config.doc !== "string" || config.doc.trim() === "") fail("'doc' must be a non-empty string");
  const arity = config.arity;
  if (!(arity === 1 || arity === 2 || arity === 3 || arity === "variadic")) {
    fail(`'arity' must be 1, 2, 3 or "variadic", got ${String(arity)}`);
  }
  const ew = config.elementwise;
  if (ew) {
    if (arity === "variadic") fail("an elementwise op needs a fixed arity");
    if (config.attrs) fail("an elementwise op takes no attributes (its fused expression cannot see them)");
    if (config.shape) fail("an elementwise op broadcasts its inputs; leave out 'shape'");
    checkElementwise(name, arity as number, ew);
  } else {
    if (typeof config.shape !== "function") fail("'shape' must be a function (or give 'elementwise')");
    if (config.kernel === undefined) fail("'kernel' must be a function (or give 'elementwise')");
  }
  const kernelConfig = config.kernel;
  if (kernelConfig !== undefined && typeof kernelConfig !== "function") {
    const k = kernelConfig as Partial<DTypeKernels<A>> | null;
    if (
      typeof k !== "object" ||
      k === null ||
      typeof k.float32 !== "function" ||
      typeof k.float64 !== "function"
    ) {
      fail("'kernel' must be a function, or { float32, float64 } with a function for each dtype");
    }
  }
  if (config.attrs !== undefined && typeof config.attrs !== "function") fail("'attrs' must be a function");
  checkRule(name, "vjp", config.vjp);
  checkRule(name, "jvp", config.jvp);

  const userAttrs = config.attrs;
  const userShape = config.shape;
  const userKernel: ((ctx: KernelContext<A>) => Kernel) | undefined =
    kernelConfig === undefined || typeof kernelConfig === "function"
      ? kernelConfig
      : // the executor gives a node of dtype D arrays of type D (inputs and output)
        (ctx) => (ctx.dtype === "float32" ? kernelConfig.float32(ctx) : kernelConfig.float64(ctx)) as Kernel;
  const make = (version: number): CustomOpDef<A> => {
    // the kernel caches are keyed by name: a redefinition must not find the old loops
    const cacheName = `${name}@${version}`;
    return {
      name: name as CustomOpName,
      doc: config.doc,
      arity,
      kind: "kernel",
      ...(ew ? { elementwise: ew } : {}),
      attrs: userAttrs
        ? (raw) => userAttrs((raw ?? {}) as CustomAttrs)
        : (raw) => {
            if (raw && Object.keys(raw).length > 0)
              throw new Error(`${name}: takes no attributes, got ${JSON.stringify(raw)}`);
            return {} as A;
          },
      shape: userShape
        ? (inputs, attrs) => checkTypeInfo(name, userShape(inputs, attrs))
        : (inputs) => elementwiseShape(name, inputs),
      kernel: (ctx) => {
        if (!userKernel) return elementwiseKernel(cacheName, ew!, ctx);
        const k = userKernel(ctx);
        if (typeof k !== "function") throw new GraphError(`${name}: kernel(ctx) must return a function`);
        return k;
      },
      vjp: config.vjp ?? null,
      jvp: config.jvp ?? null,
      version,
    };
  };
  registerOp(name, make as unknown as (version: number) => CustomOpDef<CustomAttrs>);
  const def = customOpDef(name) as unknown as CustomOpDef<A>;

  const handle = (b: GraphBuilder, ...args: unknown[]): Value => {
    if (typeof (b as Partial<GraphBuilder> | null)?.call !== "function") {
      throw new GraphError(`${name}: the first argument must be the GraphBuilder, as in ${name}(b, x)`);
    }
    const n: number = arity === "variadic" ? 1 : (arity as number);
    if (args.length < n || args.length > n + 1) {
      throw new GraphError(
        `${name}: expects ${arity === "variadic" ? "a list of inputs" : `${n} input${n > 1 ? "s" : ""}`} and optional attributes, got ${args.length} arguments`,
      );
    }
    const inputs = (arity === "variadic" ? args[0] : args.slice(0, n)) as readonly ValueLike[];
    const attrs = (args.length > n ? args[n] : undefined) ?? {};
    return b.call(handle as unknown as CustomOp<A, N>, inputs, attrs as Partial<A>);
  };
  Object.defineProperties(handle, {
    name: { value: name, enumerable: true },
    doc: { value: config.doc, enumerable: true },
    arity: { value: arity, enumerable: true },
    def: { get: () => customOpDef(name) ?? def, enumerable: true },
  });
  return handle as unknown as CustomOp<A, N>;
}
