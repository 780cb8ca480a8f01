/**
 * `@gradgraph/autograd`: reverse-mode autodiff as a graph transform, and gradient checking.
 * Property-based testing helpers live in the `@gradgraph/autograd/testing` entry.
 * @packageDocumentation
 */
export * from "./grad.js";
export * from "./gradcheck.js";
export { VJP } from "./vjp/table.js";
export type { VjpArgs, VjpFn, VjpRule, VjpTable } from "./vjp/types.js";
