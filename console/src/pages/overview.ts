/**
 * Fleet overview: devices by status, segment, manufacturer and key algorithm (one `deviceTallies`
 * query: the API's counters, never a scan), the indexer's status, and revocations and suspensions
 * over time (uPlot).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { gql } from "../gql";
import { ErrorBox, deviceHref, html, num, relative, short, tableHead, when } from "../ui";
import type { IndexerStatus } from "./status";

const STATUSES = ["ACTIVE", "SUSPENDED", "REVOKED"] as const;
/** Devices per status list the chart reads (one page each). */
const TIMELINE_PAGE = 500;

const TALLIES = `{
  deviceTallies { atBlock tallies { manufacturer status segment devices keyAlgorithms { keyAlgorithm devices } } }
}`;

const TIMELINE = `{
  revoked: devices(filter: { status: REVOKED }, first: ${TIMELINE_PAGE}) { totalCount edges { node { revocation { at } } } }
  suspended: devices(filter: { status: SUSPENDED }, first: ${TIMELINE_PAGE}) { totalCount edges { node { suspension { at } } } }
}`;

interface Tally {
  manufacturer: string;
  status: (typeof STATUSES)[number];
  segment: string;
  devices: number;
  keyAlgorithms: { keyAlgorithm: string; devices: number }[];
}
interface Tallies {
  deviceTallies: { atBlock: number; tallies: Tally[] };
}

/** Devices per key (most first, then by key), summed over the tallies. */
function groupBy(tallies: readonly Tally[], key: (t: Tally) => string): [string, number][] {
  const m = new Map<string, number>();
  for (const t of tallies) m.set(key(t), (m.get(key(t)) ?? 0) + t.devices);
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

function byKeyAlgorithm(tallies: readonly Tally[]): [string, number][] {
  const m = new Map<string, number>();
  for (const t of tallies)
    for (const a of t.keyAlgorithms) m.set(a.keyAlgorithm, (m.get(a.keyAlgorithm) ?? 0) + a.devices);
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** One breakdown as a table: a row per group with its count, share bar and (when given) a link to the devices. */
function Breakdown(props: {
  id: string;
  title: string;
  column: string;
  rows: [string, number][];
  total: number;
  label?: (key: string) => unknown;
  href?: (key: string) => string;
  barClass?: (key: string) => string;
}) {
  const { rows, total } = props;
  return html`<section aria-labelledby=${`${props.id}-title`} class="breakdown">
    <h2 id=${`${props.id}-title`}>${props.title}</h2>
    <table class="counts" id=${props.id}>
      ${tableHead([props.column, "devices", "share"])}
      <tbody>
        ${rows.map(
          ([k, n]) =>
            html`<tr data-key=${k}>
              <th scope="row">
                ${props.href ? html`<a href=${props.href(k)}>${props.label?.(k) ?? (k || "–")}</a>` : (props.label?.(k) ?? (k || "–"))}
              </th>
              <td class="n">${num(n)}</td>
              <td>
                <span
                  class=${`bar ${props.barClass?.(k) ?? ""}`}
                  style=${`width:${total ? (100 * n) / total : 0}%`}
                ></span>
              </td>
            </tr>`,
        )}
        ${
          rows.length === 0 &&
          html`<tr>
            <td colspan="3">No devices yet.</td>
          </tr>`
        }
      </tbody>
    </table>
  </section>`;
}
interface Timeline {
  revoked: { totalCount: number; edges: { node: { revocation: { at: string } | null } }[] };
  suspended: { totalCount: number; edges: { node: { suspension: { at: string } | null } }[] };
}

/** The windows "expiring soon" offers, in days; the first is the default. */
const EXPIRY_WINDOWS = [30, 90, 365] as const;
const EXPIRING_PAGE = 50;
const EXPIRING = `query ($before: DateTime!) {
  expiringAttestations(before: $before, first: ${EXPIRING_PAGE}) {
    edges { node { uid kind deviceId attester expiresAt } }
    pageInfo { hasNextPage }
  }
}`;
interface Expiring {
  expiringAttestations: {
    edges: { node: { uid: string; kind: string; deviceId: string; attester: string; expiresAt: string } }[];
    pageInfo: { hasNextPage: boolean };
  };
}

/** Unrevoked attestations that lapse within the chosen window, soonest first. */
function ExpiringSoon({ block }: { block?: number }) {
  const [days, setDays] = useState<number>(EXPIRY_WINDOWS[0]);
  const [data, setData] = useState<Expiring["expiringAttestations"]>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const before = new Date(Date.now() + days * 86_400_000).toISOString();
    gql<Expiring>(EXPIRING, { before }).then((r) => {
      setError(undefined);
      setData(r.expiringAttestations);
    }, setError);
  }, [days, block]);
  const now = Date.now();
  return html`<section aria-labelledby="expiring-title">
    <h2 id="expiring-title">Attestations expiring soon</h2>
    <label
      >Within
      <select
        id="expiring-window"
        value=${days}
        onChange=${(e: Event) => setDays(Number((e.target as HTMLSelectElement).value))}
      >
        ${EXPIRY_WINDOWS.map((d) => html`<option value=${d}>${d} days</option>`)}
      </select></label
    >
    <${ErrorBox} error=${error} />
    ${
      data &&
      (data.edges.length === 0
        ? html`<p id="expiring-none">No attestation expires within ${days} days.</p>`
        : html`<table id="expiring">
              ${tableHead(["expires", "kind", "device", "attester"])}
              <tbody>
                ${data.edges.map(
                  ({ node: a }) =>
                    html`<tr data-uid=${a.uid}>
                      <td>${when(a.expiresAt)} (${relative(a.expiresAt, now)})</td>
                      <td>${a.kind}</td>
                      <td><a href=${deviceHref(a.deviceId)}>${short(a.deviceId)}</a></td>
                      <td>${short(a.attester)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${data.pageInfo.hasNextPage && html`<p class="note">The first ${EXPIRING_PAGE}, soonest first.</p>`}`)
    }
  </section>`;
}

/** Blocks below the indexed one whose checkpoints the witness panel reads (oldest first, then the last few shown). */
const CHECKPOINT_SPAN = 500;
const CHECKPOINTS_SHOWN = 5;
const WITNESS = `query ($from: Int!) {
  witness { address algorithm }
  checkpoints(fromBlock: $from, first: 500) { block blockHash digest witness algorithm }
}`;
interface WitnessData {
  witness: { address: string; algorithm: string } | null;
  checkpoints: { block: number; blockHash: string; digest: string; witness: string; algorithm: string }[];
}

/** This server's witness key (DTL_WITNESS_KEY) and its latest signed checkpoints. */
function Witness({ block }: { block?: number }) {
  const [data, setData] = useState<WitnessData>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (block === undefined) return;
    gql<WitnessData>(WITNESS, { from: Math.max(0, block - CHECKPOINT_SPAN) }).then(setData, setError);
  }, [block]);
  const latest = data?.checkpoints.slice(-CHECKPOINTS_SHOWN).reverse() ?? [];
  return html`<section aria-labelledby="witness-title">
    <h2 id="witness-title">Witness checkpoints</h2>
    <${ErrorBox} error=${error} />
    ${
      data &&
      (data.witness === null
        ? html`<p id="witness-none">This server signs no checkpoints (no DTL_WITNESS_KEY).</p>`
        : html`<p id="witness-key">
              Signed by <span class="mono">${data.witness.address}</span> (${data.witness.algorithm}); gateways that
              list this witness apply only data up to a block whose digest they recomputed and enough witnesses signed.
            </p>
            ${
              latest.length === 0
                ? html`<p>No checkpoint in the last ${num(CHECKPOINT_SPAN)} blocks yet.</p>`
                : html`<table id="checkpoints">
                    ${tableHead(["block", "block hash", "state digest"])}
                    <tbody>
                      ${latest.map(
                        (c) =>
                          html`<tr data-block=${c.block}>
                            <td class="n">${num(c.block)}</td>
                            <td>${short(c.blockHash)}</td>
                            <td>${short(c.digest, 10)}</td>
                          </tr>`,
                      )}
                    </tbody>
                  </table>`
            }`)
    }
  </section>`;
}

/** Cumulative counts at each distinct time (seconds), for a stepped line. */
function cumulative(times: number[], xs: number[]): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  let i = 0;
  return xs.map((x) => {
    while (i < sorted.length && sorted[i]! <= x) i++;
    return i;
  });
}

function Chart({ data }: { data: Timeline }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const revoked = data.revoked.edges.flatMap((e) =>
      e.node.revocation ? [Date.parse(e.node.revocation.at) / 1000] : [],
    );
    const suspended = data.suspended.edges.flatMap((e) =>
      e.node.suspension ? [Date.parse(e.node.suspension.at) / 1000] : [],
    );
    const xs = [...new Set([...revoked, ...suspended])].sort((a, b) => a - b);
    if (!el.current || xs.length === 0) return undefined;
    const width = Math.min(720, el.current.clientWidth || 720);
    const plot = new uPlot(
      {
        width,
        height: 220,
        series: [
          {},
          { label: "revoked", stroke: "#b3261e", width: 2, paths: uPlot.paths.stepped!({ align: 1 }) },
          { label: "suspended", stroke: "#8a5a00", width: 2, paths: uPlot.paths.stepped!({ align: 1 }) },
        ],
        axes: [{}, { label: "devices" }],
      },
      [xs, cumulative(revoked, xs), cumulative(suspended, xs)],
      el.current,
    );
    return () => plot.destroy();
  }, [data]);
  const partial = data.revoked.totalCount > TIMELINE_PAGE || data.suspended.totalCount > TIMELINE_PAGE;
  return html`<div ref=${el} class="chart" aria-label="revocations and suspensions over time"></div>
    ${data.revoked.edges.length + data.suspended.edges.length === 0 && html`<p>No revocations or suspensions yet.</p>`}
    ${partial && html`<p class="note">The chart shows the first ${num(TIMELINE_PAGE)} devices of each status.</p>`}`;
}

export function Overview({ status }: { status?: IndexerStatus }) {
  const [counts, setCounts] = useState<Tallies["deviceTallies"]>();
  const [timeline, setTimeline] = useState<Timeline>();
  const [error, setError] = useState<unknown>();
  const block = status?.indexedBlock;
  useEffect(() => {
    gql<Tallies>(TALLIES).then((r) => setCounts(r.deviceTallies), setError);
    gql<Timeline>(TIMELINE).then(setTimeline, setError);
  }, [block]);
  const tallies = counts?.tallies ?? [];
  const total = tallies.reduce((n, t) => n + t.devices, 0);
  const byStatus = new Map(groupBy(tallies, (t) => t.status));
  return html`<h1>Fleet overview</h1>
    <${ErrorBox} error=${error} />
    <section aria-labelledby="by-status">
      <h2 id="by-status">Devices by status</h2>
      ${
        counts
          ? html`<table class="counts" id="status-counts">
                ${tableHead(["status", "devices", "share"])}
                <tbody>
                  ${STATUSES.map(
                    (s) =>
                      html`<tr data-status=${s}>
                        <th scope="row"><a href=${`#/devices?status=${s}`}>${s}</a></th>
                        <td class="n">${num(byStatus.get(s) ?? 0)}</td>
                        <td>
                          <span
                            class=${`bar ${s.toLowerCase()}`}
                            style=${`width:${total ? (100 * (byStatus.get(s) ?? 0)) / total : 0}%`}
                          ></span>
                        </td>
                      </tr>`,
                  )}
                  <tr data-status="ALL">
                    <th scope="row"><a href="#/devices">all</a></th>
                    <td class="n">${num(total)}</td>
                    <td></td>
                  </tr>
                </tbody>
              </table>
              <p class="note">Counted by the index at block ${num(counts.atBlock)}.</p>`
          : !error && html`<p>Loading…</p>`
      }
    </section>
    ${
      counts &&
      html`<div class="breakdowns">
        <${Breakdown}
          id="segment-counts"
          title="By segment"
          column="segment"
          rows=${groupBy(tallies, (t) => t.segment)}
          total=${total}
          href=${(k: string) => `#/devices?segment=${encodeURIComponent(k)}`}
        />
        <${Breakdown}
          id="manufacturer-counts"
          title="By manufacturer"
          column="manufacturer"
          rows=${groupBy(tallies, (t) => t.manufacturer)}
          total=${total}
          label=${(k: string) => short(k)}
          href=${(k: string) => `#/devices?manufacturer=${k}`}
        />
        <${Breakdown}
          id="algorithm-counts"
          title="By key algorithm"
          column="key algorithm"
          rows=${byKeyAlgorithm(tallies)}
          total=${total}
          barClass=${(k: string) => (k.includes("ML_DSA") ? "pq" : "")}
        />
      </div>`
    }
    <${ExpiringSoon} block=${block} />
    <section aria-labelledby="over-time">
      <h2 id="over-time">Revocations and suspensions over time</h2>
      ${timeline && html`<${Chart} data=${timeline} />`}
    </section>
    <section aria-labelledby="indexer">
      <h2 id="indexer">Indexer</h2>
      ${
        status &&
        html`<dl class="record" id="indexer-status">
          <dt>chain</dt>
          <dd>${status.chainId}</dd>
          <dt>registry</dt>
          <dd class="mono">${status.registry}</dd>
          <dt>indexed block</dt>
          <dd>${num(status.indexedBlock)} ${short(status.indexedBlockHash)}</dd>
          <dt>chain head</dt>
          <dd>${num(status.headBlock)}</dd>
          <dt>lag</dt>
          <dd>${status.lagBlocks} blocks (allowed ${status.maxLagBlocks})</dd>
          <dt>ready</dt>
          <dd>${status.ready ? "yes" : "no"}</dd>
          <dt>state digest</dt>
          <dd class="mono">${status.digest}</dd>
          <dt>events applied</dt>
          <dd>${status.events === null ? "–" : num(status.events)}</dd>
          <dt>reorgs</dt>
          <dd>${status.reorgs}</dd>
          <dt>RPC errors</dt>
          <dd>${status.rpcErrors}</dd>
        </dl>`
      }
    </section>
    <${Witness} block=${block} />`;
}
