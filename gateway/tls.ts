/**
 * A local certificate authority and a gateway certificate for `dtl dev` (and tests): P-256 keys, a
 * CA valid 10 years, a server certificate for localhost / 127.0.0.1 signed by it. node:crypto makes
 * keys but cannot issue X.509 certificates, so this drives the `openssl` command (OpenSSL 3, on
 * every Debian and macOS host): no library that patches globals (@peculiar/x509 needs the
 * reflect-metadata polyfill loaded into the process), no hand-written ASN.1.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface LocalCa {
  /** The CA certificate a device trusts (`mosquitto_pub --cafile`, mqtt.js `ca`). */
  caFile: string;
  certFile: string;
  keyFile: string;
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === "ENOENT") throw new Error("making a local CA needs the openssl command (apt-get install openssl)");
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? String(err)}`);
  }
}

/** Makes (or reuses, when present) `ca.pem`, `gateway.pem` and `gateway.key` in `dir`. */
export function ensureLocalCa(dir: string, names: readonly string[] = ["localhost", "127.0.0.1"]): LocalCa {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = path.join(dir, "ca.pem");
  const caKey = path.join(dir, "ca.key");
  const certFile = path.join(dir, "gateway.pem");
  const keyFile = path.join(dir, "gateway.key");
  if ([caFile, caKey, certFile, keyFile].every((f) => existsSync(f))) return { caFile, certFile, keyFile };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "3650",
    "-subj",
    "/CN=Device Trust Ledger local CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const csr = path.join(dir, "gateway.csr");
  openssl(["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", "/CN=dtl gateway"]);
  const san = names.map((n) => (/^[\d.]+$/.test(n) || n.includes(":") ? `IP:${n}` : `DNS:${n}`)).join(",");
  const ext = path.join(dir, "gateway.ext");
  writeFileSync(
    ext,
    `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "825",
    "-extfile",
    ext,
  ]);
  return { caFile, certFile, keyFile };
}
