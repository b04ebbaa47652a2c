/**
 * The console and GraphiQL in headless Chromium against a real dev stack (`dtl dev --port 0
 * --chain-port 0`), with the network cut off (test/console/browser.ts): nothing may come from
 * anywhere but the API's own origin. Screenshots go to .screenshots/ (git ignores it).
 */
import { expect } from "chai";
import path from "node:path";
import type { Browser } from "playwright-core";
import { ensureBuilt, startDtl, tempDir, type RunningDtl } from "../helpers/cli-run";
import { launchBrowser, offlinePage, screenshot } from "./browser";

describe("console (headless Chromium, offline)", function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let dev: RunningDtl;
  let browser: Browser;
  /** http://127.0.0.1:port of the API, from the banner. */
  let origin: string;

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    const env = {
      DTL_DATA_DIR: path.join(tmp.dir, "dev"),
      DTL_DEPLOYMENT: path.join(tmp.dir, "deployments", "31337.json"),
    };
    dev = startDtl(["dev", "--port", "0", "--chain-port", "0"], { env, cwd: tmp.dir });
    [, browser] = await Promise.all([dev.waitFor(/Ctrl-C stops everything\./, 90_000), launchBrowser()]);
    origin = /^ {2}GraphQL {7}(http:\/\/127\.0\.0\.1:\d+)\/graphql /m.exec(dev.stdout())![1]!;
  });
  after(async function () {
    await browser?.close();
    await dev?.stop("SIGKILL");
    tmp?.cleanup();
  });

  it("GraphiQL renders and runs a query with the network cut off", async function () {
    const p = await offlinePage(browser, origin);
    try {
      const query = "{ indexerStatus { chainId } }";
      await p.page.goto(`${origin}/graphql?query=${encodeURIComponent(query)}`);
      await p.page.locator(".graphiql-execute-button").click({ timeout: 30_000 });
      await p.page.getByText('"chainId": 31337').waitFor({ timeout: 30_000 });
      await screenshot(p.page, "graphiql");
      expect(p.blocked).to.deep.equal([]);
      expect(p.errors).to.deep.equal([]);
    } finally {
      await p.close();
    }
  });
});
