/**
 * The playground in a real browser: builds the page with Vite, serves the static build twice (with
 * COOP/COEP headers, so the page is cross-origin isolated, and without), and in each opens it in
 * Chromium through playwright-core, trains until the decision boundary classifies >= 95% of the
 * points, checks the backend line and that both graphs rendered, and saves a screenshot to
 * out/web/.
 *
 * Needs a Chromium executable: $GRADGRAPH_CHROMIUM, else /usr/bin/chromium (Debian's
 * `apt-get install chromium`). Without one the test is skipped with a one-line notice.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const WEB = resolve(HERE, "../web");
const DIST = join(WEB, "dist");
const SHOTS = resolve(HERE, "../../out/web");

/**
 * The Chromium to drive: $GRADGRAPH_CHROMIUM (when it names a file), else the first of the usual
 * system paths that exists; null and why when there is none.
 */
function findChromium(): { path: string | null; why: string } {
  const env = process.env.GRADGRAPH_CHROMIUM;
  if (env)
    return existsSync(env)
      ? { path: env, why: "" }
      : { path: null, why: `GRADGRAPH_CHROMIUM=${env} does not exist` };
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"])
    if (existsSync(p)) return { path: p, why: "" };
  return { path: null, why: "no Chromium found" };
}

const { path: CHROMIUM, why: NO_CHROMIUM } = findChromium();
if (!CHROMIUM)
  console.log(
    `web.browser.test.ts skipped: ${NO_CHROMIUM} (apt-get install chromium, or set GRADGRAPH_CHROMIUM to its executable)`,
  );

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
};

/** A static file server for `root`; with `isolate`, every response carries COOP/COEP headers. */
function serve(root: string, isolate: boolean): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const file = normalize(join(root, path.endsWith("/") ? `${path}index.html` : path));
      if (!file.startsWith(root) || !(await stat(file).catch(() => null))?.isFile()) {
        res.writeHead(404).end("not found");
        return;
      }
      const headers: Record<string, string> = {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      };
      if (isolate) {
        headers["cross-origin-opener-policy"] = "same-origin";
        headers["cross-origin-embedder-policy"] = "require-corp";
      }
      res.writeHead(200, headers).end(await readFile(file));
    })();
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

interface PageState {
  state: string;
  steps: number;
  accuracy: number;
  graphsRendered: boolean;
  backend: { backend: string; threads: number; sharedMemory: boolean; crossOriginIsolated: boolean };
}

describe.skipIf(!CHROMIUM)("the playground in Chromium", () => {
  let browser: Browser;
  const servers: Server[] = [];

  beforeAll(async () => {
    await build({ configFile: join(WEB, "vite.config.ts"), logLevel: "warn" });
    await mkdir(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM!, args: ["--no-sandbox"] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of servers) s.close();
  });

  for (const isolate of [true, false]) {
    const mode = isolate ? "cross-origin isolated" : "not isolated";
    test(`trains to >= 95% accuracy with the WebAssembly kernels (${mode})`, async () => {
      const server = await serve(DIST, isolate);
      servers.push(server);
      const { port } = server.address() as AddressInfo;
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => window.__playground?.state === "idle");
      if (isolate) {
        // Web Workers join core's matrix kernels in an isolated page (the page starts them)
        await page.waitForFunction(() => (window.__playground?.backend.threads ?? 0) > 1, undefined, {
          timeout: 20_000,
        });
      }
      const started = Date.now();
      await page.click("#start");
      await page.waitForFunction(
        () => (window.__playground?.accuracy ?? 0) >= 0.95 && window.__playground?.graphsRendered === true,
        undefined,
        { timeout: 40_000 },
      );
      const seconds = (Date.now() - started) / 1000;
      const s = (await page.evaluate(() => {
        const p = window.__playground!;
        return { ...p, start: undefined, pause: undefined };
      })) as unknown as PageState;
      await page.screenshot({
        path: join(SHOTS, `playground-${isolate ? "isolated" : "not-isolated"}.png`),
        fullPage: true,
      });
      console.log(
        `playground (${mode}): ${s.backend.backend}, ${s.backend.threads} thread(s), accuracy ${s.accuracy} after ${s.steps} steps, ${seconds.toFixed(1)} s`,
      );
      expect(errors).toEqual([]);
      expect(s.accuracy).toBeGreaterThanOrEqual(0.95);
      expect(s.backend.crossOriginIsolated).toBe(isolate);
      // the WebAssembly SIMD kernels run with and without SharedArrayBuffer (then on one thread)
      expect(s.backend.backend).toBe("wasm-simd");
      expect(s.backend.sharedMemory).toBe(isolate);
      if (isolate) expect(s.backend.threads).toBeGreaterThan(1);
      else expect(s.backend.threads).toBe(1);
      expect(await page.locator("#graph-forward svg").count()).toBe(1);
      expect(await page.locator("#graph-gradient svg").count()).toBe(1);
      const line = await page.locator("#backend").textContent();
      expect(line).toContain("backend: wasm-simd");
      if (!isolate) expect(line).toContain("SharedArrayBuffer is unavailable");
      await page.close();
    }, 60_000);
  }
});
