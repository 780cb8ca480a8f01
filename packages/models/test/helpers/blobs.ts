import { Rng, Tensor } from "@gradgraph/core";

/** Two Gaussian blobs centred at ±`sep` on both axes, labels 0/1 alternating, sample-major. */
export function blobs(n: number, seed: number, sep = 1.5): { x: Tensor; y: Uint8Array } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([n, 2], "float64");
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    y[i] = c;
    x.data[2 * i] = rng.normal(c ? sep : -sep, 1);
    x.data[2 * i + 1] = rng.normal(c ? sep : -sep, 1);
  }
  return { x, y };
}
