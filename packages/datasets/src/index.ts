/**
 * `@gradgraph/datasets`: the tutorials' data sets (MNIST, scikit-learn digits, Andrew Ng's ex4 digits and
 * weights, make_moons/make_circles), with seeded splits, one-hot encoding, scaling and reusable
 * mini-batches. Everything here works on bytes and runs in browsers; the file, cache and download code is
 * in the Node entry `@gradgraph/datasets/node`.
 * @packageDocumentation
 */
export * from "./batches.js";
export type { BytesLike } from "./bytes.js";
export * from "./digits.js";
export * from "./errors.js";
export * from "./ex4.js";
export * from "./generators.js";
export {
  type ChunkConsumer,
  DEFAULT_MAX_BYTES,
  type DeclaredSize,
  type DecompressOptions,
  gunzip,
  gunzipInto,
  isGzip,
  maybeGunzip,
  unzlib,
} from "./gzip.js";
export * from "./idx.js";
export * from "./manifest.js";
export * from "./mat.js";
export * from "./mnist.js";
export * from "./numpy-random.js";
export * from "./preprocessing.js";
export * from "./types.js";
