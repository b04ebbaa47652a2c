/**
 * Talking to the chain from the CLI (and anything else that sends registry transactions):
 * a fast ethers provider, sending a transaction and turning a revert into words — `registry refused: DeviceRegistryNotDeviceManager(deviceId=0x…, account=0x…)`.
 */
import {
  Contract,
  JsonRpcProvider,
  Network,
  type ContractRunner,
  type ErrorDescription,
  type TransactionReceipt,
} from "ethers";
import { registryAbi, registryInterface } from "./abi";
import { DEVICE_STATUS } from "./codes";
import { DEFAULT_ADMIN_ROLE, MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE } from "./roles";
import { JsonRpcError, hexToNumber, type RpcClient } from "./rpc";

/** The registry reverted; `reason` is the decoded custom error. */
export class RegistryRevertError extends Error {
  override name = "RegistryRevertError";
  constructor(
    readonly reason: DecodedRevert,
    options?: { cause?: unknown },
  ) {
    super(`registry refused: ${formatRevert(reason)}`, options);
  }
}

/** A transaction failed for a reason other than a decodable registry revert. */
export class TransactionError extends Error {
  override name = "TransactionError";
}

/** The chain id the node reports (a one-line error naming the URL when it is not reachable). */
export async function fetchChainId(client: RpcClient): Promise<number> {
  return hexToNumber(await client.call<string>("eth_chainId", [], { timeoutMs: 10_000 }));
}

/**
 * An ethers provider that sends one request per HTTP call (ethers' default 10 ms batching makes
 * transactions ~5× slower) and never re-detects the network.
 */
export function createProvider(url: string, chainId: number): JsonRpcProvider {
  return new JsonRpcProvider(url, Network.from(chainId), {
    batchMaxCount: 1,
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 100,
  });
}

export function registryContract(address: string, runner: ContractRunner): Contract {
  return new Contract(address, registryAbi, runner);
}

// ------------------------------------------------------------------ revert decoding

export interface DecodedRevert {
  /** Custom error name, e.g. "DeviceRegistryUnknownDevice"; "Error"/"Panic" for the built-ins. */
  name: string;
  /** Arguments by ABI name, formatted for people (bytes32 hex, addresses, status and role names). */
  args: { name: string; value: string }[];
  /** For DeviceRegistryBatchItemFailed: the failing item's index and its own error. */
  item?: { index: number; error: DecodedRevert };
  /** The raw revert data. */
  data: string;
}

const ROLE_NAMES: Record<string, string> = {
  [DEFAULT_ADMIN_ROLE]: "DEFAULT_ADMIN_ROLE",
  [MANUFACTURER_ROLE]: "MANUFACTURER_ROLE",
  [SECURITY_OFFICER_ROLE]: "SECURITY_OFFICER_ROLE",
};

function formatArg(
  errorName: string,
  argName: string,
  type: string,
  value: unknown,
  roleNames: Record<string, string>,
): string {
  if (argName === "status" && typeof value === "bigint") return DEVICE_STATUS[Number(value)] ?? String(value);
  if (argName === "neededRole" && typeof value === "string")
    return roleNames[value.toLowerCase()] ?? ROLE_NAMES[value] ?? value;
  if (type === "bytes32" && typeof value === "string") return value.toLowerCase();
  // times (DeviceRegistryExpiryInPast): show the date too
  if ((argName === "expiresAt" || argName === "now") && typeof value === "bigint" && value > 0n && value < 1n << 40n) {
    return `${value} (${new Date(Number(value) * 1000).toISOString().replace(".000Z", "Z")})`;
  }
  void errorName;
  return typeof value === "bigint" ? value.toString() : String(value);
}

/**
 * Decodes revert data of the registry (its own custom errors, OpenZeppelin's AccessControl
 * errors, Error(string), Panic(uint256)); a DeviceRegistryBatchItemFailed is decoded down to the
 * item's own error. Returns undefined for data the registry ABI does not know.
 * `roleNames` maps extra role ids (e.g. an attester role) to a readable name.
 */
export function decodeRevert(data: string, roleNames: Record<string, string> = {}): DecodedRevert | undefined {
  if (!/^0x[0-9a-fA-F]*$/.test(data) || data.length < 10) return undefined;
  let desc: ErrorDescription | null = null;
  try {
    desc = registryInterface.parseError(data);
  } catch {
    desc = null;
  }
  if (!desc) return undefined;
  const roles = Object.fromEntries(Object.entries(roleNames).map(([k, v]) => [k.toLowerCase(), v]));
  const inputs = desc.fragment.inputs;
  const decoded: DecodedRevert = {
    name: desc.name,
    args: inputs.map((input, i) => ({
      name: input.name || `arg${i}`,
      value: formatArg(desc.name, input.name, input.type, desc.args[i], roles),
    })),
    data,
  };
  if (desc.name === "DeviceRegistryBatchItemFailed") {
    const inner = decodeRevert(String(desc.args[1]), roleNames);
    if (inner) decoded.item = { index: Number(desc.args[0]), error: inner };
  }
  return decoded;
}

/** `Name(arg=value, …)`; a batch failure reads `item 3 of the batch: Name(…)`. */
export function formatRevert(d: DecodedRevert): string {
  if (d.item) return `item ${d.item.index} of the batch: ${formatRevert(d.item.error)}`;
  if (d.name === "Error" && d.args.length === 1) return d.args[0]!.value;
  return `${d.name}(${d.args.map((a) => `${a.name}=${a.value}`).join(", ")})`;
}

/** Finds revert data in an ethers / JSON-RPC error, wherever the provider put it. */
export function findRevertData(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number): string | undefined => {
    if (!e || typeof e !== "object" || seen.has(e) || depth > 6) return undefined;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (typeof o.data === "string" && /^0x[0-9a-fA-F]{8,}$/.test(o.data)) return o.data;
    for (const k of ["data", "error", "info", "cause", "revert"]) {
      const found = walk(o[k], depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return walk(err, 0);
}

/** One line for any error of a chain interaction: a decoded revert, an RPC problem or ethers' short message. */
export function describeChainError(err: unknown, roleNames: Record<string, string> = {}): string {
  if (err instanceof RegistryRevertError || err instanceof JsonRpcError || err instanceof TransactionError)
    return err.message;
  const data = findRevertData(err);
  const decoded = data ? decodeRevert(data, roleNames) : undefined;
  if (decoded) return `registry refused: ${formatRevert(decoded)}`;
  const e = err as { code?: string; shortMessage?: string; message?: string };
  if (e?.code === "INSUFFICIENT_FUNDS") return "the signing account cannot pay for gas (insufficient funds)";
  if (e?.code === "NONCE_EXPIRED")
    return "nonce already used (another transaction from this account got in first); try again";
  if (e?.code === "CALL_EXCEPTION")
    return `the transaction reverted without a reason the registry ABI knows${data ? ` (data ${data})` : ""}`;
  const fetchCode = (err as { error?: { code?: string } })?.error?.code;
  if (e?.code === "ECONNREFUSED" || fetchCode === "ECONNREFUSED")
    return "cannot reach the RPC node: connection refused";
  return e?.shortMessage ?? e?.message ?? String(err);
}

/** Re-throws any error of a chain interaction as one with a one-line message (the original as `cause`). */
export function toChainError(err: unknown, roleNames: Record<string, string> = {}): Error {
  if (err instanceof RegistryRevertError || err instanceof JsonRpcError || err instanceof TransactionError) return err;
  const data = findRevertData(err);
  const decoded = data ? decodeRevert(data, roleNames) : undefined;
  if (decoded) return new RegistryRevertError(decoded, { cause: err });
  return new TransactionError(describeChainError(err, roleNames), { cause: err });
}

export interface SendOptions {
  gasLimit?: bigint | number;
  /** Role ids → readable names, for AccessControlUnauthorizedAccount. */
  roleNames?: Record<string, string>;
}

/**
 * Calls `method` on `contract` as a transaction and waits for it to be mined. A revert — at gas
 * estimation or on chain — throws a {@link RegistryRevertError} with the custom error decoded.
 */
export async function sendRegistryTx(
  contract: Contract,
  method: string,
  args: unknown[],
  opts: SendOptions = {},
): Promise<TransactionReceipt> {
  const fn = contract.getFunction(method);
  const overrides = opts.gasLimit !== undefined ? { gasLimit: opts.gasLimit } : {};
  let receipt: TransactionReceipt | null;
  try {
    const tx = await fn.send(...args, overrides);
    receipt = await tx.wait();
  } catch (err) {
    throw toChainError(err, opts.roleNames);
  }
  if (!receipt) throw new TransactionError(`transaction for ${method} was dropped`);
  return receipt;
}
