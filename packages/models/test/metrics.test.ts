import { Tensor } from "@gradgraph/core";
import { describe, expect, it } from "vitest";
import {
  accuracy,
  argmax,
  classificationReport,
  confusionMatrix,
  MetricsError,
  precisionRecallF1,
} from "../src/metrics.js";

// scikit-learn's documentation example: y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1]
const actual = [0, 1, 2, 2, 2];
const predicted = [0, 0, 2, 2, 1];

describe("accuracy and argmax", () => {
  it("accuracy is the fraction of equal labels", () => {
    expect(accuracy(predicted, actual)).toBe(0.6);
    expect(accuracy(new Int32Array([1, 2, 3]), new Float64Array([1, 2, 3]))).toBe(1);
    expect(() => accuracy([1, 2], [1])).toThrow(/predicted has 2 labels but actual has 1/);
    expect(() => accuracy([], [])).toThrow(MetricsError);
    expect(() => accuracy([Number.NaN], [1])).toThrow(/index 0 is not a finite number/);
  });

  it("argmax takes the first maximum of each row", () => {
    const t = Tensor.from([
      [0.1, 0.7, 0.2],
      [5, 5, 1],
      [-3, -2, -1],
      [Number.NaN, 1, 0],
    ]);
    expect([...argmax(t)]).toEqual([1, 0, 2, 1]);
    expect(argmax(t)).toBeInstanceOf(Int32Array);
    expect(() => argmax(Tensor.from([1, 2, 3]))).toThrow(/expects a \[n, k\] tensor .* got shape \[3\]/);
  });
});

describe("confusionMatrix", () => {
  it("has rows = true class and columns = predicted class", () => {
    const cm = confusionMatrix(predicted, actual);
    expect(cm.labels).toEqual([0, 1, 2]);
    expect(cm.matrix).toEqual([
      [1, 0, 0],
      [1, 0, 0],
      [0, 1, 2],
    ]);
  });

  it("uses the sorted union of labels, or 0..numClasses-1", () => {
    // ex4-style labels 1..10; 7 only ever predicted
    const cm = confusionMatrix([10, 7, 1], [10, 1, 1]);
    expect(cm.labels).toEqual([1, 7, 10]);
    expect(cm.matrix).toEqual([
      [1, 1, 0],
      [0, 0, 0],
      [0, 0, 1],
    ]);
    const cm4 = confusionMatrix([0, 1], [0, 1], 4);
    expect(cm4.labels).toEqual([0, 1, 2, 3]);
    expect(cm4.matrix[3]).toEqual([0, 0, 0, 0]);
    expect(() => confusionMatrix([0, 4], [0, 1], 4)).toThrow(/predicted label 4 at index 1 is outside 0..3/);
    expect(() => confusionMatrix([0], [0], 0)).toThrow(/numClasses must be an integer >= 1/);
  });
});

describe("precisionRecallF1", () => {
  it("matches hand-computed per-class scores and averages", () => {
    const s = precisionRecallF1(predicted, actual);
    expect(s.labels).toEqual([0, 1, 2]);
    // class 0: TP 1, predicted 2, true 1; class 1: TP 0, predicted 1, true 1; class 2: TP 2, predicted 2, true 3
    expect(s.perClass[0]).toEqual({ label: 0, precision: 0.5, recall: 1, f1: 2 / 3, support: 1 });
    expect(s.perClass[1]).toEqual({ label: 1, precision: 0, recall: 0, f1: 0, support: 1 });
    expect(s.perClass[2]).toEqual({ label: 2, precision: 1, recall: 2 / 3, f1: 0.8, support: 3 });
    expect(s.macro.precision).toBeCloseTo(0.5, 15);
    expect(s.macro.recall).toBeCloseTo((1 + 0 + 2 / 3) / 3, 15);
    expect(s.macro.f1).toBeCloseTo((2 / 3 + 0 + 0.8) / 3, 15);
    expect(s.macro.support).toBe(5);
    expect(s.weighted.precision).toBeCloseTo((0.5 * 1 + 0 * 1 + 1 * 3) / 5, 15);
    expect(s.weighted.recall).toBeCloseTo(0.6, 15);
    expect(s.weighted.f1).toBeCloseTo((2 / 3 + 0 + 0.8 * 3) / 5, 15);
    expect(s.accuracy).toBe(0.6);
    expect(s.micro).toEqual({ precision: 0.6, recall: 0.6, f1: 0.6, support: 5 });
  });

  it("reports 0 for zero-division cases", () => {
    // class 5 is never predicted (precision 0/0), class 9 never occurs (recall 0/0)
    const s = precisionRecallF1([9, 1], [5, 1]);
    const by = Object.fromEntries(s.perClass.map((c) => [c.label, c]));
    expect(by[5]).toEqual({ label: 5, precision: 0, recall: 0, f1: 0, support: 1 });
    expect(by[9]).toEqual({ label: 9, precision: 0, recall: 0, f1: 0, support: 0 });
    expect(by[1]).toEqual({ label: 1, precision: 1, recall: 1, f1: 1, support: 1 });
  });

  it("accepts an explicit label list", () => {
    const s = precisionRecallF1(predicted, actual, { labels: [2, 0] });
    expect(s.perClass.map((c) => c.label)).toEqual([2, 0]);
    expect(s.macro.support).toBe(4);
    expect(() => precisionRecallF1(predicted, actual, { labels: [1, 1] })).toThrow(/duplicates/);
  });
});

describe("classificationReport", () => {
  it("handles a huge number of classes (no spread of huge arrays)", () => {
    const n = 200_000;
    const labels = Int32Array.from({ length: n }, (_, i) => i);
    const text = classificationReport(labels, labels);
    expect(text.split("\n").length).toBeGreaterThan(n);
    expect(text).toContain("accuracy");
  });

  it("prints scikit-learn's documentation example exactly", () => {
    const expected = [
      "              precision    recall  f1-score   support",
      "",
      "     class 0       0.50      1.00      0.67         1",
      "     class 1       0.00      0.00      0.00         1",
      "     class 2       1.00      0.67      0.80         3",
      "",
      "    accuracy                           0.60         5",
      "   macro avg       0.50      0.56      0.49         5",
      "weighted avg       0.70      0.60      0.61         5",
      "",
    ].join("\n");
    expect(classificationReport(predicted, actual, { targetNames: ["class 0", "class 1", "class 2"] })).toBe(
      expected,
    );
  });

  it("uses the labels as names, widens for long names and honours digits", () => {
    const expected = [
      "                          precision    recall  f1-score   support",
      "",
      "                       0      0.500     1.000     0.667         1",
      "                       1      0.000     0.000     0.000         1",
      "a rather long class name      1.000     0.667     0.800         3",
      "",
      "                accuracy                          0.600         5",
      "               macro avg      0.500     0.556     0.489         5",
      "            weighted avg      0.700     0.600     0.613         5",
      "",
    ].join("\n");
    expect(
      classificationReport(predicted, actual, {
        targetNames: ["0", "1", "a rather long class name"],
        digits: 3,
      }),
    ).toBe(expected);
    const plain = classificationReport(predicted, actual);
    expect(plain.split("\n")[2]).toBe("           0       0.50      1.00      0.67         1");
  });

  it("rounds exact ties to even like Python (0.125 -> 0.12) and reports zero division as 0.00", () => {
    // class 1: never right (P = R = 0); class 2: 8 predicted, 1 right, 2 true -> P = 0.125, R = 0.5, F1 = 0.2
    const pred = [2, 2, 2, 2, 2, 2, 2, 2, 1, 3];
    const act = [1, 1, 1, 1, 1, 1, 1, 2, 2, 3];
    const expected = [
      "              precision    recall  f1-score   support",
      "",
      "           1       0.00      0.00      0.00         7",
      "           2       0.12      0.50      0.20         2",
      "           3       1.00      1.00      1.00         1",
      "",
      "    accuracy                           0.20        10",
      "   macro avg       0.38      0.50      0.40        10",
      "weighted avg       0.12      0.20      0.14        10",
      "",
    ].join("\n");
    expect(classificationReport(pred, act)).toBe(expected);
  });

  it("prints 'micro avg' instead of accuracy when labels leave a class out", () => {
    const report = classificationReport(predicted, actual, { labels: [0, 2] });
    const lines = report.split("\n");
    expect(lines).toHaveLength(9);
    // micro over classes 0 and 2: TP 3, predicted 4, true 4
    expect(lines[5]).toBe("   micro avg       0.75      0.75      0.75         4");
  });

  it("checks target names and digits", () => {
    expect(() => classificationReport(predicted, actual, { targetNames: ["a", "b"] })).toThrow(
      /2 target names for 3 classes \(0, 1, 2\)/,
    );
    expect(() => classificationReport(predicted, actual, { digits: -1 })).toThrow(/digits/);
  });
});
