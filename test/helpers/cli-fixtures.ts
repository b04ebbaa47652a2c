/** Device files for `dtl register --file` tests and benchmarks: real keys of all three algorithms. */
import { writeFileSync } from "node:fs";
import { hexlify, keccak256, toUtf8Bytes } from "ethers";
import { generateKeyPair, type KeyAlgorithmName } from "../../common/keys";

export const ALGS: readonly KeyAlgorithmName[] = ["secp256k1", "p256", "ed25519"];

export interface CsvDevice {
  serial: string;
  alg: KeyAlgorithmName;
  publicKey: string;
  firmware: string;
  segment: string;
}

export function firmwareHash(label: string): string {
  return keccak256(toUtf8Bytes(`firmware/${label}`));
}

/** `n` devices with fresh keys (algorithms rotate), serials `<prefix>-00001`… */
export function makeDevices(n: number, prefix = "SN"): CsvDevice[] {
  return Array.from({ length: n }, (_, i) => {
    const alg = ALGS[i % 3]!;
    return {
      serial: `${prefix}-${String(i + 1).padStart(5, "0")}`,
      alg,
      publicKey: generateKeyPair(alg).publicKey,
      firmware: firmwareHash(String(i % 4)),
      segment: i % 2 ? "plant-1/hvac" : "plant-2/door",
    };
  });
}

export function toCsv(devices: readonly CsvDevice[]): string {
  return (
    [
      "serial,alg,publicKey,firmware,segment",
      ...devices.map((d) => [d.serial, d.alg, d.publicKey, d.firmware, d.segment].join(",")),
    ].join("\n") + "\n"
  );
}

export function writeCsv(file: string, devices: readonly CsvDevice[]): string {
  writeFileSync(file, toCsv(devices));
  return file;
}

export const randomHex32 = (): string => hexlify(crypto.getRandomValues(new Uint8Array(32)));
