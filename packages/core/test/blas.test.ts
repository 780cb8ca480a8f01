import { allocKernelArray, axpy } from "@gradgraph/core";
import { describe, expect, test } from "vitest";

describe("axpy", () => {
  test.each([0, 1, 3, 4, 5, 17, 1000])(
    "y += a·x for %i float32 elements in the arena (SIMD body and scalar tail)",
    (n) => {
      const y = allocKernelArray("float32", n);
      const x = allocKernelArray("float32", n);
      const ref = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = ref[i] = Math.sin(i);
        x[i] = Math.cos(i);
      }
      axpy(y, x, -0.25); // -0.25 is exact in float32, so SIMD and scalar agree bit for bit
      for (let i = 0; i < n; i++) ref[i] = ref[i]! + -0.25 * x[i]!;
      expect(Array.from(y)).toEqual(Array.from(ref));
    },
  );

  test("works on plain float64 and float32 arrays and checks lengths", () => {
    const y = new Float64Array([1, 2, 3]);
    axpy(y, new Float64Array([1, 1, 1]), 0.5);
    expect(Array.from(y)).toEqual([1.5, 2.5, 3.5]);
    const z = new Float32Array([1, 2]);
    axpy(z, new Float32Array([2, 2]), -1);
    expect(Array.from(z)).toEqual([-1, 0]);
    expect(() => axpy(new Float32Array(2), new Float32Array(3), 1)).toThrow(/lengths 2 and 3 differ/);
  });
});
