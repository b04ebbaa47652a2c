/**
 * Device files for the anchored-batch tests: real keys of the three classical algorithms made
 * with node:crypto (OpenSSL), ~50× faster than the pure-JS key generation of the other CLI
 * fixtures — an anchored batch is 10,000 devices and more.
 */
import { createECDH, generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { KeyAlgorithmName } from "../../common/keys";
import { firmwareHash } from "../helpers/cli-fixtures";

export interface AnchorCsvDevice {
  serial: string;
  alg: KeyAlgorithmName;
  publicKey: string;
  firmware: string;
  segment: string;
}

/** A fresh public key (0x hex; compressed for the two ECDSA curves, raw 32 bytes for Ed25519). */
export function freshPublicKey(alg: "secp256k1" | "p256" | "ed25519"): string {
  if (alg === "ed25519") {
    const der = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" });
    return "0x" + der.subarray(der.length - 32).toString("hex");
  }
  const ecdh = createECDH(alg === "p256" ? "prime256v1" : "secp256k1");
  ecdh.generateKeys();
  return "0x" + ecdh.getPublicKey("hex", "compressed");
}

const ALGS = ["secp256k1", "p256", "ed25519"] as const;

/** `n` devices, serials `<prefix>-0000001`…, algorithms rotating, four firmware images, two segments. */
export function makeAnchorDevices(n: number, prefix: string): AnchorCsvDevice[] {
  return Array.from({ length: n }, (_, i) => {
    const alg = ALGS[i % 3]!;
    return {
      serial: `${prefix}-${String(i + 1).padStart(7, "0")}`,
      alg,
      publicKey: freshPublicKey(alg),
      firmware: firmwareHash(String(i % 4)),
      segment: i % 2 ? "plant-7/hvac" : "plant-7/door",
    };
  });
}

export function writeAnchorCsv(file: string, devices: readonly AnchorCsvDevice[]): string {
  const lines = devices.map((d) => `${d.serial},${d.alg},${d.publicKey},${d.firmware},${d.segment}`);
  writeFileSync(file, ["serial,alg,publicKey,firmware,segment", ...lines].join("\n") + "\n");
  return file;
}
