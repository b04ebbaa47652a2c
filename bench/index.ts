/**
 * `npm run bench [-- <section>…] [-- --json]`: every figure of DESIGN.md §9, each measured against
 * its reference (the raw node, stock Yoga) in the same run. Sections: gas, indexer, api, cli, pq,
 * scale (issue 9: a million devices on Anvil; the chain is built once and cached in .bench/),
 * anchor (issue 10: gas per anchored device, tree build, materialize + revoke), console (issue 14),
 * gateway (issue 12: admissions, revoke → disconnect).
 * A section module exports `run(): Promise<Figures>`; figures are flat `name → number` and land
 * under the section's key (`gas.registerDevice`).
 */
import path from "node:path";

export type Figures = Record<string, number | string>;

const SECTIONS = ["gas", "indexer", "api", "cli", "pq", "scale", "anchor", "console", "gateway", "monitor"] as const;
type Section = (typeof SECTIONS)[number];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const wanted = args.filter((a) => !a.startsWith("--"));
  for (const w of wanted) {
    if (!SECTIONS.includes(w as Section))
      throw new Error(`unknown bench section "${w}" (expected ${SECTIONS.join(", ")})`);
  }
  const sections = wanted.length ? (wanted as Section[]) : [...SECTIONS];
  const result: Record<string, Figures> = {};
  for (const s of sections) {
    if (!json) process.stderr.write(`bench ${s}…\n`);
    // require, not import(): ts-node resolves .ts sections only through require
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(__dirname, s)) as { run(): Promise<Figures> };
    result[s] = await mod.run();
  }
  // DESIGN.md §9 names the end-to-end figure `revocation.propagationP99Ms`; the api section measures it.
  const propagation = result.api?.revocationPropagationP99Ms;
  if (propagation !== undefined) {
    delete result.api!.revocationPropagationP99Ms;
    result.revocation = { propagationP99Ms: propagation };
  }
  if (json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const rows = Object.entries(result).flatMap(([s, figs]) =>
    Object.entries(figs).map(([k, v]) => [`${s}.${k}`, String(v)]),
  );
  const w = Math.max(...rows.map(([k]) => k!.length), 6);
  console.log(`${"figure".padEnd(w)}  value`);
  console.log(`${"-".repeat(w)}  -----`);
  for (const [k, v] of rows) console.log(`${k!.padEnd(w)}  ${v}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
