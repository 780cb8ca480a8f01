/** Which implementation a kernel step gets (mirrors the kernel factories). */
import { setWasmEnabled, wasmBackend } from "@gradgraph/core";
import { afterEach, describe, expect, test } from "vitest";
import { kernelChoice } from "../../src/compile/kernel-choice.js";

afterEach(() => setWasmEnabled(true));

describe("kernel choice", () => {
  const node = (op: string, attrs: object = {}) =>
    ({ id: 0, op, inputs: [], attrs, shape: [], dtype: "float32" }) as never;

  test.skipIf(!wasmBackend())("mirrors the kernel factories' rules", () => {
    const ew = (shapes: number[][], out: number[]) =>
      kernelChoice(node("add"), null, shapes, out, "float32").impl;
    expect(ew([[4, 8], [8]], [4, 8])).toBe("wasm-simd"); // suffix (a bias row)
    expect(
      ew(
        [
          [4, 8],
          [4, 1],
        ],
        [4, 8],
      ),
    ).toBe("wasm-simd"); // rows (a column)
    expect(
      ew(
        [
          [4, 8],
          [4, 1, 8],
        ],
        [4, 4, 8],
      ),
    ).toBe("js"); // needs an index map
    expect(kernelChoice(node("add"), null, [[8], [8]], [8], "float64").impl).toBe("js");
    const mm = (transA: boolean, transB: boolean) =>
      kernelChoice(
        node("matmul", { transA, transB }),
        null,
        [
          [4, 4],
          [4, 4],
        ],
        [4, 4],
        "float32",
      );
    expect(mm(true, false).impl).toBe("wasm-simd");
    expect(mm(false, true).impl).toBe("wasm-simd");
    expect(mm(true, true).impl).toBe("js");
    const sum = (axes: number[], shape: number[]) =>
      kernelChoice(node("sum", { axes, keepdims: false }), null, [shape], [], "float32").impl;
    expect(sum([0], [10, 8])).toBe("wasm-simd");
    expect(sum([0], [10, 7])).toBe("js");
    expect(sum([1], [10, 8])).toBe("js");
    expect(sum([0, 2], [2, 3, 8])).toBe("js");
    // groups: arithmetic alone, or erf / gelu / geluTanh with arithmetic and exp; exp without them,
    // and other transcendental ops, keep the JavaScript loop
    const grp = (tree: object, shapes: number[][] = [[8]]) =>
      kernelChoice(node("add"), { tree } as never, shapes, [8], "float32").impl;
    const leaf = (op: string, ...kids: (object | number)[]) => ({ op, kids: kids.length ? kids : [0] });
    expect(grp(leaf("erf"))).toBe("wasm-simd");
    expect(grp(leaf("gelu"))).toBe("wasm-simd");
    expect(grp(leaf("geluTanh"))).toBe("wasm-simd");
    expect(grp(leaf("mul", leaf("gelu"), 1), [[8], []])).toBe("wasm-simd");
    const geluBackward = leaf(
      "mul",
      1,
      leaf(
        "add",
        leaf("mul", 2, leaf("add", 3, leaf("erf", leaf("mul", 0, 4)))),
        leaf("mul", 0, leaf("mul", 5, leaf("exp", leaf("mul", leaf("square", 0), 6)))),
      ),
    );
    expect(grp(geluBackward, [[8], [8], [], [], [], [], []])).toBe("wasm-simd");
    expect(grp(leaf("exp"))).toBe("js");
    expect(grp(leaf("add", leaf("exp"), 1), [[8], []])).toBe("js");
    expect(grp(leaf("add", leaf("erf"), leaf("tanh")))).toBe("js");
    expect(grp(leaf("add", leaf("gelu"), leaf("sigmoid")))).toBe("js");
    expect(grp(leaf("add", leaf("neg"), leaf("abs")))).toBe("wasm-simd");
    expect(kernelChoice(node("erf"), null, [[8]], [8], "float32").impl).toBe("wasm-simd");
    expect(kernelChoice(node("exp"), null, [[8]], [8], "float32").impl).toBe("js");
    expect(kernelChoice(node("erf"), null, [[8]], [8], "float64").impl).toBe("js");
    setWasmEnabled(false);
    expect(ew([[8], [8]], [8])).toBe("js");
    expect(grp(leaf("gelu"))).toBe("js");
  });
});
