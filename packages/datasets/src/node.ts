/**
 * `@gradgraph/datasets/node`: the Node-only part of the package. One-call loaders that find the data
 * files (the `dir` option, else `GRADGRAPH_DATA_DIR`, then the per-user cache), download missing ones from
 * their canonical sources with SHA-256 verification and atomic writes, and parse them with the
 * browser-safe parsers of `@gradgraph/datasets`.
 * @packageDocumentation
 */
export * from "./node/datadir.js";
export * from "./node/files.js";
export * from "./node/load.js";
