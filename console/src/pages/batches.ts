/**
 * Anchored batches (DESIGN §10): the list, filtered by manufacturer, revocation and manifest status
 * and paged, and one batch's page (root, count, manifest and its status, anchoring and revocation
 * transactions, devices materialized on chain). Everything from `batches` / `batch`.
 */
import { useEffect, useState } from "preact/hooks";
import { gql } from "../gql";
import { ErrorBox, Pager, html, num, short, filterRoute, tableHead, usePages, when } from "../ui";

const PAGE = 50;
const MANIFEST_STATUSES = ["PENDING", "LOADED", "UNAVAILABLE", "INVALID"] as const;

const FIELDS = `id manufacturer root count manifestHash manifestUri manifestStatus manifestError manifestIndexed
  anchoredAt { block tx timestamp } revoked revokedReason revokedAt { block tx timestamp } revokedBy
  materializedCount atBlock`;

interface ChainRef {
  block: number;
  tx: string;
  timestamp: string;
}
interface Batch {
  id: string;
  manufacturer: string;
  root: string;
  count: number;
  manifestHash: string;
  manifestUri: string;
  manifestStatus: (typeof MANIFEST_STATUSES)[number];
  manifestError: string | null;
  manifestIndexed: number;
  anchoredAt: ChainRef;
  revoked: boolean;
  revokedReason: string | null;
  revokedAt: ChainRef | null;
  revokedBy: string | null;
  materializedCount: number;
  atBlock: number;
}
interface List {
  batches: {
    edges: { node: Batch }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    totalCount: number;
  };
}

export const batchHref = (id: string): string => `#/batch/${id}`;

const FILTERS = ["manufacturer", "revoked", "manifestStatus"] as const;

function ManifestStatus({ b }: { b: Batch }) {
  const cls = b.manifestStatus === "LOADED" ? "active" : b.manifestStatus === "PENDING" ? "" : "revoked";
  return html`<span class=${`status ${cls}`} title=${b.manifestError ?? ""}>${b.manifestStatus}</span>
    ${b.manifestStatus === "PENDING" && b.manifestIndexed > 0 && html` (${num(b.manifestIndexed)} of ${num(b.count)})`}`;
}

export function Batches({ query, navigate }: { query: URLSearchParams; navigate: (hash: string) => void }) {
  const filter: Record<string, unknown> = {};
  for (const k of FILTERS) {
    const v = query.get(k);
    if (v) filter[k] = k === "revoked" ? v === "true" : v;
  }
  const key = JSON.stringify(filter);
  const pages = usePages(key);
  const [list, setList] = useState<List["batches"]>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setError(undefined);
    gql<List>(
      `query ($filter: BatchFilter, $first: Int, $after: String) {
        batches(filter: $filter, first: $first, after: $after) { edges { node { ${FIELDS} } } pageInfo { hasNextPage endCursor } totalCount }
      }`,
      { filter, first: PAGE, after: pages.after },
    ).then((d) => setList(d.batches), setError);
  }, [key, pages.after]);
  const onFilter = (ev: Event) => navigate(filterRoute(ev, "batches", FILTERS));
  return html`<h1>Anchored batches</h1>
    <form class="filters" onSubmit=${onFilter} aria-labelledby="batch-filter-title" key=${key}>
      <h2 id="batch-filter-title">Filter</h2>
      <label
        >Manufacturer <input name="manufacturer" value=${String(filter.manufacturer ?? "")} placeholder="0x… address"
      /></label>
      <label
        >Revoked
        <select name="revoked" value=${filter.revoked === undefined ? "" : String(filter.revoked)}>
          <option value="">any</option>
          <option value="true">revoked</option>
          <option value="false">not revoked</option>
        </select>
      </label>
      <label
        >Manifest
        <select name="manifestStatus" value=${String(filter.manifestStatus ?? "")}>
          <option value="">any</option>
          ${MANIFEST_STATUSES.map((s) => html`<option>${s}</option>`)}
        </select>
      </label>
      <button type="submit">Apply</button>
    </form>
    <${ErrorBox} error=${error} />
    ${
      list &&
      html`<p id="batch-total" aria-live="polite">${num(list.totalCount)} batches match · page ${pages.page}</p>
        <div class="scroll">
          <table id="batches">
            ${tableHead(["batch", "manufacturer", "devices", "manifest", "materialized", "anchored", "revoked"])}
            <tbody>
              ${list.edges.map(
                ({ node: b }) =>
                  html`<tr data-batch=${b.id}>
                    <td><a href=${batchHref(b.id)} class="mono">${short(b.id, 8)}</a></td>
                    <td>${short(b.manufacturer)}</td>
                    <td class="n">${num(b.count)}</td>
                    <td><${ManifestStatus} b=${b} /></td>
                    <td class="n">${num(b.materializedCount)}</td>
                    <td>${when(b.anchoredAt.timestamp)}</td>
                    <td>${b.revoked ? html`<span class="status revoked">${b.revokedReason}</span>` : "–"}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>
        ${list.edges.length === 0 && html`<p>No anchored batches${key === "{}" ? " yet" : " match"}.</p>`}
        <${Pager} pages=${pages} pageInfo=${list.pageInfo} />`
    }`;
}

export function BatchPage({ id }: { id: string }) {
  const [batch, setBatch] = useState<Batch | null>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    gql<{ batch: Batch | null }>(`query ($id: Bytes32!) { batch(id: $id) { ${FIELDS} } }`, { id }).then(
      (d) => setBatch(d.batch),
      setError,
    );
  }, [id]);
  const ref = (r: ChainRef) =>
    html`block ${num(r.block)}, ${when(r.timestamp)}, tx <span class="mono">${short(r.tx)}</span>`;
  return html`<h1>Batch <span class="mono">${short(id, 8)}</span></h1>
    <${ErrorBox} error=${error} />
    ${batch === null && html`<p role="alert">No batch with this id is anchored.</p>`}
    ${
      batch &&
      html`<dl class="record" id="batch-record">
        <dt>batch id</dt>
        <dd class="mono">${batch.id}</dd>
        <dt>state</dt>
        <dd>
          ${
            batch.revoked
              ? html`<span class="status revoked">REVOKED</span> (${batch.revokedReason}) — none of its devices is
                  trusted`
              : html`<span class="status active">ANCHORED</span>`
          }
        </dd>
        <dt>manufacturer</dt>
        <dd class="mono">${batch.manufacturer}</dd>
        <dt>Merkle root</dt>
        <dd class="mono">${batch.root}</dd>
        <dt>devices</dt>
        <dd>${num(batch.count)} (${num(batch.materializedCount)} materialized on chain)</dd>
        <dt>manifest</dt>
        <dd><${ManifestStatus} b=${batch} /> ${batch.manifestError && html`— ${batch.manifestError}`}</dd>
        <dt>manifest URI</dt>
        <dd class="mono">${batch.manifestUri || "–"}</dd>
        <dt>manifest hash</dt>
        <dd class="mono">${batch.manifestHash}</dd>
        <dt>anchored</dt>
        <dd>${ref(batch.anchoredAt)}</dd>
        ${
          batch.revokedAt &&
          html`<dt>revoked</dt>
            <dd>${ref(batch.revokedAt)} by <span class="mono">${batch.revokedBy}</span></dd>`
        }
        <dt>as of block</dt>
        <dd>${num(batch.atBlock)}</dd>
      </dl>`
    }`;
}
