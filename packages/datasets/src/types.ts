/**
 * Shapes of the values the loaders return.
 * @module
 */
import type { Tensor } from "@gradgraph/core";

/** Inputs and integer class labels, row `i` of `x` labelled `y[i]`. */
export interface LabeledData {
  /** Inputs, shape `[n, features]`. */
  readonly x: Tensor;
  /** Class labels, one per row of `x`. */
  readonly y: Uint8Array;
}

/** A labelled image set: flat rows for training plus an image-shaped view of the same data. */
export interface ImageSet extends LabeledData {
  /** The same data as `x` (shared, not copied) with shape `[n, height, width]`. */
  readonly images: Tensor;
}
