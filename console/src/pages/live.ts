/**
 * The live feed: every device event as the indexer commits it (deviceEvents over SSE), and the
 * monitor's alerts as they are raised (alerts over SSE; a server without a monitor says so).
 */
import { useEffect, useState } from "preact/hooks";
import { subscribe } from "../gql";
import { ApiError } from "../gql";
import { deviceHref, errorText, html, num, short, when } from "../ui";

const FEED = `subscription { deviceEvents { deviceId seq kind blockNumber transactionHash timestamp actor retracted } }`;
/** Events kept on the page (newest first). */
const KEEP = 200;

interface Event {
  deviceId: string;
  seq: number;
  kind: string;
  blockNumber: number;
  transactionHash: string;
  timestamp: string;
  actor: string;
  retracted: boolean;
}

const ALERTS = `subscription { alerts { seq kind deviceId source gateway at score evidenceHash } }`;

interface Alert {
  seq: number;
  kind: string;
  deviceId: string | null;
  source: string | null;
  gateway: string;
  at: string;
  score: number;
  evidenceHash: string;
}

/** The last KEEP items of a subscription (newest first) and whether it is connected. */
function useFeed<T>(query: string, field: string): [T[], { open: boolean; error?: unknown }] {
  const [items, setItems] = useState<T[]>([]);
  const [state, setState] = useState<{ open: boolean; error?: unknown }>({ open: false });
  useEffect(() => {
    const sub = subscribe<Record<string, T>>(
      query,
      {},
      {
        next: (d) => setItems((list) => [d[field]!, ...list].slice(0, KEEP)),
        error: (error) => setState({ open: false, error }),
        open: () => setState({ open: true }),
      },
    );
    return () => sub.close();
  }, [query, field]);
  return [items, state];
}

/** The monitor's alerts as they are raised, newest first. */
function Alerts() {
  const [alerts, state] = useFeed<Alert>(ALERTS, "alerts");
  const disabled = state.error instanceof ApiError && state.error.code === "MONITOR_DISABLED";
  return html`<section aria-labelledby="alerts-title">
    <h2 id="alerts-title">Monitor alerts</h2>
    <p role="status" class=${state.error && !disabled ? "warn" : "note"} id="alerts-state">
      ${
        disabled
          ? "This server runs no monitor."
          : state.error
            ? errorText(state.error)
            : state.open
              ? "Connected: alerts appear as the monitor raises them."
              : "Connecting…"
      }
    </p>
    <ol class="feed" id="alerts" aria-live="assertive">
      ${alerts.map(
        (a) =>
          html`<li data-seq=${a.seq}>
            <strong class="status revoked">${a.kind}</strong>${" · "}
            ${
              a.deviceId
                ? html`<a href=${deviceHref(a.deviceId)} class="mono">${short(a.deviceId, 8)}</a>`
                : html`source ${a.source}`
            }
            ${` · risk ${a.score.toFixed(2)} · gateway ${a.gateway} · ${when(a.at)} · evidence `}${short(a.evidenceHash)}
          </li>`,
      )}
    </ol>
  </section>`;
}

export function Live() {
  const [events, state] = useFeed<Event>(FEED, "deviceEvents");
  return html`<h1>Live feed</h1>
    <${Alerts} />
    <h2>Device events</h2>
    <p role="status" class=${state.error ? "warn" : "note"}>
      ${state.error ? errorText(state.error) : state.open ? "Connected: events appear as they are indexed." : "Connecting…"}
    </p>
    ${events.length === 0 && html`<p>No events since this page opened.</p>`}
    <ol class="feed" id="feed" aria-live="polite">
      ${events.map(
        (e) =>
          html`<li class=${e.retracted ? "muted" : ""}>
            <strong>${e.kind}</strong>${e.retracted ? " (retracted by a reorg)" : ""}${" · "}
            <a href=${deviceHref(e.deviceId)} class="mono">${short(e.deviceId, 8)}</a>
            ${` #${e.seq} · block ${num(e.blockNumber)} · ${when(e.timestamp)} · by `}${short(e.actor)}
          </li>`,
      )}
    </ol>`;
}
