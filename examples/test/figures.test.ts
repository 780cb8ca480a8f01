/**
 * The figures' papercuts (issue 15): whole-epoch ticks from 1 on the curves' x axis (and few of
 * them on a 20,000-pass run), tight rows in the image grids, and the mistakes shown sampled across
 * the true classes.
 */
import { describe, expect, test } from "vitest";
import { type CurvePoint, curvesChart, type GridImage, imageGridChart, renderChart } from "../src/plots.js";
import { pickImages } from "../src/presets.js";

/** The texts of the x-axis labels of each panel of a rendered curves chart, panel by panel. */
function xLabels(svg: string): string[][] {
  const panels: string[][] = [];
  for (const part of svg.split('aria-label="X-axis').slice(1)) {
    const labels = part
      .split('class="mark-text role-axis-label" pointer-events="none">')[1]!
      .split("</g>")[0]!;
    panels.push([...labels.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!));
  }
  return panels;
}

function curve(epochs: number): CurvePoint[] {
  const out: CurvePoint[] = [];
  for (let e = 1; e <= epochs; e++) {
    out.push({ epoch: e, metric: "loss", series: "train", value: 1 / e });
    out.push({ epoch: e, metric: "accuracy", series: "train", value: 1 - 1 / (e + 1) });
  }
  return out;
}

describe("curvesChart: the x axis", () => {
  test("a 2-epoch run: ticks 1 and 2, no fractions, no repeats (both panels)", async () => {
    const { svg } = await renderChart(curvesChart(curve(2)));
    const panels = xLabels(svg);
    expect(panels).toHaveLength(2);
    for (const labels of panels) expect(labels).toEqual(["1", "2"]);
  });

  test("1 epoch: the single tick 1, and a finite picture", async () => {
    const { svg } = await renderChart(curvesChart(curve(1)));
    expect(xLabels(svg)).toHaveLength(2);
    for (const labels of xLabels(svg)) expect(labels).toEqual(["1"]);
    expect(svg).not.toContain("NaN");
  });

  test("6 epochs: one tick per epoch, from 1", async () => {
    const { svg } = await renderChart(curvesChart(curve(6)));
    expect(xLabels(svg)).toHaveLength(2);
    for (const labels of xLabels(svg)) expect(labels).toEqual(["1", "2", "3", "4", "5", "6"]);
  });

  test("20,000 passes: at most 6 whole-number labels, all distinct", async () => {
    const points: CurvePoint[] = [];
    for (let e = 1; e <= 20_000; e += 50)
      points.push({ epoch: e, metric: "loss", series: "H=3", value: 1 / e });
    points.push({ epoch: 20_000, metric: "loss", series: "H=3", value: 1e-4 });
    const { svg } = await renderChart(curvesChart(points, { xTitle: "pass" }));
    const [labels] = xLabels(svg);
    expect(labels!.length).toBeGreaterThanOrEqual(3);
    expect(labels!.length).toBeLessThanOrEqual(6);
    expect(new Set(labels).size).toBe(labels!.length);
    for (const l of labels!) expect(l).toMatch(/^\d{1,2}(,\d{3})?$/);
  });

  test("lossTitle names the loss axis", async () => {
    const { svg } = await renderChart(curvesChart(curve(3), { lossTitle: "loss (mean per sample)" }));
    expect(svg).toContain("loss (mean per sample)");
  });
});

describe("imageGridChart: rows sit close together", () => {
  const images = (n: number, side: number): GridImage[] =>
    Array.from({ length: n }, (_, k) => ({
      pixels: new Float32Array(side * side).fill(0.5),
      predicted: k % 10,
      actual: k % 7 === 0 ? (k + 1) % 10 : k % 10,
    }));

  for (const side of [8, 20, 28]) {
    test(`${side}x${side} images: a row is the image plus a label line and a few pixels`, () => {
      const spec = imageGridChart(images(48, side), { width: side, height: side }) as {
        height: number;
        width: number;
      };
      const scale = Math.max(2, Math.round(64 / side) * 1.5);
      const rowPx = spec.height / 6; // 48 images, 8 per row
      expect(rowPx - side * scale).toBeCloseTo(20, 0); // was 60 (28x28) and 96 (8x8) px
      expect(spec.width).toBe(Math.round(8 * (side + Math.max(2, Math.round(side / 4))) * scale));
      // no label runs into the frame above or below it: its baseline 3 px above its own frame, its
      // 10 px text below the frame of the row above (in screen pixels)
      type Item = { kind: string; x: number; y: number; y2: number; ty: number };
      const layers = (spec as unknown as { layer: { data: { values: Item[] } }[] }).layer;
      const frames = layers[1]!.data.values;
      const labels = layers[2]!.data.values;
      expect(frames).toHaveLength(48);
      for (let k = 0; k < 48; k++) {
        expect((frames[k]!.y - labels[k]!.ty) * scale).toBeCloseTo(3, 5);
        if (k >= 8) expect((labels[k]!.ty - frames[k - 8]!.y2) * scale).toBeGreaterThanOrEqual(13);
      }
    });
  }
});

describe("pickImages: the mistakes shown", () => {
  // a data set sorted by class (as ng-ex4's): 100 images of each digit, every fifth one misclassified
  const actual = Array.from({ length: 1000 }, (_, i) => Math.floor(i / 100));
  const predicted = actual.map((c, i) => (i % 5 === 0 ? (c + 1) % 10 : c));

  test("are taken round-robin over the true classes: every class appears", () => {
    const picks = pickImages(predicted, actual);
    const wrong = picks.filter((i) => predicted[i] !== actual[i]);
    // the 32 evenly spaced images hit i = 0, 31.25.., some of them mistakes; 16 more are added
    const base = new Set(Array.from({ length: 32 }, (_, k) => Math.floor((k * 1000) / 32)));
    const added = wrong.filter((i) => !base.has(i));
    expect(added).toHaveLength(16);
    const classes = new Set(added.map((i) => actual[i]));
    expect(classes.size).toBe(10); // not just 0s and 1s, as the first 16 in index order were
    // two rounds: the first unshown mistake of each class, then the second of classes 0..5
    const count = (c: number) => added.filter((i) => actual[i] === c).length;
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(count)).toEqual([2, 2, 2, 2, 2, 2, 1, 1, 1, 1]);
    expect(picks).toEqual([...picks].sort((a, b) => a - b));
    expect(pickImages(predicted, actual)).toEqual(picks); // deterministic
  });

  test("fewer mistakes than asked: all of them; none: the evenly spaced images only", () => {
    const few = actual.map((c, i) => (i === 3 || i === 998 ? (c + 1) % 10 : c));
    const picks = pickImages(few, actual);
    expect(picks).toContain(3);
    expect(picks).toContain(998);
    expect(pickImages(actual, actual)).toHaveLength(32);
  });
});
