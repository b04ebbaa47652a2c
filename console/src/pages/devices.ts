/**
 * Find a device: by id, by serial + manufacturer (the CLI's id: common/ids.ts deviceIdFor,
 * bundled), or by filters, paging through any number of devices with the API's cursors.
 */
import { useEffect, useState } from "preact/hooks";
import { gql } from "../gql";
import { ErrorBox, Pager, deviceHref, html, num, short, filterRoute, tableHead, usePages, when } from "../ui";

const PAGE = 50;
const FILTERS = ["status", "segment", "manufacturer", "attestationKind"] as const;
type Filter = Partial<Record<(typeof FILTERS)[number], string>>;

const LIST = `query ($filter: DeviceFilter, $first: Int, $after: String) {
  devices(filter: $filter, first: $first, after: $after) {
    totalCount atBlock pageInfo { hasNextPage endCursor }
    edges { node { id status manufacturer segment keyAlgorithm registeredAt eventCount } }
  }
}`;

interface Row {
  id: string;
  status: string;
  manufacturer: string;
  segment: string;
  keyAlgorithm: string;
  registeredAt: string;
  eventCount: number;
}
interface List {
  devices: {
    totalCount: number;
    atBlock: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: { node: Row }[];
  };
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

function Lookup({ navigate }: { navigate: (hash: string) => void }) {
  const [error, setError] = useState<string>();
  const onSubmit = async (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    const id = String(f.get("id") ?? "").trim();
    const serial = String(f.get("serial") ?? "").trim();
    const manufacturer = String(f.get("serial-manufacturer") ?? "").trim();
    try {
      if (id) {
        if (!BYTES32.test(id)) throw new Error("A device id is 0x and 64 hex digits.");
        navigate(deviceHref(id.toLowerCase()));
      } else if (serial && manufacturer) {
        // common/ids.ts (with ethers) loads only when needed: the first paint stays small
        const { deviceIdFor } = await import("../../../common/ids");
        navigate(deviceHref(deviceIdFor(manufacturer, serial)));
      } else throw new Error("Give a device id, or a serial with its manufacturer's address.");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return html`<form class="lookup" onSubmit=${onSubmit} aria-labelledby="lookup-title">
    <h2 id="lookup-title">Find one device</h2>
    <label>Device id <input name="id" id="lookup-id" placeholder="0x…" autocomplete="off" spellcheck="false" /></label>
    <span class="or">or</span>
    <label>Serial <input name="serial" id="lookup-serial" autocomplete="off" /></label>
    <label>Manufacturer <input name="serial-manufacturer" id="lookup-manufacturer" placeholder="0x… address" /></label>
    <button type="submit">Open</button>
    ${error && html`<div class="error" role="alert">${error}</div>`}
  </form>`;
}

export function Devices({ query, navigate }: { query: URLSearchParams; navigate: (hash: string) => void }) {
  const filter: Filter = {};
  for (const k of FILTERS) {
    const v = query.get(k);
    if (v) filter[k] = v;
  }
  const key = JSON.stringify(filter);
  const pages = usePages(key);
  const { after, page } = pages;
  const [list, setList] = useState<List["devices"]>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setError(undefined);
    gql<List>(LIST, { filter, first: PAGE, after }).then((d) => setList(d.devices), setError);
  }, [key, after]);
  const onFilter = (ev: Event) => navigate(filterRoute(ev, "devices", FILTERS));
  return html`<h1>Devices</h1>
    <${Lookup} navigate=${navigate} />
    <form class="filters" onSubmit=${onFilter} aria-labelledby="filter-title" key=${key}>
      <h2 id="filter-title">Filter the fleet</h2>
      <label
        >Status
        <select name="status" value=${filter.status ?? ""}>
          <option value="">any</option>
          <option>ACTIVE</option>
          <option>SUSPENDED</option>
          <option>REVOKED</option>
        </select>
      </label>
      <label>Segment <input name="segment" value=${filter.segment ?? ""} placeholder="plant-3/hvac" /></label>
      <label
        >Manufacturer <input name="manufacturer" value=${filter.manufacturer ?? ""} placeholder="0x… address"
      /></label>
      <label
        >Attestation kind <input name="attestationKind" value=${filter.attestationKind ?? ""} placeholder="firmware"
      /></label>
      <button type="submit">Apply</button>
    </form>
    <${ErrorBox} error=${error} />
    ${
      list &&
      html`<p id="device-total" aria-live="polite">
          ${num(list.totalCount)} devices match · page ${page} of ${Math.max(1, Math.ceil(list.totalCount / PAGE))} ·
          block ${num(list.atBlock)}
        </p>
        <div class="scroll">
          <table class="devices">
            ${tableHead(["device", "status", "segment", "manufacturer", "key", "registered", "events"])}
            <tbody>
              ${list.edges.map(
                ({ node: d }) =>
                  html`<tr>
                    <td><a href=${deviceHref(d.id)} class="mono">${short(d.id, 8)}</a></td>
                    <td><span class=${`status ${d.status.toLowerCase()}`}>${d.status}</span></td>
                    <td>${d.segment || "–"}</td>
                    <td>${short(d.manufacturer)}</td>
                    <td>${d.keyAlgorithm}</td>
                    <td>${when(d.registeredAt)}</td>
                    <td class="n">${d.eventCount}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>
        <${Pager} pages=${pages} pageInfo=${list.pageInfo} />`
    }`;
}
