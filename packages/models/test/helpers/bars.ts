import { Rng, Tensor } from "@gradgraph/core";

/** 8x8 images of a horizontal (class 0) or vertical (class 1) bar at a random place, with noise. */
export function bars(n: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([n, 64]);
  const y = Tensor.zeros([n, 2]);
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    const at = 1 + rng.int(6);
    for (let k = 0; k < 64; k++) x.data[i * 64 + k] = 0.2 * rng.uniform() - 0.1;
    for (let k = 1; k < 7; k++) x.data[i * 64 + (cls === 0 ? at * 8 + k : k * 8 + at)]! += 1;
    y.data[i * 2 + cls] = 1;
  }
  return { x, y };
}
