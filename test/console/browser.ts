/**
 * Headless Chromium (Debian's `chromium`, which .ci/run installs) driven by playwright-core, with
 * the network cut off: every request that does not go to the page's own server is aborted and
 * recorded, so a page that needs a CDN fails here as it would on an air-gapped site. Console
 * errors and uncaught page errors are collected too.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { PROJECT_ROOT } from "../../common/paths";

/** Where Debian installs Chromium; DTL_CHROMIUM overrides. */
export const CHROMIUM = process.env.DTL_CHROMIUM ?? "/usr/bin/chromium";
/** Screenshots of every page the tests visit (git ignores it). */
export const SCREENSHOTS = path.join(PROJECT_ROOT, ".screenshots");

export interface OfflinePage {
  page: Page;
  /** Requests to anywhere but `origin`, aborted. */
  blocked: string[];
  /** console.error messages and uncaught errors of the page. */
  errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set DTL_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

/** A fresh context whose only reachable origin is `origin` (scheme://host:port). */
export async function offlinePage(
  browser: Browser,
  origin: string,
  viewport = { width: 1280, height: 800 },
): Promise<OfflinePage> {
  const context: BrowserContext = await browser.newContext({ viewport });
  const blocked: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { page, blocked, errors, close: () => context.close() };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
