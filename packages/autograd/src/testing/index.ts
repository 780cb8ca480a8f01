/**
 * `@gradgraph/autograd/testing`: fast-check arbitraries (shapes, broadcast-compatible shapes,
 * tensors in each op's smooth domain, random graphs built from the op table) and properties
 * that compare gradients with finite differences and forward-mode (JVP) results with gradients
 * and finite differences. gradgraph's own property tests use them; run them on your own ops and
 * graphs the same way.
 * @packageDocumentation
 */
export * from "./arbitraries.js";
export * from "./config.js";
export * from "./jvpCheck.js";
export * from "./opCheck.js";
export * from "./opSpecs.js";
export * from "./randomGraph.js";
export * from "./unaryChains.js";
