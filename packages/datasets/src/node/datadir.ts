/**
 * Where data files are looked for: the `dir` option, else `GRADGRAPH_DATA_DIR`, then the per-user cache.
 * @module
 */
import os from "node:os";
import path from "node:path";

/** The environment variable naming a data directory: `GRADGRAPH_DATA_DIR`. */
export const DATA_DIR_ENV = "GRADGRAPH_DATA_DIR";

/** Environment variables, as in `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The per-user cache directory for downloads: `$XDG_CACHE_HOME/gradgraph` when `XDG_CACHE_HOME` is set,
 * else `%LOCALAPPDATA%\gradgraph\Cache` on Windows, `~/Library/Caches/gradgraph` on macOS and
 * `~/.cache/gradgraph` elsewhere.
 */
export function defaultCacheDir(
  env: Env = process.env,
  platform: string = process.platform,
  home: string = os.homedir(),
): string {
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, "gradgraph");
  if (platform === "win32") {
    return path.join(env.LOCALAPPDATA ?? path.join(home, "AppData", "Local"), "gradgraph", "Cache");
  }
  if (platform === "darwin") return path.join(home, "Library", "Caches", "gradgraph");
  return path.join(home, ".cache", "gradgraph");
}

/** Options that choose the data directories. */
export interface DataDirOptions {
  /** A data directory laid out like the shared one (`mnist/`, `sklearn-digits/`, `ng-ex4/`); takes precedence over the environment. */
  dir?: string;
  /** Where downloads go and are looked for last (default {@link defaultCacheDir}). */
  cacheDir?: string;
  /** Environment to read `GRADGRAPH_DATA_DIR` and `XDG_CACHE_HOME` from (default `process.env`). */
  env?: Env;
}

/** The resolved directories. */
export interface DataDirs {
  /** Directories searched for existing files, in order (the explicit or environment directory, then the cache). */
  readonly search: readonly string[];
  /** The download cache. */
  readonly cacheDir: string;
  /** Where the first searched directory came from. */
  readonly source: "option" | "env" | "cache";
}

/**
 * Resolves the data directories: the `dir` option if given, else `$GRADGRAPH_DATA_DIR` if set; then the
 * cache directory. Files are looked for in that order and downloaded into the cache.
 */
export function resolveDataDirs(options: DataDirOptions = {}): DataDirs {
  const env = options.env ?? process.env;
  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir(env));
  const explicit = options.dir || env[DATA_DIR_ENV];
  const source = options.dir ? "option" : explicit ? "env" : "cache";
  const search = explicit ? [path.resolve(explicit)] : [];
  if (!search.includes(cacheDir)) search.push(cacheDir);
  return { search, cacheDir, source };
}
