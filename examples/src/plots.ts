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
 * validation, or one per model), one shared legend. The x axis shows whole epochs only (from 1):
 * every epoch up to 12, else about five ticks; `lossTitle` names the loss axis (e.g. "loss (mean per sample)").
 */
export function curvesChart(
  points: readonly CurvePoint[],
  options: { title?: string; xTitle?: string; logLoss?: boolean; width?: number; lossTitle?: string } = {},
): TopLevelSpec {
  const metrics = [...new Set(points.map((p) => p.metric))];
  const series = [...new Set(points.map((p) => p.series))];
  const few = points.length / Math.max(1, series.length * metrics.length) <= 40;
  let lastEpoch = 1;
  for (const p of points) lastEpoch = Math.max(lastEpoch, p.epoch);
  // epochs (passes, iterations) are whole numbers, counted from 1: a short run gets a tick at every
  // epoch, a long one about five ticks (20,000 passes: 0, 5,000, ... 20,000), never fractions
  const xAxis =
    lastEpoch <= 12
      ? { values: Array.from({ length: lastEpoch }, (_, i) => i + 1), format: "d" }
      : { tickCount: 5, tickMinStep: 1, format: ",d", labelFlush: true, labelOverlap: true };
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
          x: {
            field: "epoch",
            type: "quantitative",
            title: options.xTitle ?? "epoch",
            scale: lastEpoch <= 12 ? { domain: [1, lastEpoch], zero: false } : { zero: false },
            axis: xAxis,
          },
          y: {
            field: "value",
            type: "quantitative",
            title:
              metric === "loss" && options.lossTitle !== undefined
                ? `${options.lossTitle}${log ? " (log scale)" : ""}`
                : log
                  ? `${metric} (log scale)`
                  : null,
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
  /** The points drawn on this panel (default: the chart's `points`). */
  readonly points?: readonly LabeledPoint[];
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
    for (const p of panel.points ?? points) {
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
  // pixels per image pixel; the gaps are set in screen pixels: a label line (10 px text) above each
  // image and a few pixels between rows, so that the rows sit close together
  const scale = options.cellSize ?? Math.max(2, Math.round(64 / Math.max(w, h)) * 1.5);
  const gap = Math.max(2, Math.round(w / 4));
  // in screen pixels: each frame 1.5 px around its image, the label's baseline 3 px above the frame
  // and 11 px of text, 3 px between a frame and the label of the row below
  const pad = 1.5 / scale;
  const labelSpace = pad + 14 / scale;
  const rowGap = pad + 3 / scale;
  const cellW = w + gap;
  const cellH = h + rowGap + labelSpace;
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
      x: ox - pad,
      x2: ox + w + pad,
      y: oy - pad,
      y2: oy + h + pad,
      stroke: wrong ? "#d62728" : "#bbbbbb",
      sw: wrong ? 2.5 : 0.5,
    });
    frames.push({
      kind: "label",
      tx: ox + w / 2,
      ty: oy - pad - 3 / scale,
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

// ---- convolutional networks -------------------------------------------------------------------

/** One panel of a {@link heatmapGridChart}: a small 2-D array drawn as coloured cells. */
export interface HeatmapPanel {
  /** Label drawn above the panel. */
  readonly title: string;
  /** The values, row-major, `width * height` of them. */
  readonly values: ArrayLike<number>;
  /** Columns of the panel. */
  readonly width: number;
  /** Rows of the panel. */
  readonly height: number;
  /**
   * How the panel's values become colours (default: the chart's `scale`): `"diverging"` blue for
   * negative, white for 0, red for positive, symmetric over every diverging panel of the chart;
   * `"sequential"` white (the panel's minimum) to dark blue (its maximum), each panel on its own;
   * `"grey"` as `"sequential"` in black ink on white (for input images).
   */
  readonly scale?: HeatmapScale;
}

/** Colour scales of {@link heatmapGridChart} (see {@link HeatmapPanel.scale}). */
export type HeatmapScale = "diverging" | "sequential" | "grey";

/** Options of {@link heatmapGridChart}. */
export interface HeatmapGridOptions {
  /** Chart title. */
  readonly title?: string;
  /** A second title line (e.g. what the colours mean). */
  readonly subtitle?: string;
  /** Panels per row (default: up to 8). */
  readonly columns?: number;
  /** Pixels per cell (default: about 64 pixels per panel side). */
  readonly cellSize?: number;
  /** Colour scale of the panels that do not set their own (default `"diverging"`). */
  readonly scale?: HeatmapScale;
  /**
   * Colour steps: values are quantised to this many levels and equal runs along a row merged
   * (default 17: an odd count puts 0 of a diverging scale on a level of its own).
   */
  readonly levels?: number;
}

const DIVERGING_ENDS = { negative: [33, 102, 172], zero: [247, 247, 247], positive: [178, 24, 43] } as const;
const SEQUENTIAL_ENDS = { low: [255, 255, 255], high: [8, 48, 107] } as const;

function mix(a: readonly number[], b: readonly number[], t: number): string {
  const c = (i: number) =>
    Math.round(a[i]! + (b[i]! - a[i]!) * t)
      .toString(16)
      .padStart(2, "0");
  return `#${c(0)}${c(1)}${c(2)}`;
}

/** The colour of quantised level `lv` of `levels` on `scale`. */
function levelColor(scale: HeatmapScale, lv: number, levels: number): string {
  const t = levels <= 1 ? 0 : lv / (levels - 1);
  if (scale === "grey") return mix([255, 255, 255], [0, 0, 0], t);
  if (scale === "sequential") return mix(SEQUENTIAL_ENDS.low, SEQUENTIAL_ENDS.high, t);
  return t < 0.5
    ? mix(DIVERGING_ENDS.negative, DIVERGING_ENDS.zero, t * 2)
    : mix(DIVERGING_ENDS.zero, DIVERGING_ENDS.positive, (t - 0.5) * 2);
}

/**
 * A grid of small heatmaps: learned convolution filters (diverging colours, one scale for all) or
 * feature maps (each panel from its own minimum to its maximum), each panel framed and labelled.
 * Values are quantised to `levels` colours and equal runs along each row merged into one
 * rectangle, so a few dozen 28x28 maps stay a light SVG; cells at the background colour (white)
 * are not drawn. Non-finite values are drawn as the background.
 * @throws RangeError when a panel's `values` do not hold `width * height` numbers.
 */
export function heatmapGridChart(
  panels: readonly HeatmapPanel[],
  options: HeatmapGridOptions = {},
): TopLevelSpec {
  const levels = Math.max(2, Math.floor(options.levels ?? 17));
  const columns = Math.max(1, Math.min(options.columns ?? 8, panels.length || 1));
  const w = Math.max(1, ...panels.map((p) => p.width));
  const h = Math.max(1, ...panels.map((p) => p.height));
  for (const p of panels) {
    if (p.values.length !== p.width * p.height)
      throw new RangeError(
        `heatmapGridChart: panel '${p.title}' has ${p.values.length} values for ${p.width}x${p.height} cells`,
      );
  }
  const scaleOf = (p: HeatmapPanel): HeatmapScale => p.scale ?? options.scale ?? "diverging";
  // one symmetric range for every diverging panel, so that filters compare with each other
  let maxAbs = 0;
  for (const p of panels) {
    if (scaleOf(p) !== "diverging") continue;
    for (let i = 0; i < p.values.length; i++) {
      const v = p.values[i]!;
      if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
    }
  }
  const scale = options.cellSize ?? Math.max(2, Math.round(64 / Math.max(w, h)));
  // about 6 pixels between panels and 14 for a label, in cells
  const gap = Math.max(1, Math.ceil(6 / scale));
  const labelSpace = Math.max(1, Math.ceil(14 / scale));
  const cellW = w + gap;
  const cellH = h + gap + labelSpace;
  const rowsCount = Math.ceil(panels.length / columns);
  const cells: Record<string, unknown>[] = [];
  const frames: Record<string, unknown>[] = [];
  const labels: Record<string, unknown>[] = [];
  panels.forEach((p, k) => {
    const ox = (k % columns) * cellW;
    const oy = Math.floor(k / columns) * cellH + labelSpace;
    const scale = scaleOf(p);
    let lo = 0;
    let hi = 0;
    if (scale === "diverging") {
      lo = -maxAbs;
      hi = maxAbs;
    } else {
      lo = Number.POSITIVE_INFINITY;
      hi = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < p.values.length; i++) {
        const v = p.values[i]!;
        if (!Number.isFinite(v)) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      if (!(lo <= hi)) lo = hi = 0;
    }
    const background = scale === "diverging" ? Math.round((levels - 1) / 2) : 0;
    const level = (i: number): number => {
      const v = p.values[i]!;
      if (!Number.isFinite(v) || !(hi > lo)) return background;
      return Math.min(levels - 1, Math.max(0, Math.round(((v - lo) / (hi - lo)) * (levels - 1))));
    };
    for (let r = 0; r < p.height; r++) {
      let start = 0;
      for (let c = 1; c <= p.width; c++) {
        const lvStart = level(r * p.width + start);
        if (c === p.width || level(r * p.width + c) !== lvStart) {
          const fill = levelColor(scale, lvStart, levels);
          // white and the diverging scale's near-white 0 are left to the background
          if (fill !== "#ffffff" && fill !== "#f7f7f7")
            cells.push({ x: ox + start, x2: ox + c, y: oy + r, y2: oy + r + 1, fill });
          start = c;
        }
      }
    }
    frames.push({ x: ox, x2: ox + p.width, y: oy, y2: oy + p.height });
    labels.push({ tx: ox + p.width / 2, ty: oy - 0.5, text: p.title });
  });
  const totalW = columns * cellW - gap;
  const totalH = rowsCount * cellH;
  const xs = {
    field: "x",
    type: "quantitative",
    scale: { domain: [-0.5, totalW + 0.5], nice: false, zero: false },
    axis: null,
  };
  const ys = {
    field: "y",
    type: "quantitative",
    scale: { domain: [-0.5, totalH], nice: false, zero: false, reverse: true },
    axis: null,
  };
  const title = options.title
    ? { title: options.subtitle ? { text: options.title, subtitle: options.subtitle } : options.title }
    : {};
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    ...title,
    width: Math.round((totalW + 1) * scale),
    height: Math.round((totalH + 0.5) * scale),
    view: { stroke: null },
    layer: [
      {
        data: { values: cells },
        // the stroke, in the fill colour, closes the hairline seams between neighbouring rows
        mark: { type: "rect", strokeWidth: 0.5 },
        encoding: {
          x: xs,
          x2: { field: "x2" },
          y: ys,
          y2: { field: "y2" },
          color: { field: "fill", type: "nominal", scale: null },
          stroke: { field: "fill", type: "nominal", scale: null },
        },
      },
      {
        data: { values: frames },
        mark: { type: "rect", fillOpacity: 0, stroke: "#999999", strokeWidth: 0.75 },
        encoding: { x: xs, x2: { field: "x2" }, y: ys, y2: { field: "y2" } },
      },
      {
        data: { values: labels },
        mark: { type: "text", baseline: "bottom", fontSize: 10 },
        encoding: {
          x: { ...xs, field: "tx" },
          y: { ...ys, field: "ty" },
          text: { field: "text", type: "nominal" },
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * The learned filters of a convolution layer as a grid of `kh x kw` heatmaps (blue negative, white
 * 0, red positive, one scale for all): one panel per filter, or per filter and input channel when
 * the layer has several input channels.
 * @param weights the layer's weights `[filters, channels, kh, kw]`, row-major
 * @throws RangeError when `weights` does not hold `filters * channels * kh * kw` numbers.
 */
export function filtersChart(
  weights: ArrayLike<number>,
  shape: readonly [filters: number, channels: number, kh: number, kw: number],
  options: { title?: string; columns?: number } = {},
): TopLevelSpec {
  const [o, c, kh, kw] = shape;
  if (weights.length !== o * c * kh * kw)
    throw new RangeError(
      `filtersChart: ${weights.length} weights for the shape [${shape.join(", ")}] (${o * c * kh * kw})`,
    );
  const panels: HeatmapPanel[] = [];
  let maxAbs = 0;
  for (let i = 0; i < weights.length; i++) maxAbs = Math.max(maxAbs, Math.abs(weights[i]!));
  for (let f = 0; f < o; f++) {
    for (let ch = 0; ch < c; ch++) {
      const start = (f * c + ch) * kh * kw;
      panels.push({
        title: c === 1 ? String(f + 1) : `${f + 1}.${ch + 1}`,
        values: Array.from({ length: kh * kw }, (_, i) => weights[start + i]!),
        width: kw,
        height: kh,
      });
    }
  }
  return heatmapGridChart(panels, {
    ...(options.title ? { title: options.title } : {}),
    subtitle: `${o} filters of ${kh}x${kw}${c > 1 ? ` over ${c} channels` : ""}; blue < 0 < red, |w| up to ${maxAbs.toPrecision(3)}`,
    columns: options.columns ?? Math.min(8, panels.length),
    scale: "diverging",
    cellSize: Math.max(8, Math.round(96 / Math.max(kh, kw))),
  });
}

/**
 * One input image and the feature maps a layer computes from it: the image in grey, then one
 * panel per channel, each from its own minimum (white) to its maximum (dark blue).
 * @param image the input's pixels, row-major, `imageShape.width * imageShape.height` of them
 * @param maps the layer's output for this image, `[channels, height, width]`, row-major
 * @throws RangeError when `maps` does not hold `channels * height * width` numbers.
 */
export function featureMapsChart(
  image: ArrayLike<number>,
  imageShape: { width: number; height: number },
  maps: ArrayLike<number>,
  mapShape: readonly [channels: number, height: number, width: number],
  options: { title?: string; subtitle?: string; columns?: number } = {},
): TopLevelSpec {
  const [c, h, w] = mapShape;
  if (maps.length !== c * h * w)
    throw new RangeError(
      `featureMapsChart: ${maps.length} values for the maps [${mapShape.join(", ")}] (${c * h * w})`,
    );
  const panels: HeatmapPanel[] = [
    { title: "input", values: image, width: imageShape.width, height: imageShape.height, scale: "grey" },
  ];
  for (let k = 0; k < c; k++) {
    panels.push({
      title: `map ${k + 1}`,
      values: Array.from({ length: h * w }, (_, i) => maps[k * h * w + i]!),
      width: w,
      height: h,
      scale: "sequential",
    });
  }
  return heatmapGridChart(panels, {
    ...(options.title ? { title: options.title } : {}),
    subtitle: options.subtitle ?? "each map from its own minimum (white) to its maximum (dark blue)",
    // the input and up to 8 maps on one row
    columns: options.columns ?? Math.min(9, panels.length),
    cellSize: Math.max(2, Math.round(96 / Math.max(h, w, imageShape.width, imageShape.height))),
  });
}

/**
 * Where a vision transformer looks: an input image, then for each attention head (and their mean)
 * the attention over the image's `grid x grid` patches, drawn twice: as blocks over the image's
 * area (first row, each panel from its own minimum, white, to its maximum, dark blue) and over the
 * digit (second row: the attention of each pixel's patch times the pixel's ink, so the strokes the
 * head attends to come out dark).
 * @param image the input pixels, row-major, in [0, 1]
 * @param attention `[heads, grid * grid]`: each head's attention to each patch, row-major over the grid
 * @throws RangeError when `attention` does not hold `heads * grid * grid` values, or the image does
 * not divide into `grid x grid` patches.
 */
export function attentionChart(
  image: ArrayLike<number>,
  imageShape: { width: number; height: number },
  attention: ArrayLike<number>,
  shape: readonly [heads: number, grid: number],
  options: { title?: string; subtitle?: string } = {},
): TopLevelSpec {
  const [heads, grid] = shape;
  const { width, height } = imageShape;
  if (attention.length !== heads * grid * grid)
    throw new RangeError(
      `attentionChart: ${attention.length} values for ${heads} heads over a ${grid}x${grid} grid (${heads * grid * grid})`,
    );
  if (width % grid !== 0 || height % grid !== 0 || image.length !== width * height)
    throw new RangeError(
      `attentionChart: a ${width}x${height} image of ${image.length} pixels does not divide into ${grid}x${grid} patches`,
    );
  const ph = height / grid;
  const pw = width / grid;
  const maps: { title: string; values: Float64Array }[] = [];
  for (let k = 0; k < heads; k++) {
    maps.push({
      title: `head ${k + 1}`,
      values: Float64Array.from({ length: grid * grid }, (_, i) => attention[k * grid * grid + i]!),
    });
  }
  const mean = new Float64Array(grid * grid);
  for (const m of maps) for (let i = 0; i < mean.length; i++) mean[i]! += m.values[i]! / heads;
  maps.push({ title: "mean of heads", values: mean });
  // each patch's value spread over its pixels
  const upsample = (v: Float64Array, ink: boolean) =>
    Float64Array.from({ length: width * height }, (_, i) => {
      const r = Math.floor(i / width);
      const c = i % width;
      const a = v[Math.floor(r / ph) * grid + Math.floor(c / pw)]!;
      return ink ? a * image[i]! : a;
    });
  const input: HeatmapPanel = { title: "input", values: image, width, height, scale: "grey" };
  const panels: HeatmapPanel[] = [
    input,
    ...maps.map((m) => ({
      title: m.title,
      values: upsample(m.values, false),
      width,
      height,
      scale: "sequential" as const,
    })),
    input,
    ...maps.map((m) => ({
      title: `${m.title} x ink`,
      values: upsample(m.values, true),
      width,
      height,
      scale: "sequential" as const,
    })),
  ];
  return heatmapGridChart(panels, {
    ...(options.title ? { title: options.title } : {}),
    subtitle:
      options.subtitle ??
      `attention to each of the ${grid}x${grid} patches (white: the panel's least, dark blue: its most); second row: times the pixels' ink`,
    columns: maps.length + 1,
    cellSize: Math.max(2, Math.round(96 / Math.max(width, height))),
  });
}
