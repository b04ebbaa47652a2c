/**
 * One device's whole story: its record, attestations with expiry, its history as a timeline, the
 * verdict explained under a policy the user picks or types, "check against the chain", and live
 * updates (deviceEvents for this id) without a reload.
 */
import { useCallback, useEffect, useState } from "preact/hooks";
import type { ApiAttestation, ApiDevice } from "../../../cli/audit-records";
import { VERDICT_REASON_TEXT, type VerdictReason } from "../../../common/codes";
import type { CheckResult, ShownEntry } from "../chain-check";
import { gql, subscribe } from "../gql";
import { ErrorBox, html, num, relative, short, tableHead, when } from "../ui";
import { batchHref } from "./batches";

const HISTORY_PAGE = 500;

const RECORD = `query ($id: Bytes32!) {
  device(id: $id) {
    id manufacturer manufacturerTrusted status keyAlgorithm keyHash firmwareHash segment registeredAt registeredBlock
    eventCount historyHead updatedBlock atBlock
    registration { kind batchId serial materialized batch { revoked revokedReason manifestStatus } }
    revocation { reason reasonCode at by blockNumber transactionHash }
    suspension { reason reasonCode at by blockNumber }
    attestations {
      id uid deviceId kind kindBytes32 attester attesterTrusted evidenceHash issuedAt expiresAt revoked revokedAt revokedBy
      revocationReason blockNumber transactionHash
    }
  }
}`;

const HISTORY = `query ($id: Bytes32!, $first: Int, $after: String) {
  device(id: $id) {
    history(first: $first, after: $after) {
      totalCount atBlock pageInfo { hasNextPage endCursor }
      edges { node { seq kind blockNumber transactionHash timestamp actor fields headAfter } }
    }
  }
}`;

const VERIFY = `query ($id: Bytes32!, $policy: TrustPolicyInput) {
  verifyDevice(id: $id, policy: $policy) { trusted reasons atBlock lagBlocks evaluatedAt }
}`;

const CHAIN_HEAD = `query ($id: Bytes32!, $at: Int) {
  chainHistoryHead(id: $id, atBlock: $at) { atBlock historyHead eventCount }
}`;

const RISK = `query ($id: Bytes32!) { deviceRisk(id: $id) { score signals { kind at gateway evidence } } }`;

interface Risk {
  score: number;
  signals: { kind: string; at: string; gateway: string; evidence: unknown }[];
}

/** The monitor's risk for this device: its score and the signals behind it (or that there is no monitor). */
function RiskPanel({ id, version }: { id: string; version: number }) {
  const [risk, setRisk] = useState<Risk>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    gql<{ deviceRisk: Risk }>(RISK, { id }).then((d) => setRisk(d.deviceRisk), setError);
  }, [id, version]);
  const disabled = (error as { code?: string } | undefined)?.code === "MONITOR_DISABLED";
  return html`<section aria-labelledby="risk-title">
    <h2 id="risk-title">Risk (monitor)</h2>
    ${disabled ? html`<p class="note">This server runs no monitor.</p>` : html`<${ErrorBox} error=${error} />`}
    ${
      risk &&
      html`<p id="risk-score">
          Score <strong>${risk.score.toFixed(2)}</strong> of 1 ${risk.signals.length === 0 ? "— no signals." : ""}
        </p>
        ${
          risk.signals.length > 0 &&
          html`<table id="risk-signals">
            ${tableHead(["signal", "when", "gateway", "evidence"])}
            <tbody>
              ${risk.signals.map(
                (s) =>
                  html`<tr>
                    <td>${s.kind}</td>
                    <td>${when(s.at)}</td>
                    <td>${s.gateway}</td>
                    <td><code>${JSON.stringify(s.evidence)}</code></td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        }`
    }
  </section>`;
}

const LIVE = `subscription ($ids: [Bytes32!]) { deviceEvents(deviceIds: $ids) { seq kind blockNumber retracted } }`;

/** The record as the API serves it: the CLI's audit types, plus the role facts. */
type Attestation = ApiAttestation & { attesterTrusted: boolean };
interface Registration {
  kind: "DIRECT" | "ANCHORED";
  batchId: string | null;
  serial: string | null;
  materialized: boolean;
  batch: { revoked: boolean; revokedReason: string | null; manifestStatus: string } | null;
}
type Device = Omit<ApiDevice, "attestations"> & {
  manufacturerTrusted: boolean;
  attestations: Attestation[];
  registration: Registration;
};

/** Direct, or anchored in a batch (with the batch's state). */
function registration(r: Registration) {
  if (r.kind === "DIRECT") return "direct (its own registry record)";
  return html`anchored in batch
    <a href=${batchHref(r.batchId!)} class="mono">${short(r.batchId!)}</a>
    ${r.serial !== null && html` · serial ${r.serial}`} ·
    ${r.materialized ? "materialized on chain" : "not materialized"}
    ${r.batch?.revoked && html` · <strong class="status revoked">batch revoked (${r.batch.revokedReason})</strong>`}`;
}
interface Entry extends ShownEntry {
  blockNumber: number;
  transactionHash: string;
  timestamp: string;
  actor: string;
}
interface HistoryPage {
  device: {
    history: {
      totalCount: number;
      atBlock: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      edges: { node: Entry }[];
    };
  } | null;
}
interface Verdict {
  trusted: boolean;
  reasons: VerdictReason[];
  atBlock: number;
  lagBlocks: number;
  evaluatedAt: string;
}

/** Policies a user can start from; the text box takes any TrustPolicyInput as JSON. */
export const POLICIES: Record<string, object> = {
  "registered and not revoked or suspended": {},
  "a valid firmware attestation": { requiredAttestations: ["firmware"] },
  "firmware attested within 30 days": { requiredAttestations: ["firmware"], maxAttestationAgeSeconds: 30 * 86400 },
  "post-quantum key": { requirePostQuantum: true },
};

/** Every history entry, page by page; the block is the last page's `atBlock`. */
async function loadHistory(id: string): Promise<{ entries: Entry[]; atBlock: number }> {
  const entries: Entry[] = [];
  let after: string | null = null;
  let atBlock = 0;
  for (;;) {
    const page: HistoryPage = await gql<HistoryPage>(HISTORY, { id, first: HISTORY_PAGE, after });
    if (!page.device) break;
    const h = page.device.history;
    entries.push(...h.edges.map((e) => e.node));
    atBlock = h.atBlock;
    if (!h.pageInfo.hasNextPage) break;
    after = h.pageInfo.endCursor;
  }
  return { entries, atBlock };
}

/** A revocation or suspension: why, when, by whom, in which block. */
function stop(label: string, s: { reason: string; at: string; by: string; blockNumber: number } | null) {
  return (
    s &&
    html`<dt>${label}</dt>
      <dd>${s.reason} · ${when(s.at)} by ${short(s.by)} · block ${s.blockNumber}</dd>`
  );
}

function Record({ d }: { d: Device }) {
  return html`<dl class="record" id="device-record">
    <dt>id</dt>
    <dd class="mono">${d.id}</dd>
    <dt>status</dt>
    <dd><span class=${`status ${d.status.toLowerCase()}`} id="device-status">${d.status}</span></dd>
    ${stop("revoked", d.revocation)} ${stop("suspended", d.suspension)}
    <dt>manufacturer</dt>
    <dd class="mono">${d.manufacturer} ${d.manufacturerTrusted ? "" : html`<strong>(no longer trusted)</strong>`}</dd>
    <dt>segment</dt>
    <dd>${d.segment || "–"}</dd>
    <dt>key</dt>
    <dd>${d.keyAlgorithm} · hash <span class="mono">${d.keyHash}</span></dd>
    <dt>firmware</dt>
    <dd class="mono">${d.firmwareHash}</dd>
    <dt>registered</dt>
    <dd>${when(d.registeredAt)} · block ${num(d.registeredBlock)}</dd>
    <dt>registration</dt>
    <dd id="device-registration">${registration(d.registration)}</dd>
    <dt>history</dt>
    <dd>${d.eventCount} events · head <span class="mono">${d.historyHead}</span></dd>
    <dt>as of</dt>
    <dd>block ${num(d.atBlock)} (last change at block ${num(d.updatedBlock)})</dd>
  </dl>`;
}

function Attestations({ list }: { list: Attestation[] }) {
  if (list.length === 0) return html`<p>No attestations.</p>`;
  const now = Date.now();
  return html`<div class="scroll">
    <table id="attestations">
      ${tableHead(["kind", "state", "issued", "expires", "attester", "block"])}
      <tbody>
        ${list.map((a) => {
          const expired = a.expiresAt !== null && Date.parse(a.expiresAt) <= now;
          const state = a.revoked
            ? `revoked (${a.revocationReason ?? ""})`
            : expired
              ? "expired"
              : a.attesterTrusted
                ? "valid"
                : "attester not trusted";
          return html`<tr class=${a.revoked || expired ? "muted" : ""}>
            <td>${a.kind}</td>
            <td>${state}</td>
            <td>${when(a.issuedAt)}</td>
            <td>${a.expiresAt ? html`${when(a.expiresAt)} (${relative(a.expiresAt, now)})` : "never"}</td>
            <td>${short(a.attester)}</td>
            <td>${a.blockNumber}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

function Timeline({ entries }: { entries: Entry[] }) {
  return html`<ol class="timeline" id="timeline">
    ${entries.map(
      (e) =>
        html`<li data-seq=${e.seq}>
          <div class="when">
            <strong>#${e.seq} ${e.kind}</strong> · block ${num(e.blockNumber)} · ${when(e.timestamp)}
          </div>
          <div>
            tx <span class="mono">${short(e.transactionHash, 10)}</span> · by <span class="mono">${e.actor}</span>
          </div>
          <details>
            <summary>fields</summary>
            <pre>${JSON.stringify(e.fields, null, 2)}</pre>
          </details>
        </li>`,
    )}
  </ol>`;
}

function VerdictPanel({ id, version }: { id: string; version: number }) {
  const [text, setText] = useState("{}");
  const [verdict, setVerdict] = useState<Verdict>();
  const [error, setError] = useState<unknown>();
  const evaluate = useCallback(
    async (policyText: string) => {
      setError(undefined);
      let policy: unknown;
      try {
        policy = JSON.parse(policyText);
      } catch (err) {
        setVerdict(undefined);
        setError(new Error(`The policy is not JSON: ${(err as Error).message}`));
        return;
      }
      try {
        setVerdict((await gql<{ verifyDevice: Verdict }>(VERIFY, { id, policy })).verifyDevice);
      } catch (err) {
        setVerdict(undefined);
        setError(err);
      }
    },
    [id],
  );
  useEffect(() => void evaluate(text), [id, version]);
  return html`<form class="policy" onSubmit=${(ev: Event) => (ev.preventDefault(), void evaluate(text))}>
      <label
        >Start from
        <select
          onChange=${(ev: Event) => {
            const p = POLICIES[(ev.target as HTMLSelectElement).value] ?? {};
            const t = JSON.stringify(p, null, 2);
            setText(t);
            void evaluate(t);
          }}
        >
          ${Object.keys(POLICIES).map((k) => html`<option>${k}</option>`)}
        </select>
      </label>
      <label
        >Policy (TrustPolicyInput as JSON)
        <textarea
          id="policy"
          rows="4"
          spellcheck="false"
          value=${text}
          onInput=${(ev: Event) => setText((ev.target as HTMLTextAreaElement).value)}
        ></textarea>
      </label>
      <button type="submit">Evaluate</button>
    </form>
    <${ErrorBox} error=${error} />
    ${
      verdict &&
      html`<div id="verdict" class=${verdict.trusted ? "verdict ok" : "verdict bad"} aria-live="polite">
        <strong>${verdict.trusted ? "TRUSTED" : "NOT TRUSTED"}</strong>
        ${` at block ${num(verdict.atBlock)} (lag ${verdict.lagBlocks} blocks)`}
        ${
          verdict.reasons.length > 0 &&
          html`<ul>
            ${verdict.reasons.map((r) => html`<li><code>${r}</code>: ${VERDICT_REASON_TEXT[r] ?? ""}</li>`)}
          </ul>`
        }
      </div>`
    }`;
}

function ChainCheck({ id, entries, atBlock }: { id: string; entries: Entry[]; atBlock: number }) {
  const [result, setResult] = useState<CheckResult>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setResult(undefined), [entries]);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const { chainHistoryHead } = await gql<{
        chainHistoryHead: { atBlock: number; historyHead: string; eventCount: number };
      }>(CHAIN_HEAD, { id, at: atBlock });
      // common/history.ts (with ethers) loads on the first check: the first paint stays small
      const { checkAgainstChain } = await import("../chain-check");
      setResult(checkAgainstChain(entries, chainHistoryHead));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<button type="button" id="check-chain" onClick=${run} disabled=${busy}>Check against the chain</button>
    <${ErrorBox} error=${error} />
    ${
      result &&
      html`<div id="chain-check" class=${result.ok ? "verdict ok" : "verdict bad"} role="status">
        <strong>${result.ok ? "MATCH" : "MISMATCH"}</strong>
        <ul>
          ${result.findings.map((f) => html`<li>${f}</li>`)}
        </ul>
        <p class="mono small">recomputed ${result.recomputed}<br />chain ${result.chain.historyHead}</p>
      </div>`
    }`;
}

export function DevicePage({ id }: { id: string }) {
  const [device, setDevice] = useState<Device | null>();
  const [history, setHistory] = useState<{ entries: Entry[]; atBlock: number }>();
  const [error, setError] = useState<unknown>();
  const [liveError, setLiveError] = useState<unknown>();
  /** Bumped by every live event for this device: everything reloads. */
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let current = true;
    Promise.all([gql<{ device: Device | null }>(RECORD, { id }), loadHistory(id)]).then(
      ([r, h]) => {
        if (!current) return;
        setError(undefined);
        setDevice(r.device);
        setHistory(h);
      },
      (err) => current && setError(err),
    );
    return () => {
      current = false;
    };
  }, [id, version]);
  useEffect(() => {
    const sub = subscribe(
      LIVE,
      { ids: [id] },
      {
        next: () => {
          setLiveError(undefined);
          setVersion((v) => v + 1);
        },
        error: setLiveError,
        open: () => setLiveError(undefined),
      },
    );
    return () => sub.close();
  }, [id]);
  if (device === null)
    return html`<h1>Device</h1>
      <div class="error" role="alert">No device ${id} is registered.</div>`;
  return html`<h1>Device <span class="mono small">${id}</span></h1>
    <${ErrorBox} error=${error} />
    ${liveError && html`<div class="warn" role="status">Live updates: ${String((liveError as Error).message)}</div>`}
    ${
      device &&
      html`<section aria-labelledby="rec">
          <h2 id="rec">Record</h2>
          <${Record} d=${device} />
        </section>
        <section aria-labelledby="ver">
          <h2 id="ver">Verdict</h2>
          <${VerdictPanel} id=${id} version=${version} />
        </section>
        <${RiskPanel} id=${id} version=${version} />
        <section aria-labelledby="att">
          <h2 id="att">Attestations</h2>
          <${Attestations} list=${device.attestations} />
        </section>`
    }
    ${
      history &&
      html`<section aria-labelledby="hist">
        <h2 id="hist">History (${history.entries.length} entries)</h2>
        <${ChainCheck} id=${id} entries=${history.entries} atBlock=${history.atBlock} />
        <${Timeline} entries=${history.entries} />
      </section>`
    }
    ${!device && !error && html`<p>Loading…</p>`}`;
}
