/**
 * Reading a device file for `dtl register --file`: CSV with the header
 * serial,alg,publicKey,firmware,segment (segment optional) or a JSON array of objects with those
 * keys. Every row is checked before anything is sent; each problem names its line.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Options } from "csv-parse";
import { parse } from "csv-parse/sync";
import { encodeShortName, parseBytes32 } from "../common/ids";
import { keyHash, parseKeyAlgorithm, type KeyAlgorithm } from "../common/keys";

export interface DeviceRow {
  /** Where the row is, for messages: "devices.csv:17" or "devices.json item 4". */
  where: string;
  /** 1-based line (CSV) or item number (JSON). */
  line: number;
  serial: string;
  keyAlgorithm: KeyAlgorithm;
  keyHash: string;
  firmwareHash: string;
  /** bytes32 short name. */
  segment: string;
}

export type DeviceFileResult = { ok: true; rows: DeviceRow[] } | { ok: false; problems: string[]; badRows: number };

const COLUMNS = ["serial", "alg", "publicKey", "firmware", "segment"] as const;
const REQUIRED = ["serial", "alg", "publicKey", "firmware"] as const;
type Raw = Partial<Record<(typeof COLUMNS)[number], string>>;

export interface CsvTable {
  /** [first line of the row (1-based), fields], blank lines skipped. */
  rows: [number, string[]][];
  /** Rows csv-parse could not read (a stray or unclosed quote), each with its line. */
  errors: { line: number; message: string }[];
}

/**
 * RFC 4180 CSV through csv-parse: quoted fields with "" escapes, CRLF, LF or CR line ends (mixed
 * too), a UTF-8 byte order mark, blank lines skipped. A row with a quoting error is named and
 * skipped, and reading goes on, so every bad row is reported at once. Field counts are left to
 * the caller (it names a short row against the header).
 */
export function parseCsv(text: string): CsvTable {
  const errors: CsvTable["errors"] = [];
  const rows = parse(text, {
    bom: true,
    record_delimiter: ["\r\n", "\n", "\r"],
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (err) => {
      // one error a line, the last: after a stray quote csv-parse may stumble first on the same row
      if (!err) return undefined;
      const e = { line: Number(err.lines), message: err.message.replace(/ at line \d+/, "") };
      if (errors[errors.length - 1]?.line === e.line) errors[errors.length - 1] = e;
      else errors.push(e);
      return undefined;
    },
    // [line, fields] straight away: csv-parse's `info` object per record costs ~500 bytes a row
    // (0.5 GB at 1,000,000 rows). context.lines is the row's last line: a quoted field may span lines
    on_record: ((record: string[], context: { lines: number }): [number, string[]] => {
      const inside = record.reduce((n, f) => n + (f.match(/\r\n|\n|\r/g)?.length ?? 0), 0);
      return [context.lines - inside, record];
    }) as unknown as NonNullable<Options["on_record"]>, // csv-parse's types want records of strings
  }) as unknown as [number, string[]][];
  return { rows, errors };
}

interface RawRow {
  where: string;
  line: number;
  raw: Raw;
  /** A problem with the row's shape (wrong number of fields, unknown field, a quoting error). */
  shape?: string;
  /** Nothing more to check: the row is not an object, or csv-parse could not read it. */
  unreadable?: boolean;
}

function rawRows(file: string, text: string): { rows: RawRow[]; problems: string[] } {
  const name = path.basename(file);
  if (/\.json$/i.test(file)) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return { rows: [], problems: [`${name}: not valid JSON: ${err instanceof Error ? err.message : String(err)}`] };
    }
    if (!Array.isArray(data)) return { rows: [], problems: [`${name}: expected a JSON array of devices`] };
    const rows = data.map((item: unknown, i): RawRow => {
      const where = `${name} item ${i + 1}`;
      if (!item || typeof item !== "object" || Array.isArray(item))
        return {
          where,
          line: i + 1,
          raw: {},
          shape: `expected an object with ${COLUMNS.join(", ")}`,
          unreadable: true,
        };
      const raw: Raw = {};
      let shape: string | undefined;
      for (const [k, v] of Object.entries(item)) {
        if (!(COLUMNS as readonly string[]).includes(k))
          shape ??= `unknown field "${k}" (expected ${COLUMNS.join(", ")})`;
        else raw[k as keyof Raw] = typeof v === "number" ? String(v) : typeof v === "string" ? v : JSON.stringify(v);
      }
      return { where, line: i + 1, raw, shape };
    });
    return { rows, problems: [] };
  }
  const { rows: table, errors } = parseCsv(text);
  const header = table.shift();
  if (!header && !errors.length)
    return { rows: [], problems: [`${name}: empty file (expected the header ${COLUMNS.join(",")})`] };
  if (!header || errors.some((e) => e.line <= header[0]))
    return { rows: [], problems: errors.map((e) => `${name}:${e.line}: ${e.message}`) };
  const cols = header[1].map((h) => h.trim());
  const problems: string[] = [];
  for (const c of cols)
    if (!(COLUMNS as readonly string[]).includes(c))
      problems.push(`${name}:${header[0]}: unknown column "${c}" (expected ${COLUMNS.join(",")})`);
  for (const c of REQUIRED) if (!cols.includes(c)) problems.push(`${name}:${header[0]}: missing column "${c}"`);
  if (problems.length) return { rows: [], problems };
  const rows = table.map(([line, fields]): RawRow => {
    const raw: Raw = {};
    cols.forEach((c, i) => (raw[c as keyof Raw] = fields[i]?.trim()));
    const shape = fields.length !== cols.length ? `${fields.length} fields, the header has ${cols.length}` : undefined;
    return { where: `${name}:${line}`, line, raw, shape };
  });
  // a row csv-parse could not read is a bad row too, in line order with the others
  for (const e of errors)
    rows.push({ where: `${name}:${e.line}`, line: e.line, raw: {}, shape: e.message, unreadable: true });
  rows.sort((a, b) => a.line - b.line);
  return { rows, problems };
}

/**
 * Reads and validates a device file: all rows valid, or every problem (one per line).
 * `onChecked(rows, total)` follows the row checks (key hashes take a while for 50,000 rows).
 */
export function readDeviceFile(file: string, onChecked?: (rows: number, total: number) => void): DeviceFileResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    return {
      ok: false,
      problems: [`cannot read ${file}: ${code === "ENOENT" ? "no such file" : String(code ?? err)}`],
      badRows: 0,
    };
  }
  const { rows, problems } = rawRows(file, text);
  const firstSeen = new Map<string, string>();
  const badRows = new Set<string>();
  const out: DeviceRow[] = [];
  let checked = 0;
  for (const { where, line, raw, shape, unreadable } of rows) {
    onChecked?.(checked++, rows.length);
    const bad = (msg: string) => {
      problems.push(`${where}: ${msg}`);
      badRows.add(where);
    };
    if (shape) {
      bad(shape);
      if (unreadable || /\.json$/i.test(file)) continue;
    }
    const missing = REQUIRED.filter((c) => !raw[c]);
    if (missing.length) {
      bad(`missing ${missing.join(", ")}`);
      continue;
    }
    const serial = raw.serial!;
    const dup = firstSeen.get(serial);
    if (dup) bad(`duplicate serial "${serial}" (first at ${dup})`);
    else firstSeen.set(serial, where);
    let alg: KeyAlgorithm | undefined;
    try {
      alg = parseKeyAlgorithm(raw.alg!);
    } catch (err) {
      bad((err as Error).message);
    }
    let hash: string | undefined;
    if (alg !== undefined) {
      try {
        hash = keyHash(alg, raw.publicKey!);
      } catch (err) {
        bad(`publicKey: ${(err as Error).message}`);
      }
    }
    let firmware: string | undefined;
    try {
      firmware = parseBytes32("firmware", raw.firmware!);
    } catch (err) {
      bad((err as Error).message);
    }
    let segment: string | undefined;
    try {
      segment = encodeShortName("segment", raw.segment ?? "");
    } catch (err) {
      bad((err as Error).message);
    }
    if (alg !== undefined && hash && firmware && segment && !dup && !shape) {
      out.push({ where, line, serial, keyAlgorithm: alg, keyHash: hash, firmwareHash: firmware, segment });
    }
  }
  onChecked?.(rows.length, rows.length);
  if (problems.length) return { ok: false, problems, badRows: badRows.size };
  if (out.length === 0) return { ok: false, problems: [`${path.basename(file)}: no devices in the file`], badRows: 0 };
  return { ok: true, rows: out };
}

/** "2–5, 9, 12–40" for a sorted list of line numbers (at most `max` ranges, then "…"). */
export function lineRanges(lines: readonly number[], max = 8): string {
  const ranges: string[] = [];
  for (let i = 0; i < lines.length;) {
    let j = i;
    while (j + 1 < lines.length && lines[j + 1] === lines[j]! + 1) j++;
    ranges.push(i === j ? String(lines[i]) : `${lines[i]}–${lines[j]}`);
    i = j + 1;
  }
  return ranges.length > max ? `${ranges.slice(0, max).join(", ")}, …` : ranges.join(", ");
}
