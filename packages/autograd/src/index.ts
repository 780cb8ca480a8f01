/**
 * `@gradgraph/autograd`: reverse-mode and forward-mode autodiff as graph transforms, the
 * derivative toolbox built on them (Hessian-vector products, Jacobians, Hessians), and gradient
 * checking. Property-based testing helpers live in the `@gradgraph/autograd/testing` entry.
 * @packageDocumentation
 */

export * from "./customGradient.js";
export {
  type HessianOptions,
  type HvpOptions,
  hessian,
  hvp,
  hvpName,
  type JacobianMode,
  type JacobianOptions,
  jacobian,
} from "./derivatives.js";
export * from "./grad.js";
export * from "./gradcheck.js";
export { JVP, jvpRuleOf } from "./jvp/table.js";
export type { JvpArgs, JvpFn, JvpOverrideArgs, JvpRule, JvpRules, JvpTable } from "./jvp/types.js";
export { type JvpOptions, jvp, jvpName, type TangentNames, tangentName } from "./jvp.js";
export { VJP, vjpRuleOf } from "./vjp/table.js";
export type { VjpArgs, VjpFn, VjpOverrideArgs, VjpRule, VjpRules, VjpTable } from "./vjp/types.js";
