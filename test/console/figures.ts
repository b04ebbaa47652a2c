/**
 * The console's figures (issue 14), measured in headless Chromium against a real dev stack:
 *   bundleKb       gzip size of all the console's JS and CSS, chunks loaded later included
 *   firstPaintMs   navigation → the overview shows the fleet's counts (median of 5 fresh loads)
 *   devicePageMs   navigation → a device page shows all 1,000 entries of its history (median of 3)
 *   liveUpdateMs   revocation mined → the open device page shows REVOKED (median of 3)
 * Run: TS_NODE_TRANSPILE_ONLY=true npx ts-node test/console/figures.ts [--json]
 * `run()` has the shape of a bench/ section (`npm run bench -- console` once bench/index.ts lists it).
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { NonceManager, Wallet, JsonRpcProvider } from "ethers";
import { CONSOLE_DIR } from "../../api/console";
import { registryContract } from "../../common/chain";
import { HARDHAT_KEYS } from "../helpers/chain";
import { ensureBuilt, startDtl, tempDir } from "../helpers/cli-run";
import { launchBrowser, offlinePage } from "./browser";

const HISTORY = 1000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(): Promise<Record<string, number>> {
  ensureBuilt();
  const bundleBytes = readdirSync(CONSOLE_DIR)
    .filter((f) => f.endsWith(".js") || f.endsWith(".css"))
    .map((f) => gzipSync(readFileSync(path.join(CONSOLE_DIR, f)), { level: 9 }).length)
    .reduce((a, b) => a + b, 0);
  const tmp = tempDir();
  const deploymentFile = path.join(tmp.dir, "deployments", "31337.json");
  const dev = startDtl(["dev", "--port", "0", "--chain-port", "0"], {
    env: { DTL_DATA_DIR: path.join(tmp.dir, "dev"), DTL_DEPLOYMENT: deploymentFile },
    cwd: tmp.dir,
  });
  const browser = await launchBrowser();
  try {
    await dev.waitFor(/Ctrl-C stops everything\./, 120_000);
    const banner = dev.stdout();
    const origin = /^ {2}GraphQL {7}(http:\/\/127\.0\.0\.1:\d+)\/graphql /m.exec(banner)![1]!;
    const chainUrl = /^ {2}chain {9}(http:\/\/127\.0\.0\.1:\d+) /m.exec(banner)![1]!;
    const active = [...banner.matchAll(/^ {4}demo-\S+\s+\S+\s+ACTIVE\s+\S+\s+(0x[0-9a-f]{64})$/gm)].map((m) => m[1]!);
    const registry = registryContract(
      (JSON.parse(readFileSync(deploymentFile, "utf8")) as { registry: string }).registry,
      new NonceManager(new Wallet(HARDHAT_KEYS[0]!, new JsonRpcProvider(chainUrl, 31337, { staticNetwork: true }))),
    );

    const firstPaint: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await offlinePage(browser, origin);
      const t0 = performance.now();
      await p.page.goto(`${origin}/`);
      await p.page.locator("#status-counts").waitFor();
      firstPaint.push(performance.now() - t0);
      await p.close();
    }

    // a device with 1,000 history entries: suspended and reinstated by account #0 (every role on dev)
    const long = active[0]!;
    const { eventCount } = (await registry.getFunction("getDevice")(long)) as { eventCount: bigint };
    const txs = [];
    for (let i = Number(eventCount); i < HISTORY; i++)
      txs.push(
        await (i % 2 === Number(eventCount) % 2
          ? registry.getFunction("suspendDevice")(long, 1)
          : registry.getFunction("reinstateDevice")(long)),
      );
    await txs[txs.length - 1]?.wait();
    const devicePage: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await offlinePage(browser, origin);
      const t0 = performance.now();
      await p.page.goto(`${origin}/#/device/${long}`);
      await p.page.locator(`#timeline li[data-seq="${HISTORY}"]`).waitFor({ timeout: 60_000 });
      devicePage.push(performance.now() - t0);
      await p.close();
    }

    const live: number[] = [];
    for (const id of active.slice(1, 4)) {
      const p = await offlinePage(browser, origin);
      await p.page.goto(`${origin}/#/device/${id}`);
      await p.page.locator("#device-status").getByText("ACTIVE").waitFor();
      await p.page.waitForTimeout(300); // the live subscription is open
      const tx = await registry.getFunction("revokeDevice")(id, 1);
      await tx.wait();
      const mined = performance.now();
      await p.page.locator("#device-status").getByText("REVOKED").waitFor({ timeout: 30_000 });
      live.push(performance.now() - mined);
      await p.close();
    }
    return {
      bundleKb: Math.round(bundleBytes / 102.4) / 10,
      firstPaintMs: Math.round(median(firstPaint)),
      devicePageMs: Math.round(median(devicePage)),
      liveUpdateMs: Math.round(median(live)),
    };
  } finally {
    await browser.close();
    await dev.stop("SIGINT");
    tmp.cleanup();
  }
}

if (require.main === module) {
  run().then(
    (figures) => {
      const keyed = Object.fromEntries(Object.entries(figures).map(([k, v]) => [`console.${k}`, v]));
      process.stdout.write(
        process.argv.includes("--json") ? `${JSON.stringify(keyed)}\n` : `${JSON.stringify(keyed, null, 2)}\n`,
      );
    },
    (err: unknown) => {
      process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
      process.exit(1);
    },
  );
}
