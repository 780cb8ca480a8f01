/**
 * User-defined ops: {@link defineOp} registers an op at run time with the same contract as the
 * built-in ones (attributes, shape rule, kernels, optional elementwise expression, VJP and JVP
 * rules). The builder, `grad`, `jvp`, the compiler, serialisation and the testing arbitraries find
 * a registered op by its name exactly as they find a built-in one.
 *
 * Built-in ops stay in the exhaustively typed table (`OPS`); their names are reserved. The
 * registry is per copy of `@gradgraph/core` loaded (make sure a program loads one).
 * @module
 */
import type { CustomAttrs, JvpRuleFn, OpDef, VjpRuleFn } from "./types.js";

/**
 * The name of a registered user op. A branded string: a plain string becomes one only through
 * {@link defineOp} (the handle's `name`) or the {@link isCustomOpName} guard, so code that indexes
 * the built-in tables by a node's op must first tell the two kinds apart with `isOpName`.
 */
export type CustomOpName = string & { readonly __brand: "CustomOpName" };

/** A registered user op: the core contract plus its derivative rules. */
export interface CustomOpDef<A> extends OpDef<A> {
  /** The op's registered name. */
  readonly name: CustomOpName;
  /** The VJP rule, `"zero"`, or null when the op has none. */
  readonly vjp: VjpRuleFn<A> | "zero" | null;
  /** The JVP rule, `"zero"`, or null when the op has none. */
  readonly jvp: JvpRuleFn<A> | "zero" | null;
  /** Incremented each time the name is redefined (keys the kernel caches). */
  readonly version: number;
}

const registry = new Map<string, CustomOpDef<CustomAttrs>>();
let versions = 0;

/**
 * Adds (or replaces) the definition of `name`; `make` gets the definition's version number.
 * @internal used by defineOp
 */
export function registerOp(name: string, make: (version: number) => CustomOpDef<CustomAttrs>): void {
  registry.set(name, make(++versions));
}

/** The definition of user op `name`, or undefined when no op of that name is registered. */
export function customOpDef(name: string): CustomOpDef<CustomAttrs> | undefined {
  return registry.get(name);
}

/** Returns true when `name` is a registered user op (built-in names are never registered). */
export function isCustomOpName(name: unknown): name is CustomOpName {
  return typeof name === "string" && registry.has(name);
}

/** The names of all registered user ops, in registration order. */
export function customOpNames(): CustomOpName[] {
  return [...registry.keys()] as CustomOpName[];
}

/**
 * Removes user op `op` (a handle or a name) from the registry; returns whether it was registered.
 * Graphs that use it can no longer be compiled, differentiated or parsed until it is defined again.
 */
export function undefineOp(op: string | { readonly name: string }): boolean {
  return registry.delete(typeof op === "string" ? op : op.name);
}
