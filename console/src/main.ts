/**
 * The console (DESIGN.md §14): a single page served by `dtl serve` / `dtl dev` at `/`, built on
 * the public GraphQL API only. Hash routes: #/ overview, #/devices, #/device/<id>, #/batches,
 * #/batch/<id>, #/live.
 */
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { apiKey } from "./gql";
import { BatchPage, Batches } from "./pages/batches";
import { DevicePage } from "./pages/device";
import { Devices } from "./pages/devices";
import { Live } from "./pages/live";
import { Overview } from "./pages/overview";
import { staleness, useIndexerStatus } from "./pages/status";
import { errorText, html, num } from "./ui";

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

const navigate = (hash: string) => {
  location.hash = hash;
};

function KeyForm() {
  return html`<form
    class="key"
    onSubmit=${(ev: Event) => {
      ev.preventDefault();
      apiKey.set(String(new FormData(ev.target as HTMLFormElement).get("key") ?? ""));
      location.reload();
    }}
  >
    <label>API key <input name="key" type="password" autocomplete="off" /></label> <button type="submit">Use</button>
  </form>`;
}

function App() {
  const hash = useHash();
  const { status, error } = useIndexerStatus();
  const [path, qs] = hash.slice(1).split("?") as [string, string | undefined];
  const query = new URLSearchParams(qs ?? "");
  const device = /^\/device\/(0x[0-9a-fA-F]{64})$/.exec(path);
  const batch = /^\/batch\/(0x[0-9a-fA-F]{64})$/.exec(path);
  const page = device
    ? html`<${DevicePage} id=${device[1]!.toLowerCase()} key=${device[1]} />`
    : batch
      ? html`<${BatchPage} id=${batch[1]!.toLowerCase()} key=${batch[1]} />`
      : path === "/devices"
        ? html`<${Devices} query=${query} navigate=${navigate} />`
        : path === "/batches"
          ? html`<${Batches} query=${query} navigate=${navigate} />`
          : path === "/live"
            ? html`<${Live} />`
            : html`<${Overview} status=${status} />`;
  const stale = status && staleness(status);
  const unauthorised = (error as { code?: string } | undefined)?.code === "UNAUTHENTICATED";
  const link = (href: string, label: string, current: boolean) =>
    html`<a href=${href} aria-current=${current ? "page" : undefined}>${label}</a>`;
  return html`<a
      class="skip"
      href="#main"
      onClick=${(ev: Event) => (ev.preventDefault(), document.getElementById("main")?.focus())}
      >Skip to content</a
    >
    <header>
      <strong class="brand">Device Trust Ledger</strong>
      <nav aria-label="main">
        ${link("#/", "Overview", path === "/" || path === "")}
        ${link("#/devices", "Devices", path === "/devices" || !!device)}
        ${link("#/batches", "Batches", path === "/batches" || !!batch)} ${link("#/live", "Live feed", path === "/live")}
        <a href="/graphql">GraphiQL</a>
      </nav>
      <span id="index-block" class="note"
        >${status ? `block ${num(status.indexedBlock)} · lag ${status.lagBlocks}` : ""}</span
      >
    </header>
    ${error && html`<div class="error" role="alert" id="api-error">${errorText(error)}</div>`}
    ${unauthorised && html`<${KeyForm} />`} ${stale && html`<div class="warn" role="alert" id="stale">${stale}</div>`}
    <main id="main" tabindex="-1">${page}</main>`;
}

render(html`<${App} />`, document.getElementById("app")!);
