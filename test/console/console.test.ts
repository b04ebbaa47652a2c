/**
 * The console and GraphiQL in headless Chromium against a real dev stack (`dtl dev --port 0
 * --chain-port 0`), with the network cut off (test/console/browser.ts): nothing may come from
 * anywhere but the API's own origin, and no page may log an error. Screenshots of every page go
 * to .screenshots/ (git ignores it).
 */
import { expect } from "chai";
import { Contract, JsonRpcProvider, Wallet, ZeroHash, encodeBytes32String, keccak256, toUtf8Bytes } from "ethers";
import { readFileSync } from "node:fs";
import path from "node:path";
import { registryAbi } from "../../common/abi";
import { HARDHAT_KEYS } from "../../common/hardhat-node";
import { batchIdFor, loadAnchorMerkle } from "../../common/merkle";
import type { Browser } from "playwright-core";
import { ensureBuilt, runDtl, startDtl, startServe, tempDir, type RunningDtl } from "../helpers/cli-run";
import { launchBrowser, offlinePage, screenshot, type OfflinePage } from "./browser";
import { startTamperProxy } from "./tamper-proxy";

interface DemoDevice {
  name: string;
  status: "ACTIVE" | "SUSPENDED" | "REVOKED";
  id: string;
}

describe("console (headless Chromium, offline)", function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let dev: RunningDtl;
  let browser: Browser;
  /** http://127.0.0.1:port of the API, from the banner. */
  let origin: string;
  let chainUrl: string;
  let env: Record<string, string>;
  let fleet: DemoDevice[];

  /** GraphQL over HTTP, straight to the API (what the page should show). */
  async function api<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(`${origin}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data: T; errors?: unknown };
    expect(body.errors).to.equal(undefined);
    return body.data;
  }

  /**
   * Opens `hash` on `at` (default the API) offline, runs `check`, saves a screenshot, then holds the
   * page to no blocked request and no console error.
   */
  async function visit(
    hash: string,
    shot: string,
    check: (p: OfflinePage) => Promise<void>,
    opts: { at?: string; viewport?: { width: number; height: number }; cutOff?: boolean; expectedErrors?: RegExp } = {},
  ): Promise<void> {
    const at = opts.at ?? origin;
    const p = await offlinePage(browser, at, opts.viewport);
    try {
      await p.page.goto(`${at}/${hash}`);
      await check(p);
      await screenshot(p.page, shot);
      expect(p.blocked).to.deep.equal([]);
      // Chromium logs the loads that failed after a test cut the server off on purpose; nothing else
      const expected = (e: string) =>
        (opts.cutOff === true && /^Failed to load resource: net::ERR_/.test(e)) ||
        opts.expectedErrors?.test(e) === true;
      expect(p.errors.filter((e) => !expected(e))).to.deep.equal([]);
    } finally {
      await p.close();
    }
  }

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    env = {
      DTL_DATA_DIR: path.join(tmp.dir, "dev"),
      DTL_DEPLOYMENT: path.join(tmp.dir, "deployments", "31337.json"),
    };
    dev = startDtl(["dev", "--port", "0", "--chain-port", "0"], { env, cwd: tmp.dir });
    [, browser] = await Promise.all([dev.waitFor(/Ctrl-C stops everything\./, 90_000), launchBrowser()]);
    const banner = dev.stdout();
    origin = /^ {2}GraphQL {7}(http:\/\/127\.0\.0\.1:\d+)\/graphql /m.exec(banner)![1]!;
    chainUrl = /^ {2}chain {9}(http:\/\/127\.0\.0\.1:\d+) /m.exec(banner)![1]!;
    fleet = [...banner.matchAll(/^ {4}(demo-\S+)\s+\S+\s+(ACTIVE|SUSPENDED|REVOKED)\s+\S+\s+(0x[0-9a-f]{64})$/gm)].map(
      (m) => ({ name: m[1]!, status: m[2] as DemoDevice["status"], id: m[3]! }),
    );
    expect(fleet.length).to.be.greaterThan(2);
  });
  after(async function () {
    await browser?.close();
    await dev?.stop("SIGKILL");
    tmp?.cleanup();
  });

  it("GraphiQL renders and runs a query with the network cut off", async function () {
    const query = "{ indexerStatus { chainId } }";
    await visit(`graphql?query=${encodeURIComponent(query)}`, "graphiql", async ({ page }) => {
      await page.locator(".graphiql-execute-button").click({ timeout: 30_000 });
      await page.getByText('"chainId": 31337').waitFor({ timeout: 30_000 });
    });
  });

  it("the overview shows the demo fleet's counts by status, segment, manufacturer and key algorithm, and the indexer's block and digest", async function () {
    const { indexerStatus } = await api<{ indexerStatus: { digest: string } }>("{ indexerStatus { digest } }");
    await visit("", "overview", async ({ page }) => {
      await page.locator("#status-counts").waitFor();
      for (const s of ["ACTIVE", "SUSPENDED", "REVOKED"] as const) {
        const n = await page.locator(`#status-counts tr[data-status=${s}] td.n`).textContent();
        expect([s, n]).to.deep.equal([s, String(fleet.filter((d) => d.status === s).length)]);
      }
      expect(await page.locator("#status-counts tr[data-status=ALL] td.n").textContent()).to.equal(
        String(fleet.length),
      );
      await page.locator("#indexer-status").getByText(indexerStatus.digest).waitFor();
      // dtl dev runs without DTL_WITNESS_KEY: the panel says so
      await page.locator("#witness-none").waitFor();
      await page.locator(".chart canvas").waitFor();
      // by segment, manufacturer and key algorithm: each row as a brute-force count over the devices
      const { devices } = await api<{
        devices: { edges: { node: { segment: string; manufacturer: string; keyAlgorithm: string } }[] };
      }>("{ devices(first: 500) { edges { node { segment manufacturer keyAlgorithm } } } }");
      const nodes = devices.edges.map((e) => e.node);
      for (const [table, key] of [
        ["segment-counts", (d: (typeof nodes)[number]) => d.segment],
        ["manufacturer-counts", (d: (typeof nodes)[number]) => d.manufacturer],
        ["algorithm-counts", (d: (typeof nodes)[number]) => d.keyAlgorithm],
      ] as const) {
        const expected = new Map<string, string>();
        for (const d of nodes) expected.set(key(d), String(Number(expected.get(key(d)) ?? 0) + 1));
        const shown = new Map<string, string>();
        for (const row of await page.locator(`#${table} tbody tr[data-key]`).all())
          shown.set((await row.getAttribute("data-key"))!, (await row.locator("td.n").textContent())!);
        expect([table, Object.fromEntries(shown)]).to.deep.equal([table, Object.fromEntries(expected)]);
      }
      // attestations expiring soon: the rows are the unrevoked attestations expiring within the window
      const { devices: withAtts } = await api<{
        devices: { edges: { node: { attestations: { uid: string; expiresAt: string | null; revoked: boolean }[] } }[] };
      }>("{ devices(first: 500) { edges { node { attestations { uid expiresAt revoked } } } } }");
      const within = (days: number) =>
        withAtts.edges
          .flatMap((e) => e.node.attestations)
          .filter((a) => !a.revoked && a.expiresAt !== null && Date.parse(a.expiresAt) < Date.now() + days * 86_400_000)
          .map((a) => a.uid)
          .sort();
      const rows = async () =>
        (
          await Promise.all((await page.locator("#expiring tbody tr").all()).map((r) => r.getAttribute("data-uid")))
        ).sort();
      await page.locator("#expiring tbody tr").first().waitFor();
      expect(within(30).length).to.be.greaterThan(0);
      expect(await rows()).to.deep.equal(within(30));
      await page.locator("#expiring-window").selectOption("90");
      await page.waitForFunction(
        (n) => document.querySelectorAll("#expiring tbody tr").length === n,
        within(91).length,
      );
      expect(within(91).length).to.be.greaterThan(within(30).length);
      expect(await rows()).to.deep.equal(within(91));
    });
  });

  it("finds a device by filter, id and serial, and its timeline has every history entry", async function () {
    const revoked = fleet.find((d) => d.status === "REVOKED")!;
    const { device: record } = await api<{ device: { manufacturer: string } }>(
      `query ($id: Bytes32!) { device(id: $id) { manufacturer } }`,
      { id: revoked.id },
    );
    const manufacturer = record.manufacturer;
    await visit("#/devices?status=REVOKED", "devices", async ({ page }) => {
      await page.locator("#device-total").getByText("1 devices match").waitFor();
      await page.locator(`a[href="#/device/${revoked.id}"]`).waitFor();
      await screenshot(page, "device-list");
      // a keyboard user: type the id, Enter
      await page.locator("#lookup-id").fill(fleet[0]!.id);
      await page.keyboard.press("Enter");
      await page.locator("#device-record").getByText(fleet[0]!.id).waitFor();
      // by serial and manufacturer (the id is computed in the page, as the CLI does)
      await page.goto(`${origin}/#/devices`);
      await page.locator("#lookup-serial").fill(revoked.name);
      await page.locator("#lookup-manufacturer").fill(manufacturer);
      await page.keyboard.press("Enter");
      await page.locator("#device-record").getByText(revoked.id).waitFor();
    });
    const { device } = await api<{ device: { history: { edges: { node: { seq: number; kind: string } }[] } } }>(
      `query ($id: Bytes32!) { device(id: $id) { history(first: 500) { edges { node { seq kind } } } } }`,
      { id: revoked.id },
    );
    await visit(`#/device/${revoked.id}`, "device", async ({ page }) => {
      await page.locator("#timeline li").first().waitFor();
      const shown = await page.locator("#timeline li .when strong").allTextContents();
      expect(shown).to.deep.equal(device.history.edges.map((e) => `#${e.node.seq} ${e.node.kind}`));
      await page.locator("#verdict").getByText("NOT TRUSTED").waitFor();
      await page.locator("#verdict").getByText("the device is revoked").waitFor();
    });
  });

  it("a device page turns REVOKED live when another process revokes it, the live feed shows it; fits a phone", async function () {
    const victim = fleet.find((d) => d.status === "ACTIVE")!;
    await visit(
      `#/device/${victim.id}`,
      "device-live-phone",
      async ({ page }) => {
        await page.locator("#device-status").getByText("ACTIVE").waitFor();
        await page.locator("#device-registration").getByText("direct").waitFor();
        // the monitor runs inside dtl dev and has seen nothing of this device
        await page.locator("#risk-score").getByText("no signals").waitFor();
        await page.locator("#timeline li").first().waitFor();
        const before = await page.locator("#timeline li").count();
        // the live feed, open in another tab meanwhile
        const feed = await offlinePage(browser, origin);
        await feed.page.goto(`${origin}/#/live`);
        await feed.page.getByText("Connected: events appear as they are indexed.").waitFor();
        await feed.page
          .locator("#alerts-state")
          .getByText("Connected: alerts appear as the monitor raises them.")
          .waitFor();
        const revoke = await runDtl(
          ["revoke", victim.id, "--reason", "key-compromise", "--rpc", chainUrl, "--deployment", env.DTL_DEPLOYMENT!],
          { cwd: tmp.dir },
        );
        expect(revoke.code, revoke.stderr).to.equal(0);
        await page.locator("#device-status").getByText("REVOKED").waitFor({ timeout: 10_000 });
        await page
          .locator(`#timeline li[data-seq="${before + 1}"]`)
          .getByText("DEVICE_REVOKED")
          .waitFor();
        await feed.page
          .locator("#feed li", { hasText: "DEVICE_REVOKED" })
          .locator(`a[href="#/device/${victim.id}"]`)
          .waitFor();
        await screenshot(feed.page, "live-feed");
        expect([feed.blocked, feed.errors]).to.deep.equal([[], []]);
        await feed.close();
        // nothing wider than the phone's screen
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(390);
      },
      { viewport: { width: 390, height: 844 } },
    );
  });

  it("anchored batches: the list shows a batch anchored on chain with its manifest status, its page every field, revoked after revokeBatch", async function () {
    const { registry } = JSON.parse(readFileSync(env.DTL_DEPLOYMENT!, "utf8")) as { registry: string };
    const provider = new JsonRpcProvider(chainUrl, undefined, { batchMaxCount: 1 });
    // dev's account #0 holds every role, the manufacturer's included
    const maker = new Wallet(HARDHAT_KEYS[0]!, provider);
    const merkle = await loadAnchorMerkle();
    const leaves = [1, 2, 3].map((i) => ({
      deviceId: keccak256(toUtf8Bytes(`console/batch/${i}`)),
      keyAlgorithm: 3,
      keyHash: keccak256(toUtf8Bytes(`console/key/${i}`)),
      firmwareHash: keccak256(toUtf8Bytes("console/fw")),
      segment: encodeBytes32String("plant-9/line"),
    }));
    const tree = merkle.build(leaves);
    const reg = new Contract(registry, registryAbi, maker);
    // no manifest published: the API knows the batch from the chain alone
    await (await reg.getFunction("anchorDevices")(tree.root, 3, ZeroHash, "")).wait();
    const batchId = batchIdFor(maker.address, tree.root);
    await visit("#/batches", "batches", async ({ page }) => {
      const row = page.locator(`#batches tr[data-batch="${batchId}"]`);
      await row.waitFor({ timeout: 10_000 });
      expect(await row.locator("td.n").first().textContent()).to.equal("3");
      await row.getByText("UNAVAILABLE").waitFor();
      await row.locator("a").click();
      await page.locator("#batch-record").getByText(tree.root).waitFor();
      await page.locator("#batch-record .status").getByText("ANCHORED").waitFor();
      await (await reg.getFunction("revokeBatch")(batchId, 2)).wait();
      // the page follows the index (a new block reloads it)
      await page.reload();
      await page.locator("#batch-record").getByText("MANUFACTURER_COMPROMISE").waitFor({ timeout: 10_000 });
      await page.goto(`${origin}/#/batches?revoked=true`);
      await page.locator(`#batches tr[data-batch="${batchId}"]`).getByText("MANUFACTURER_COMPROMISE").waitFor();
    });
    provider.destroy();
  });

  it("check against the chain: MATCH as served, MISMATCH behind a tampering proxy, and the API down is shown", async function () {
    const d = fleet.find((x) => x.status === "SUSPENDED")!;
    await visit(`#/device/${d.id}`, "chain-check", async ({ page }) => {
      await page.locator("#timeline li").first().waitFor();
      await page.locator("#check-chain").click();
      await page.locator("#chain-check").getByText("MATCH", { exact: true }).waitFor();
    });
    // the proxy alters the first entry's fields in every history answer; the chain read is untouched
    const proxy = await startTamperProxy(origin, (query, answer) => {
      const history = (answer.data?.device as { history?: { edges: { node: { fields: object } }[] } } | undefined)
        ?.history;
      if (query.includes("history(") && history?.edges[0])
        history.edges[0].node.fields = { ...history.edges[0].node.fields, firmwareHash: `0x${"ab".repeat(32)}` };
    });
    try {
      await visit(
        `#/device/${d.id}`,
        "chain-check-tampered",
        async ({ page }) => {
          await page.locator("#timeline li").first().waitFor();
          await page.locator("#check-chain").click();
          await page.locator("#chain-check").getByText("MISMATCH", { exact: true }).waitFor();
          await page.locator("#chain-check").getByText("Entry 1 does not hash to the head").waitFor();
          await proxy.close();
          await page.locator("#api-error").getByText("does not answer").waitFor({ timeout: 10_000 });
        },
        { at: proxy.origin, cutOff: true },
      );
    } finally {
      await proxy.close();
    }
  });

  it("behind API keys: the page opens, says a key is needed, and works live once one is given; no monitor is said once", async function () {
    const { serve, apiUrl } = await startServe(
      path.join(tmp.dir, "keyed"),
      { env: { DTL_API_KEYS: "console-test-key-0001" }, cwd: tmp.dir },
      ["--rpc", chainUrl, "--deployment", env.DTL_DEPLOYMENT!, "--no-monitor"],
    );
    try {
      const at = new URL(apiUrl).origin;
      const suspended = fleet.find((d) => d.status === "SUSPENDED")!;
      await visit(
        `#/device/${suspended.id}`,
        "api-key",
        async ({ page }) => {
          await page
            .locator("#api-error")
            .getByText("authorization: a valid API key is required (Authorization: Bearer <key>) (UNAUTHENTICATED)")
            .waitFor();
          await page.locator("input[name=key]").fill("console-test-key-0001");
          await page.keyboard.press("Enter");
          await page.locator("#device-status").getByText("SUSPENDED").waitFor();
          const reinstate = await runDtl(
            ["reinstate", suspended.id, "--rpc", chainUrl, "--deployment", env.DTL_DEPLOYMENT!],
            { cwd: tmp.dir },
          );
          expect(reinstate.code, reinstate.stderr).to.equal(0);
          await page.locator("#device-status").getByText("ACTIVE").waitFor({ timeout: 10_000 });
          await page.locator("#risk-title").waitFor();
          expect(await page.getByText("This server runs no monitor.").count()).to.equal(1);
          // the live feed's alerts: said once, and the feed does not keep reconnecting to a monitor that is not there
          await page.goto(`${at}/#/live`);
          await page.locator("#alerts-state").getByText("This server runs no monitor.").waitFor();
          let posts = 0;
          page.on("request", (r) => void (r.method() === "POST" && r.postData()?.includes("alerts") && posts++));
          await new Promise((r) => setTimeout(r, 2500));
          expect(posts).to.equal(0);
          await page.locator("#alerts-state").getByText("This server runs no monitor.").waitFor();
        },
        // Chromium logs the 401s the page got before the key was given
        { at, expectedErrors: /^Failed to load resource: the server responded with a status of 401 / },
      );
    } finally {
      await serve.stop("SIGINT");
    }
  });
});
