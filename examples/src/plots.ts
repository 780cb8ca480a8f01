/**
 * Charts for the examples, made with vega-lite (spec) and vega (layout and SVG), converted to PNG
 * with resvg. Every chart is written as `<name>.svg` and `<name>.png`, each atomically.
 *
 * The builders return plain vega-lite specs, so they can be inspected, tweaked or rendered
 * elsewhere (e.g. pasted into the vega editor). The renderers (vega, vega-lite, resvg: about 40 MB
 * of code and heap) are loaded on the first render, not with this module: the CLI's thread and a
 * training run that has not finished yet never hold them.
 * @module
 */
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { writeFileAtomic } from "./files.js";

export type { TopLevelSpec };

/** A rendered chart. */
export interface RenderedChart {
  /** The SVG document. */
  readonly svg: string;
  /** The PNG bytes (rendered at twice the SVG's size, white background). */
  readonly png: Uint8Array;
}

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

/** Shared look: font, no outer padding surprises. */
const CONFIG = {
  font: FONT,
  view: { stroke: "#ddd" },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  header: { labelFontSize: 12, titleFontSize: 13 },
  title: { fontSize: 15, anchor: "start" as const, offset: 10 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
};

/** Advance widths (em) of DejaVu Sans, regular and bold, for ASCII 32..126 (read from the font files). */
const DEJAVU = {
  regular:
    "0.318,0.401,0.46,0.838,0.636,0.95,0.78,0.275,0.39,0.39,0.5,0.838,0.318,0.361,0.318,0.337,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.636,0.337,0.337,0.838,0.838,0.838,0.531,1.0,0.684,0.686,0.698,0.77,0.632,0.575,0.775,0.752,0.295,0.295,0.656,0.557,0.863,0.748,0.787,0.603,0.787,0.695,0.635,0.611,0.732,0.684,0.989,0.685,0.611,0.685,0.39,0.337,0.39,0.838,0.5,0.5,0.613,0.635,0.55,0.635,0.615,0.352,0.635,0.634,0.278,0.278,0.579,0.278,0.974,0.634,0.612,0.635,0.635,0.411,0.521,0.392,0.634,0.592,0.818,0.592,0.592,0.525,0.636,0.337,0.636,0.838",
  bold: "0.348,0.456,0.521,0.838,0.696,1.002,0.872,0.306,0.457,0.457,0.523,0.838,0.38,0.415,0.38,0.365,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.696,0.4,0.4,0.838,0.838,0.838,0.58,1.0,0.774,0.762,0.734,0.83,0.683,0.683,0.821,0.837,0.372,0.372,0.775,0.637,0.995,0.837,0.85,0.733,0.85,0.77,0.72,0.682,0.812,0.774,1.103,0.771,0.724,0.725,0.457,0.365,0.457,0.838,0.5,0.5,0.675,0.716,0.593,0.716,0.678,0.435,0.716,0.712,0.343,0.343,0.665,0.343,1.042,0.712,0.687,0.716,0.716,0.493,0.595,0.478,0.712,0.652,0.924,0.645,0.652,0.582,0.712,0.365,0.712,0.838",
};
const WIDTHS = { regular: DEJAVU.regular.split(",").map(Number), bold: DEJAVU.bold.split(",").map(Number) };

interface TextItem {
  text?: unknown;
  font?: string;
  fontSize?: number;
  fontWeight?: string | number;
}

/**
 * Text width as the PNG renderer will draw it. Without a canvas, vega guesses 0.8 em per character,
 * which makes titles and legends take far more room than they need; the charts are drawn in DejaVu
 * Sans, so its real advance widths give the layout the right sizes.
 */
function textWidth(item: TextItem, text?: unknown): number {
  const value = text ?? item.text ?? "";
  const str = Array.isArray(value) ? value.join(" ") : String(value);
  const size = item.fontSize ?? 11;
  if (/mono/i.test(item.font ?? "")) return str.length * 0.602 * size;
  const w = item.fontWeight;
  const bold = w === "bold" || w === "bolder" || (typeof w === "number" && w >= 600) || Number(w) >= 600;
  const table = bold ? WIDTHS.bold : WIDTHS.regular;
  let em = 0;
  for (const ch of str) {
    const c = ch.codePointAt(0)!;
    em += c >= 32 && c <= 126 ? table[c - 32]! : 0.838;
  }
  return em * size;
}

/** The rendering libraries, loaded once on first use. */
interface Renderers {
  readonly vega: typeof import("vega");
  readonly vl: typeof import("vega-lite");
  readonly Resvg: typeof import("@resvg/resvg-js").Resvg;
}

let renderers: Promise<Renderers> | undefined;

/** Loads vega, vega-lite and resvg (once), with vega's text measure set to {@link textWidth}. */
function loadRenderers(): Promise<Renderers> {
  renderers ??= Promise.all([import("vega"), import("vega-lite"), import("@resvg/resvg-js")]).then(
    ([vega, vl, resvg]) => {
      const metrics = (
        vega as unknown as { textMetrics?: { width: (item: TextItem, text?: unknown) => number } }
      ).textMetrics;
      if (metrics) metrics.width = textWidth;
      return { vega, vl, Resvg: resvg.Resvg };
    },
  );
  return renderers;
}

/** Renders a vega-lite spec to SVG (vega, no browser) and PNG (resvg). */
export async function renderChart(spec: TopLevelSpec): Promise<RenderedChart> {
  const { vega, vl, Resvg } = await loadRenderers();
  const withConfig = { ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const view = new vega.View(vega.parse(vl.compile(withConfig).spec), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: "zoom", value: 2 },
      background: "white",
      font: { defaultFontFamily: "DejaVu Sans", loadSystemFonts: true },
    })
      .render()
      .asPng();
    return { svg, png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength) };
  } finally {
    view.finalize();
  }
}

/** The two files a chart called `name` is written to: `<dir>/<name>.svg` and `<dir>/<name>.png`. */
export function chartPaths(dir: string, name: string): [svg: string, png: string] {
  return [join(dir, `${name}.svg`), join(dir, `${name}.png`)];
}

/** Renders `spec` and writes `<dir>/<name>.svg` and `<dir>/<name>.png`; returns the two paths. */
export async function writeChart(dir: string, name: string, spec: TopLevelSpec): Promise<string[]> {
  const { svg, png } = await renderChart(spec);
  const [svgPath, pngPath] = chartPaths(dir, name);
  await writeFileAtomic(svgPath, svg);
  await writeFileAtomic(pngPath, png);
  return [svgPath, pngPath];
}

// ---- training curves ------------------------------------------------------------------------

/** One point of a training curve. */
export interface CurvePoint {
  /** Epoch (or pass / iteration), from 1. */
  readonly epoch: number;
  /** `"loss"`, `"accuracy"`, ... (one panel each). */
  readonly metric: string;
  /** `"train"`, `"validation"`, or a model name (one line each). */
  readonly series: string;
  /** The value. */
  readonly value: number;
}

/** Per-epoch values of one training run, as the models package's `History` holds them. */
export interface HistoryLike {
  readonly loss: readonly number[];
  readonly valLoss?: readonly number[];
  readonly metrics?: Readonly<Record<string, readonly number[]>>;
  readonly valMetrics?: Readonly<Record<string, readonly number[]>>;
}

/**
 * Keeps at most `max` evenly spaced points of a long curve (always the first and the last), so a
 * 20,000-pass run still makes a light SVG. The full values stay in history.json.
 */
export function downsample(values: readonly number[], max = 400): { epoch: number; value: number }[] {
  const n = values.length;
  const out: { epoch: number; value: number }[] = [];
  if (n === 0) return out;
  const step = Math.max(1, (n - 1) / Math.max(1, max - 1));
  let last = -1;
  for (let k = 0; k * step <= n - 1 + 1e-9; k++) {
    const i = Math.min(n - 1, Math.round(k * step));
    if (i !== last) out.push({ epoch: i + 1, value: values[i]! });
    last = i;
  }
  if (last !== n - 1) out.push({ epoch: n, value: values[n - 1]! });
  return out;
}

/** Curve points of a history: loss and every metric, train and validation. */
export function historyCurves(
  history: HistoryLike,
  options: { series?: [string, string] } = {},
): CurvePoint[] {
  const [train, val] = options.series ?? ["train", "validation"];
  const out: CurvePoint[] = [];
  const add = (metric: string, series: string, values: readonly number[] | undefined) => {
    if (!values?.length) return;
    for (const p of downsample(values)) {
      if (Number.isFinite(p.value)) out.push({ epoch: p.epoch, metric, series, value: p.value });
    }
  };
  add("loss", train, history.loss);
  add("loss", val, history.valLoss);
  for (const [k, v] of Object.entries(history.metrics ?? {})) add(k, train, v);
  for (const [k, v] of Object.entries(history.valMetrics ?? {})) add(k, val, v);
  return out;
}

/**
 * Line charts of training curves: one panel per metric (loss, accuracy, ...; each with its own y
 * scale, logarithmic for the loss with `logLoss`), one coloured line per series (train /
 * validation, or one per model), one shared legend.
 */
export function curvesChart(
  points: readonly CurvePoint[],
  options: { title?: string; xTitle?: string; logLoss?: boolean; width?: number } = {},
): TopLevelSpec {
  const metrics = [...new Set(points.map((p) => p.metric))];
  const series = [...new Set(points.map((p) => p.series))];
  const few = points.length / Math.max(1, series.length * metrics.length) <= 40;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    ...(options.title ? { title: options.title } : {}),
    data: { values: points as CurvePoint[] },
    columns: 2,
    concat: metrics.map((metric) => {
      const log =
        options.logLoss === true &&
        metric === "loss" &&
        points.every((p) => p.metric !== "loss" || p.value > 0);
      return {
        title: { text: metric, anchor: "middle", fontSize: 12 },
        width: options.width ?? 300,
        height: 200,
        transform: [{ filter: { field: "metric", equal: metric } }],
        mark: { type: "line", point: few, strokeWidth: 2 },
        encoding: {
          x: { field: "epoch", type: "quantitative", title: options.xTitle ?? "epoch" },
          y: {
            field: "value",
            type: "quantitative",
            title: log ? `${metric} (log scale)` : null,
            scale: log ? { type: "log" } : { zero: false },
          },
          color: { field: "series", type: "nominal", sort: series, title: null },
        },
      };
    }),
  } as TopLevelSpec;
}

// ---- decision boundaries --------------------------------------------------------------------

/** Class predictions on a regular grid over a rectangle of the plane. */
export interface ClassGrid {
  readonly xMin: number;
  readonly xMax: number;
  readonly yMin: number;
  readonly yMax: number;
  /** Cells along x. */
  readonly nx: number;
  /** Cells along y. */
  readonly ny: number;
  /** Predicted class of each cell, row-major from (xMin, yMin): `classes[j * nx + i]`. */
  readonly classes: ArrayLike<number>;
}

/** One panel of a decision-boundary figure. */
export interface BoundaryPanel {
  /** Panel title, e.g. "Hidden Layer size 3". */
  readonly title: string;
  /** The model's classes on the grid. */
  readonly grid: ClassGrid;
}

/** A labelled 2-D point. */
export interface LabeledPoint {
  readonly x: number;
  readonly y: number;
  readonly label: number;
}

/** Light region colours and strong point colours per class (matplotlib's Spectral ends, as the tutorial). */
const REGION = ["#f6b293", "#a6cfe3", "#d9f0a3", "#fee08b"];
const POINT = ["#c0392b", "#2471a3", "#1e8449", "#b7950b"];

/** The centres of a grid's cells as rows of (x, y): feed them to a model, get `ClassGrid.classes`. */
export function gridPoints(
  bounds: { xMin: number; xMax: number; yMin: number; yMax: number },
  nx: number,
  ny: number,
): Float64Array {
  const out = new Float64Array(nx * ny * 2);
  const dx = (bounds.xMax - bounds.xMin) / nx;
  const dy = (bounds.yMax - bounds.yMin) / ny;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const k = j * nx + i;
      out[2 * k] = bounds.xMin + (i + 0.5) * dx;
      out[2 * k + 1] = bounds.yMin + (j + 0.5) * dy;
    }
  }
  return out;
}

/** The plotting rectangle of a point set: its bounding box widened by `margin` (the tutorial's 0.5). */
export function boundsOf(points: readonly LabeledPoint[], margin = 0.5) {
  let xMin = Number.POSITIVE_INFINITY;
  let xMax = Number.NEGATIVE_INFINITY;
  let yMin = Number.POSITIVE_INFINITY;
  let yMax = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    xMin = Math.min(xMin, p.x);
    xMax = Math.max(xMax, p.x);
    yMin = Math.min(yMin, p.y);
    yMax = Math.max(yMax, p.y);
  }
  return { xMin: xMin - margin, xMax: xMax + margin, yMin: yMin - margin, yMax: yMax + margin };
}

/**
 * Rectangles covering a class grid: runs of equal class along each row are merged into one
 * rectangle, so a fine grid (say 160 x 120) costs a few hundred marks instead of 19,200.
 */
export function gridRuns(grid: ClassGrid): { x: number; x2: number; y: number; y2: number; cls: number }[] {
  const { nx, ny, classes } = grid;
  const dx = (grid.xMax - grid.xMin) / nx;
  const dy = (grid.yMax - grid.yMin) / ny;
  const out: { x: number; x2: number; y: number; y2: number; cls: number }[] = [];
  for (let j = 0; j < ny; j++) {
    let start = 0;
    for (let i = 1; i <= nx; i++) {
      if (i === nx || classes[j * nx + i] !== classes[j * nx + start]) {
        out.push({
          x: grid.xMin + start * dx,
          x2: grid.xMin + i * dx,
          y: grid.yMin + j * dy,
          y2: grid.yMin + (j + 1) * dy,
          cls: classes[j * nx + start]!,
        });
        start = i;
      }
    }
  }
  return out;
}

/**
 * The tutorial's decision-boundary figure: one panel per model, each showing the predicted class
 * over the plane (filled regions) with the data points on top, in a grid of `columns` panels.
 */
export function decisionBoundaryChart(
  panels: readonly BoundaryPanel[],
  points: readonly LabeledPoint[],
  options: { title?: string; columns?: number; width?: number; height?: number } = {},
): TopLevelSpec {
  const rows: Record<string, unknown>[] = [];
  for (const panel of panels) {
    for (const r of gridRuns(panel.grid)) {
      rows.push({ panel: panel.title, kind: "region", ...r, fill: REGION[r.cls % REGION.length] });
    }
    for (const p of points) {
      rows.push({ panel: panel.title, kind: "point", px: p.x, py: p.y, fill: POINT[p.label % POINT.length] });
    }
  }
  const g = panels[0]?.grid;
  const xDomain = g ? [g.xMin, g.xMax] : undefined;
  const yDomain = g ? [g.yMin, g.yMax] : undefined;
  const columns = options.columns ?? Math.min(4, panels.length);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    ...(options.title ? { title: options.title } : {}),
    data: { values: rows },
    columns,
    facet: {
      field: "panel",
      type: "nominal",
      sort: panels.map((p) => p.title),
      title: null,
      header: { labelFontWeight: "bold", labelLimit: options.width ?? 220 },
    },
    spec: {
      width: options.width ?? 220,
      height: options.height ?? 165,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'region'" }],
          // the stroke, in the fill colour, closes the hairline seams between neighbouring rows
          mark: { type: "rect", strokeWidth: 0.6 },
          encoding: {
            x: {
              field: "x",
              type: "quantitative",
              scale: { domain: xDomain, nice: false, zero: false },
              title: null,
            },
            x2: { field: "x2" },
            y: {
              field: "y",
              type: "quantitative",
              scale: { domain: yDomain, nice: false, zero: false },
              title: null,
            },
            y2: { field: "y2" },
            color: { field: "fill", type: "nominal", scale: null },
            stroke: { field: "fill", type: "nominal", scale: null },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'point'" }],
          mark: { type: "circle", size: 22, stroke: "#222", strokeWidth: 0.6, opacity: 1 },
          encoding: {
            x: { field: "px", type: "quantitative" },
            y: { field: "py", type: "quantitative" },
            color: { field: "fill", type: "nominal", scale: null },
          },
        },
      ],
    },
  } as TopLevelSpec;
}

// ---- classification ---------------------------------------------------------------------------

/** A confusion-matrix heatmap (rows: true class, columns: predicted class) with the counts written in. */
export function confusionMatrixChart(
  matrix: readonly (readonly number[])[],
  labels: readonly (number | string)[],
  options: { title?: string } = {},
): TopLevelSpec {
  const values: { actual: string; predicted: string; count: number; frac: number }[] = [];
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, j) => {
      values.push({ actual: String(labels[i]), predicted: String(labels[j]), count, frac: count / total });
    });
  });
  const order = labels.map(String);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: options.title ?? "Confusion matrix",
    data: { values },
    width: 28 * labels.length,
    height: 28 * labels.length,
    encoding: {
      x: {
        field: "predicted",
        type: "ordinal",
        sort: order,
        title: "predicted",
        axis: { orient: "top", labelAngle: 0 },
      },
      y: { field: "actual", type: "ordinal", sort: order, title: "true" },
    },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 1 },
        encoding: {
          color: {
            field: "frac",
            type: "quantitative",
            scale: { scheme: "blues", domain: [0, 1] },
            title: "share of row",
            legend: { format: ".0%" },
          },
        },
      },
      {
        transform: [{ filter: "datum.count > 0" }],
        mark: { type: "text", fontSize: 10 },
        encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: "datum.frac > 0.5", value: "white" }, value: "#222" },
        },
      },
    ],
  } as TopLevelSpec;
}

/** One image of an image grid. */
export interface GridImage {
  /** Pixel intensities in [0, 1] (0 = background), row-major, `width * height` of them. */
  readonly pixels: ArrayLike<number>;
  /** Predicted class. */
  readonly predicted: number;
  /** True class. */
  readonly actual: number;
}

/**
 * A grid of images with their predicted (and, for mistakes, true) labels; mistakes get a red frame
 * and a red label. Grey levels are quantised to 8 steps and runs along each row merged, which keeps
 * the SVG small.
 */
export function imageGridChart(
  images: readonly GridImage[],
  shape: { width: number; height: number },
  options: { title?: string; columns?: number; cellSize?: number } = {},
): TopLevelSpec {
  const { width: w, height: h } = shape;
  const columns = options.columns ?? 8;
  const gap = Math.max(2, Math.round(w / 4));
  const labelSpace = Math.max(6, Math.round(h / 2.2));
  const cellW = w + gap;
  const cellH = h + gap + labelSpace;
  const rowsCount = Math.ceil(images.length / columns);
  const pixels: Record<string, unknown>[] = [];
  const frames: Record<string, unknown>[] = [];
  const levels = 8;
  images.forEach((img, k) => {
    const ox = (k % columns) * cellW;
    const oy = Math.floor(k / columns) * cellH + labelSpace;
    const wrong = img.predicted !== img.actual;
    frames.push({
      kind: "frame",
      x: ox - 0.5,
      x2: ox + w + 0.5,
      y: oy - 0.5,
      y2: oy + h + 0.5,
      stroke: wrong ? "#d62728" : "#bbbbbb",
      sw: wrong ? 2.5 : 0.5,
    });
    frames.push({
      kind: "label",
      tx: ox + w / 2,
      ty: oy - 1,
      text: wrong ? `${img.predicted} (true ${img.actual})` : String(img.predicted),
      color: wrong ? "#d62728" : "#222222",
    });
    for (let r = 0; r < h; r++) {
      let start = 0;
      const level = (c: number) =>
        Math.min(levels - 1, Math.floor(Math.max(0, img.pixels[r * w + c]!) * levels));
      for (let c = 1; c <= w; c++) {
        if (c === w || level(c) !== level(start)) {
          const lv = level(start);
          if (lv > 0) {
            const g = Math.round(255 * (1 - lv / (levels - 1)));
            const hex = g.toString(16).padStart(2, "0");
            pixels.push({
              kind: "pixel",
              x: ox + start,
              x2: ox + c,
              y: oy + r,
              y2: oy + r + 1,
              fill: `#${hex}${hex}${hex}`,
            });
          }
          start = c;
        }
      }
    }
  });
  const totalW = columns * cellW;
  const totalH = rowsCount * cellH;
  const scale = options.cellSize ?? Math.max(2, Math.round(64 / Math.max(w, h)) * 1.5);
  const xs = {
    field: "x",
    type: "quantitative",
    scale: { domain: [-1, totalW], nice: false, zero: false },
    axis: null,
  };
  const ys = {
    field: "y",
    type: "quantitative",
    scale: { domain: [-1, totalH], nice: false, zero: false, reverse: true },
    axis: null,
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    ...(options.title ? { title: options.title } : {}),
    width: Math.round(totalW * scale),
    height: Math.round(totalH * scale),
    view: { stroke: null },
    layer: [
      {
        data: { values: pixels },
        mark: { type: "rect", strokeWidth: 0 },
        encoding: {
          x: xs,
          x2: { field: "x2" },
          y: ys,
          y2: { field: "y2" },
          color: { field: "fill", type: "nominal", scale: null },
        },
      },
      {
        data: { values: frames.filter((f) => f.kind === "frame") },
        mark: { type: "rect", fillOpacity: 0 },
        encoding: {
          x: xs,
          x2: { field: "x2" },
          y: ys,
          y2: { field: "y2" },
          stroke: { field: "stroke", type: "nominal", scale: null },
          strokeWidth: { field: "sw", type: "quantitative", scale: null },
        },
      },
      {
        data: { values: frames.filter((f) => f.kind === "label") },
        mark: { type: "text", baseline: "bottom", fontSize: 10 },
        encoding: {
          x: { ...xs, field: "tx" },
          y: { ...ys, field: "ty" },
          text: { field: "text", type: "nominal" },
          color: { field: "color", type: "nominal", scale: null },
        },
      },
    ],
  } as TopLevelSpec;
}

// ---- gradient checking ------------------------------------------------------------------------

/** One compared gradient entry. */
export interface GradPoint {
  /** Which check it belongs to (one colour each). */
  readonly check: string;
  /** The param or input. */
  readonly wrt: string;
  /** Analytic (autodiff) value. */
  readonly analytic: number;
  /** Finite-difference value. */
  readonly numeric: number;
}

/** A small table drawn with text marks: columns in order, one row per record. */
export function tableChart(
  rows: readonly Record<string, string>[],
  columns: readonly string[],
  options: {
    title?: string;
    columnWidth?: number;
    highlight?: (row: Record<string, string>) => boolean;
  } = {},
): TopLevelSpec {
  const cells: { row: number; column: string; text: string; hot: boolean }[] = [];
  rows.forEach((r, i) => {
    const hot = options.highlight?.(r) ?? false;
    for (const c of columns) cells.push({ row: i, column: c, text: r[c] ?? "", hot });
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    ...(options.title ? { title: options.title } : {}),
    data: { values: cells },
    width: (options.columnWidth ?? 90) * columns.length,
    height: 18 * rows.length,
    view: { stroke: null },
    mark: { type: "text", align: "left", fontSize: 11, font: "DejaVu Sans Mono, monospace" },
    encoding: {
      x: {
        field: "column",
        type: "ordinal",
        sort: columns as string[],
        scale: { padding: 0, align: 0 },
        axis: {
          orient: "top",
          title: null,
          labelAngle: 0,
          labelAlign: "left",
          domain: false,
          ticks: false,
          labelFontWeight: "bold",
        },
        bandPosition: 0,
      },
      y: { field: "row", type: "ordinal", axis: null },
      text: { field: "text", type: "nominal" },
      color: { condition: { test: "datum.hot", value: "#d62728" }, value: "#222" },
    },
  } as TopLevelSpec;
}

/**
 * Analytic against numeric gradient, one dot per entry and one colour per check, with the line
 * `numeric = analytic`: a correct gradient puts every dot on it.
 */
export function gradScatterSpec(
  points: readonly GradPoint[],
  options: { title?: string; colors?: Readonly<Record<string, string>> } = {},
) {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    lo = Math.min(lo, p.analytic, p.numeric);
    hi = Math.max(hi, p.analytic, p.numeric);
  }
  if (!Number.isFinite(lo)) {
    lo = -1;
    hi = 1;
  }
  const pad = (hi - lo) * 0.05 || 1;
  const domain = [lo - pad, hi + pad];
  return {
    ...(options.title ? { title: options.title } : {}),
    width: 320,
    height: 320,
    layer: [
      {
        data: {
          values: [
            { a: domain[0], n: domain[0] },
            { a: domain[1], n: domain[1] },
          ],
        },
        mark: { type: "line", color: "#888", strokeDash: [4, 3], strokeWidth: 1 },
        encoding: {
          x: { field: "a", type: "quantitative", scale: { domain, nice: false } },
          y: { field: "n", type: "quantitative", scale: { domain, nice: false } },
        },
      },
      {
        data: { values: points as GradPoint[] },
        mark: { type: "point", filled: true, size: 40, opacity: 0.75 },
        encoding: {
          x: { field: "analytic", type: "quantitative", title: "analytic gradient (autodiff)" },
          y: { field: "numeric", type: "quantitative", title: "numeric gradient (central differences)" },
          color: {
            field: "check",
            type: "nominal",
            title: null,
            legend: { orient: "bottom", direction: "vertical", labelLimit: 400 },
            ...(options.colors
              ? { scale: { domain: Object.keys(options.colors), range: Object.values(options.colors) } }
              : {}),
          },
          shape: { field: "wrt", type: "nominal", title: "param" },
        },
      },
    ],
  };
}

/** One sample of a derivative curve ({@link derivativeCurvesChart}). */
export interface DerivativePoint {
  readonly x: number;
  readonly derivative: number;
  /** The curve it belongs to (its legend label). */
  readonly curve: string;
}

/**
 * A derivative plotted against x, three curves: `order[0]` (blue, solid), `order[1]` (orange,
 * dashed, drawn over the first, e.g. central differences) and `order[2]` (red, solid, e.g. a wrong
 * rule). `yTitle` names the y axis, e.g. "d swish / dx".
 */
export function derivativeCurvesChart(
  title: string,
  yTitle: string,
  values: readonly DerivativePoint[],
  order: readonly [string, string, string],
): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title,
    data: { values: values as DerivativePoint[] },
    width: 420,
    height: 260,
    mark: { type: "line", strokeWidth: 2 },
    encoding: {
      x: { field: "x", type: "quantitative" },
      y: { field: "derivative", type: "quantitative", title: yTitle },
      color: {
        field: "curve",
        type: "nominal",
        title: null,
        scale: { domain: [...order], range: ["#2471a3", "#f39c12", "#d62728"] },
        legend: { orient: "bottom", direction: "vertical", labelLimit: 400 },
      },
      strokeDash: {
        field: "curve",
        type: "nominal",
        sort: [...order],
        scale: {
          range: [
            [1, 0],
            [6, 4],
            [1, 0],
          ],
        },
        legend: null,
      },
    },
  } as TopLevelSpec;
}
