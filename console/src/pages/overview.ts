/**
 * Fleet overview: devices by status (from the API's counters: `totalCount`, never a scan), the
 * indexer's status, and revocations and suspensions over time (uPlot).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { gql } from "../gql";
import { ErrorBox, html, num, short, tableHead } from "../ui";
import type { IndexerStatus } from "./status";

const STATUSES = ["ACTIVE", "SUSPENDED", "REVOKED"] as const;
/** Devices per status list the chart reads (one page each). */
const TIMELINE_PAGE = 500;

const COUNTS = `{
  all: devices(first: 0) { totalCount atBlock }
  ${STATUSES.map((s) => `${s}: devices(filter: { status: ${s} }, first: 0) { totalCount }`).join("\n  ")}
}`;

const TIMELINE = `{
  revoked: devices(filter: { status: REVOKED }, first: ${TIMELINE_PAGE}) { totalCount edges { node { revocation { at } } } }
  suspended: devices(filter: { status: SUSPENDED }, first: ${TIMELINE_PAGE}) { totalCount edges { node { suspension { at } } } }
}`;

type Counts = { all: { totalCount: number; atBlock: number } } & Record<
  (typeof STATUSES)[number],
  { totalCount: number }
>;
interface Timeline {
  revoked: { totalCount: number; edges: { node: { revocation: { at: string } | null } }[] };
  suspended: { totalCount: number; edges: { node: { suspension: { at: string } | null } }[] };
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
  const [counts, setCounts] = useState<Counts>();
  const [timeline, setTimeline] = useState<Timeline>();
  const [error, setError] = useState<unknown>();
  const block = status?.indexedBlock;
  useEffect(() => {
    gql<Counts>(COUNTS).then(setCounts, setError);
    gql<Timeline>(TIMELINE).then(setTimeline, setError);
  }, [block]);
  const total = counts?.all.totalCount ?? 0;
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
                        <td class="n">${num(counts[s].totalCount)}</td>
                        <td>
                          <span
                            class=${`bar ${s.toLowerCase()}`}
                            style=${`width:${total ? (100 * counts[s].totalCount) / total : 0}%`}
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
              <p class="note">Counted by the index at block ${num(counts.all.atBlock)}.</p>`
          : !error && html`<p>Loading…</p>`
      }
    </section>
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
    </section>`;
}
