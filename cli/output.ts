/** Printing results: human lines by default, one JSON object with --json. */
import type { TransactionReceipt } from "ethers";
import type { Invocation } from "./command";

export function wantsJson(inv: Invocation): boolean {
  return inv.values.json === true;
}

/** Prints `text` lines, or `json` as one object when --json was given. */
export function report(inv: Invocation, text: string | string[], json: Record<string, unknown>): void {
  if (wantsJson(inv)) inv.io.json(json);
  else for (const line of Array.isArray(text) ? text : [text]) inv.io.out(line);
}

export function txFields(receipt: TransactionReceipt): {
  transactionHash: string;
  blockNumber: number;
  gasUsed: string;
} {
  return { transactionHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() };
}

export function txNote(receipt: TransactionReceipt): string {
  return `tx ${receipt.hash}, block ${receipt.blockNumber}`;
}
