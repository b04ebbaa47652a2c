/** Shared view helpers: htm bound to Preact, formatting, and the error box every page uses. */
import { h, type ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";
import { ApiError } from "./gql";

export const html = htm.bind(h);

/** "2026-01-01 12:00:00 UTC" from an ISO date-time. */
export function when(iso: string | null | undefined): string {
  if (!iso) return "never";
  return iso.replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** 0x1234…abcd with the full value in the title. */
export function short(hex: string, keep = 6): ComponentChildren {
  if (hex.length <= 2 + keep * 2) return hex;
  return html`<span class="hex" title=${hex}>${hex.slice(0, 2 + keep)}…${hex.slice(-keep)}</span>`;
}

export const deviceHref = (id: string): string => `#/device/${id}`;

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Every failure is shown where it happened, with what the API said; role=alert reads it out. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return html`<div class="error" role="alert">${errorText(error)}</div>`;
}

/** A table's column headings. */
export const tableHead = (cols: readonly string[]) =>
  html`<thead>
    <tr>
      ${cols.map((c) => html`<th scope="col">${c}</th>`)}
    </tr>
  </thead>`;

export const num = (n: number): string => n.toLocaleString("en-US");

/** "in 3 days" / "2 hours ago" relative to now. */
export function relative(iso: string, now = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  const a = Math.abs(s);
  const [v, u] =
    a < 120
      ? [a, "s"]
      : a < 7200
        ? [Math.round(a / 60), "min"]
        : a < 172800
          ? [Math.round(a / 3600), "h"]
          : [Math.round(a / 86400), "days"];
  return s >= 0 ? `in ${v} ${u}` : `${v} ${u} ago`;
}

/** Relay paging state: the cursors of the pages before this one (for Back) and this page's `after`; reset when `key` changes. */
export function usePages(key: string) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), [key]);
  return {
    after: cursors[cursors.length - 1] ?? null,
    page: cursors.length,
    back: () => setCursors(cursors.slice(0, -1)),
    next: (endCursor: string | null) => setCursors([...cursors, endCursor]),
  };
}

/** Previous / Next buttons over {@link usePages}. */
export function Pager(props: {
  pages: ReturnType<typeof usePages>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}) {
  const { pages, pageInfo } = props;
  return html`<nav class="pager" aria-label="pages">
    <button type="button" disabled=${pages.page === 1} onClick=${pages.back}>← Previous</button>
    <button
      type="button"
      id="next-page"
      disabled=${!pageInfo.hasNextPage}
      onClick=${() => pages.next(pageInfo.endCursor)}
    >
      Next →
    </button>
  </nav>`;
}

/** The hash route `#/<route>?…` of a filter form's non-empty fields among `fields`. */
export function filterRoute(ev: Event, route: string, fields: readonly string[]): string {
  ev.preventDefault();
  const f = new FormData(ev.target as HTMLFormElement);
  const q = new URLSearchParams();
  for (const k of fields) {
    const v = String(f.get(k) ?? "").trim();
    if (v) q.set(k, v);
  }
  return `#/${route}${q.size ? `?${q}` : ""}`;
}
