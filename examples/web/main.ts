/**
 * The playground page: reads the controls, trains a {@link Trainer} with `fitAsync` (which yields
 * to the browser every few milliseconds, so the page stays responsive), and draws the decision
 * boundary, the loss curve and the two graphs (rendered from DOT by Graphviz compiled to
 * WebAssembly, `@viz-js/viz`). Its state is on `window.__playground` and on `<body>`'s data
 * attributes (`data-state`, `data-accuracy`, `data-backend`) for tests.
 * @module
 */
import { NonFiniteLossError } from "@gradgraph/models";
import {
  type BackendDescription,
  type DatasetName,
  DEFAULT_SETTINGS,
  describeBackend,
  type HiddenActivation,
  type PlaygroundSettings,
  startWorkerThreads,
  Trainer,
} from "./playground.js";

/** What the page exposes on `window.__playground`. */
export interface PlaygroundState {
  /** `"idle"`, `"training"`, `"paused"`, `"done"` (accuracy reached, or the step cap) or `"error"`. */
  state: string;
  /** Steps taken. */
  steps: number;
  /** Last step's loss. */
  loss: number;
  /** Accuracy of the current boundary on the points. */
  accuracy: number;
  /** The settings in use. */
  settings: PlaygroundSettings;
  /** The active kernels. */
  backend: BackendDescription;
  /** Whether both graphs have been rendered. */
  graphsRendered: boolean;
  /** Starts (or resumes) training. */
  start(): void;
  /** Pauses training. */
  pause(): void;
}

declare global {
  interface Window {
    /** The playground's state, for tests and the console. */
    __playground?: PlaygroundState;
  }
}

/** Steps after which training stops by itself. */
const MAX_STEPS = 5000;
/** Milliseconds of training between two yields to the browser. */
const CHUNK_MS = 12;
/** Cells per side of the boundary grid. */
const GRID = 60;

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`playground: the page has no element #${id}`);
  return e as T;
}

const inputs = {
  dataset: el<HTMLSelectElement>("dataset"),
  hidden: el<HTMLInputElement>("hidden"),
  activation: el<HTMLSelectElement>("activation"),
  lr: el<HTMLInputElement>("lr"),
  l2: el<HTMLInputElement>("l2"),
  noise: el<HTMLInputElement>("noise"),
};
inputs.dataset.value = DEFAULT_SETTINGS.dataset;
inputs.hidden.value = String(DEFAULT_SETTINGS.hidden);
inputs.activation.value = DEFAULT_SETTINGS.activation;
inputs.lr.value = String(DEFAULT_SETTINGS.lr);
inputs.l2.value = String(DEFAULT_SETTINGS.l2);
inputs.noise.value = String(DEFAULT_SETTINGS.noise);

function readSettings(): PlaygroundSettings {
  return {
    ...DEFAULT_SETTINGS,
    dataset: inputs.dataset.value as DatasetName,
    hidden: Number(inputs.hidden.value),
    activation: inputs.activation.value as HiddenActivation,
    lr: Number(inputs.lr.value),
    l2: Number(inputs.l2.value),
    noise: Number(inputs.noise.value),
  };
}

const boundary = el<HTMLCanvasElement>("boundary");
const lossCanvas = el<HTMLCanvasElement>("loss");
const statusLine = el<HTMLParagraphElement>("status");
const errorLine = el<HTMLParagraphElement>("error");

/** Worker threads asked for in a cross-origin isolated page (the page's own thread is one more). */
const WORKERS = Math.max(1, Math.min(3, (navigator.hardwareConcurrency || 2) - 1));
const workersStarted = startWorkerThreads(WORKERS);

/** Shows core's `backendInfo()` on the top line; returns it. */
function showBackend(): BackendDescription {
  const b = describeBackend();
  const line = el<HTMLParagraphElement>("backend");
  const where = b.crossOriginIsolated
    ? "cross-origin isolated"
    : "not cross-origin isolated (no SharedArrayBuffer)";
  const limits = b.limitations.length ? `. ${b.limitations.join(". ")}` : "";
  line.textContent = `backend: ${b.backend}, ${b.threads} thread(s), page ${where}${limits}`;
  line.dataset.backend = b.backend;
  document.body.dataset.backend = b.backend;
  return b;
}
const backend = showBackend();
// workers join as they load: update the line until all have
if (workersStarted) {
  let tries = 0;
  const poll = () => {
    state.backend = showBackend();
    if (state.backend.threads < WORKERS + 1 && ++tries < 40) setTimeout(poll, 250);
  };
  setTimeout(poll, 100);
}

let trainer: Trainer | null = null;
let running = false;
const state: PlaygroundState = {
  state: "idle",
  steps: 0,
  loss: Number.NaN,
  accuracy: 0,
  settings: DEFAULT_SETTINGS,
  backend,
  graphsRendered: false,
  start,
  pause,
};
window.__playground = state;

function setState(s: string): void {
  state.state = s;
  document.body.dataset.state = s;
}
setState("idle");

/** Draws the probability of class 1 as colour, the 0.5 contour as the boundary, and the points. */
function drawBoundary(t: Trainer): void {
  const ctx = boundary.getContext("2d")!;
  const w = boundary.width;
  const h = boundary.height;
  const p = t.grid(GRID);
  const img = ctx.createImageData(GRID, GRID);
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    // class 0 blue, class 1 orange, pale near 0.5
    img.data[4 * i] = Math.round(255 - 120 * (1 - v));
    img.data[4 * i + 1] = Math.round(255 - 90 * Math.abs(v - 0.5) * 2);
    img.data[4 * i + 2] = Math.round(255 - 140 * v);
    img.data[4 * i + 3] = 255;
  }
  const off = new OffscreenCanvas(GRID, GRID);
  off.getContext("2d")!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, w, h);
  const { x0, x1, y0, y1 } = t.bounds;
  const d = t.data.x.data;
  for (let i = 0; i < t.data.y.length; i++) {
    const px = ((d[2 * i]! - x0) / (x1 - x0)) * w;
    const py = ((y1 - d[2 * i + 1]!) / (y1 - y0)) * h;
    ctx.beginPath();
    ctx.arc(px, py, 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = t.data.y[i] === 1 ? "#e6550d" : "#3182bd";
    ctx.fill();
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }
}

/** Draws the loss of every step on a log scale. */
function drawLoss(t: Trainer): void {
  const ctx = lossCanvas.getContext("2d")!;
  const w = lossCanvas.width;
  const h = lossCanvas.height;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  const ls = t.losses;
  if (ls.length === 0) return;
  const logs = ls.map((l) => Math.log10(Math.max(l, 1e-6)));
  const hi = Math.max(...logs.slice(0, 1), ...logs.slice(-1)) + 0.1;
  const top = Math.max(
    hi,
    logs.reduce((a, b) => Math.max(a, b), -Infinity),
  );
  const bottom =
    Math.min(
      ...logs.slice(-1),
      logs.reduce((a, b) => Math.min(a, b), Infinity),
    ) - 0.1;
  const pad = 30;
  ctx.strokeStyle = "#999";
  ctx.strokeRect(pad, 5, w - pad - 5, h - pad - 5);
  ctx.fillStyle = "#444";
  ctx.font = "11px sans-serif";
  ctx.fillText((10 ** top).toPrecision(2), 0, 14);
  ctx.fillText((10 ** bottom).toPrecision(2), 0, h - pad);
  ctx.fillText(`step ${ls.length}`, w - 70, h - 10);
  ctx.beginPath();
  const n = ls.length;
  const stride = Math.max(1, Math.floor(n / 600));
  for (let i = 0; i < n; i += stride) {
    const x = pad + (n === 1 ? 0 : (i / (n - 1)) * (w - pad - 5));
    const y = 5 + ((top - logs[i]!) / (top - bottom || 1)) * (h - pad - 5);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.strokeStyle = "#d62728";
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineWidth = 1;
}

function showStatus(t: Trainer): void {
  state.steps = t.steps;
  state.loss = t.losses.at(-1) ?? Number.NaN;
  state.accuracy = t.accuracy();
  document.body.dataset.accuracy = state.accuracy.toFixed(4);
  document.body.dataset.steps = String(state.steps);
  statusLine.textContent = `step ${state.steps}, loss ${state.loss.toFixed(4)}, accuracy ${(100 * state.accuracy).toFixed(1)}%`;
}

/** Renders both graphs with Graphviz (loaded on first use: it is a large module). */
async function renderGraphs(t: Trainer): Promise<void> {
  state.graphsRendered = false;
  const targets = [
    [el<HTMLDivElement>("graph-forward"), t.forwardDot()],
    [el<HTMLDivElement>("graph-gradient"), t.gradientDot()],
  ] as const;
  try {
    const { instance } = await import("@viz-js/viz");
    const viz = await instance();
    for (const [div, dot] of targets) {
      div.replaceChildren(viz.renderSVGElement(dot));
    }
    if (t === trainer) state.graphsRendered = true;
  } catch (e) {
    for (const [div] of targets) div.textContent = `could not render the graph: ${String(e)}`;
  }
}

function newTrainer(): Trainer | null {
  try {
    const t = new Trainer(readSettings());
    state.settings = t.settings;
    errorLine.textContent = "";
    return t;
  } catch (e) {
    errorLine.textContent = e instanceof Error ? e.message : String(e);
    setState("error");
    return null;
  }
}

/** Waits for the next frame (or a task, when the page is hidden and frames do not come). */
function nextFrame(): Promise<void> {
  return new Promise((resolve) => {
    if (document.visibilityState === "visible") requestAnimationFrame(() => resolve());
    else setTimeout(resolve, 50);
  });
}

/** Draws the boundary, the loss curve and the status line. */
function redraw(t: Trainer): void {
  drawBoundary(t);
  drawLoss(t);
  showStatus(t);
}

/** Redraws once a frame while `t` trains (between `fitAsync`'s slices: never in mid-step). */
async function drawLoop(t: Trainer): Promise<void> {
  while (running && trainer === t) {
    redraw(t);
    await nextFrame();
  }
}

let controller: AbortController | null = null;

/** Why training stopped, for the error line. */
function failureText(e: unknown): string {
  if (e instanceof NonFiniteLossError) return `${e.message}: try a smaller learning rate`;
  return e instanceof Error ? e.message : String(e);
}

function start(): void {
  if (running) return;
  if (!trainer || state.state === "done" || state.state === "error") {
    trainer = newTrainer();
    if (!trainer) return;
    void renderGraphs(trainer);
  }
  const t = trainer;
  const c = new AbortController();
  controller = c;
  running = true;
  setState("training");
  void drawLoop(t);
  t.trainAsync({ maxSteps: MAX_STEPS, signal: c.signal, yieldEveryMs: CHUNK_MS }).then(
    () => {
      if (trainer !== t || c.signal.aborted) return;
      running = false;
      redraw(t);
      setState("done");
    },
    (e: unknown) => {
      if (c.signal.aborted) return; // paused or reset
      running = false;
      redraw(t);
      errorLine.textContent = failureText(e);
      setState("error");
    },
  );
}

function pause(): void {
  if (!running) return;
  running = false;
  controller?.abort();
  if (trainer) redraw(trainer);
  setState("paused");
}

function reset(): void {
  running = false;
  controller?.abort();
  trainer = newTrainer();
  if (!trainer) return;
  setState("idle");
  drawBoundary(trainer);
  drawLoss(trainer);
  showStatus(trainer);
  void renderGraphs(trainer);
}

el<HTMLButtonElement>("start").addEventListener("click", start);
el<HTMLButtonElement>("pause").addEventListener("click", pause);
el<HTMLButtonElement>("reset").addEventListener("click", reset);
for (const input of Object.values(inputs)) input.addEventListener("change", reset);
reset();
