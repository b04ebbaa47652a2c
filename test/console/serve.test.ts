/**
 * api/console.ts inside a real Yoga (no port): the page, bundle and chunks as bin/build.js built
 * them, gzipped when the client accepts it, and a plain 503 that says what to do when not built.
 */
import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { createSchema, createYoga } from "graphql-yoga";
import { CONSOLE_DIR, consolePlugin } from "../../api/console";
import { ensureBuilt, tempDir } from "../helpers/cli-run";

const schema = createSchema({ typeDefs: "type Query { ok: Boolean! }", resolvers: { Query: { ok: () => true } } });
const yogaFor = (dir?: string) => createYoga({ schema, plugins: [consolePlugin(dir)], logging: false });

describe("console assets (api/console.ts)", function () {
  before(function () {
    ensureBuilt();
  });

  it("serves the page, the bundle and its chunks byte for byte, gzipped on request, HEAD without a body", async function () {
    const yoga = yogaFor();
    const files = readdirSync(CONSOLE_DIR);
    expect(files).to.include.members(["index.html", "app.js", "app.css"]);
    expect(files.filter((f) => f.startsWith("chunk-")).length).to.be.greaterThan(0);
    const type = (f: string) =>
      f.endsWith(".html")
        ? "text/html; charset=utf-8"
        : f.endsWith(".css")
          ? "text/css; charset=utf-8"
          : "text/javascript; charset=utf-8";
    for (const [route, file] of files.map((f) => [f === "index.html" ? "/" : `/console/${f}`, f] as const)) {
      const want = readFileSync(path.join(CONSOLE_DIR, file));
      const plain = await yoga.fetch(`http://console.test${route}`);
      expect([route, plain.status, plain.headers.get("content-type")]).to.deep.equal([route, 200, type(file)]);
      expect(Buffer.from(await plain.arrayBuffer()).equals(want), route).to.equal(true);
      const gz = await yoga.fetch(`http://console.test${route}`, { headers: { "accept-encoding": "gzip, br" } });
      expect(gz.headers.get("content-encoding")).to.equal("gzip");
      expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).equals(want), route).to.equal(true);
      const head = await yoga.fetch(`http://console.test${route}`, { method: "HEAD" });
      expect([head.status, (await head.arrayBuffer()).byteLength]).to.deep.equal([200, 0]);
    }
    // the page loads nothing from elsewhere
    expect(readFileSync(path.join(CONSOLE_DIR, "index.html"), "utf8")).not.to.match(/(src|href)="(https?:)?\/\//);
    // other routes are not the console's
    expect((await yoga.fetch("http://console.test/console/other.js")).status).to.equal(404);
  });

  it("says 503 and how to build it when the console was not built", async function () {
    const tmp = tempDir();
    try {
      const res = await yogaFor(tmp.dir).fetch("http://console.test/");
      expect(res.status).to.equal(503);
      expect(await res.text()).to.equal(
        `The console is not built (no ${tmp.dir}): run npm run build. The API is at /graphql.\n`,
      );
    } finally {
      tmp.cleanup();
    }
  });
});
