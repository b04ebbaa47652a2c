/**
 * Serves the console (console/, DESIGN.md §14) at `/`: the page, its bundle and chunks, built by
 * bin/build.js into dist/console. Read once and gzipped once; nothing else is ever fetched. The
 * page is static like GraphiQL (its queries need the API key like any other).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { Plugin } from "graphql-yoga";
import { PROJECT_ROOT } from "../common/paths";

export const CONSOLE_DIR = path.join(PROJECT_ROOT, "dist", "console");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

/** "/" → index.html, "/console/<file>" → every other file (the bundle and its chunks). */
function load(dir: string): Map<string, Asset> | undefined {
  if (!existsSync(path.join(dir, "index.html"))) return undefined;
  const assets = new Map<string, Asset>();
  for (const file of readdirSync(dir)) {
    const type = TYPES[path.extname(file)];
    if (!type) continue;
    const body = readFileSync(path.join(dir, file));
    assets.set(file === "index.html" ? "/" : `/console/${file}`, { type, body, gzip: gzipSync(body, { level: 9 }) });
  }
  return assets;
}

export function consolePlugin(dir = CONSOLE_DIR): Plugin {
  let assets: Map<string, Asset> | undefined;
  return {
    onRequest({ request, url, endResponse }) {
      const route = url.pathname;
      if ((route !== "/" && !route.startsWith("/console/")) || (request.method !== "GET" && request.method !== "HEAD"))
        return;
      assets ??= load(dir);
      if (!assets)
        return endResponse(
          new Response(`The console is not built (no ${dir}): run npm run build. The API is at /graphql.\n`, {
            status: 503,
            headers: { "content-type": "text/plain; charset=utf-8" },
          }),
        );
      const a = assets.get(route);
      if (!a) return; // Yoga answers 404
      const gzip = /\bgzip\b/.test(request.headers.get("accept-encoding") ?? "");
      return endResponse(
        new Response(request.method === "HEAD" ? null : gzip ? a.gzip : a.body, {
          headers: {
            "content-type": a.type,
            "cache-control": "no-cache",
            vary: "accept-encoding",
            "x-content-type-options": "nosniff",
            ...(gzip && { "content-encoding": "gzip" }),
          },
        }),
      );
    },
  };
}
