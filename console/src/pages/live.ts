/** The live feed: every device event as the indexer commits it (deviceEvents over SSE). */
import { useEffect, useState } from "preact/hooks";
import { subscribe } from "../gql";
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

export function Live() {
  const [events, setEvents] = useState<Event[]>([]);
  const [state, setState] = useState<{ open: boolean; error?: unknown }>({ open: false });
  useEffect(() => {
    const sub = subscribe<{ deviceEvents: Event }>(
      FEED,
      {},
      {
        next: (d) => setEvents((list) => [d.deviceEvents, ...list].slice(0, KEEP)),
        error: (error) => setState({ open: false, error }),
        open: () => setState({ open: true }),
      },
    );
    return () => sub.close();
  }, []);
  return html`<h1>Live feed</h1>
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
