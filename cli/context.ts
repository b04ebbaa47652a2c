/**
 * Connecting a command to the chain: configuration, chain id, deployment file, a registry
 * contract and (for writes) the signer. Every failure is one line naming what is wrong.
 */
import { existsSync } from "node:fs";
import type { Contract, JsonRpcProvider, Wallet } from "ethers";
import { createProvider, fetchChainId, registryContract } from "../common/chain";
import { createRpcClient, type RpcClient } from "../common/rpc";
import { ConfigError, deploymentPath, loadConfig, type Concern, type Config, type Flags } from "../common/config";
import { readDeployment, type Deployment } from "../common/deployment";
import { CliError, type Io } from "./io";
import { resolveSigner, type SignerSource } from "./signer";

/** Loads configuration; a ConfigError becomes a CliError listing every bad value. */
export function config<K extends Concern>(
  concerns: readonly K[],
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
): Config<K> {
  try {
    return loadConfig(concerns, flags, env);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliError(
        err.problems.length === 1
          ? `bad configuration: ${err.problems[0]}`
          : `bad configuration:\n  ${err.problems.join("\n  ")}`,
      );
    throw err;
  }
}

export interface ChainContext {
  rpcUrl: string;
  /** Raw JSON-RPC (batches, logs). */
  client: RpcClient;
  chainId: number;
  provider: JsonRpcProvider;
  deployment: Deployment;
  deploymentFile: string;
  /** The registry, read-only. */
  registry: Contract;
}

export interface SignedContext extends ChainContext {
  wallet: Wallet;
  account: string;
  signerSource: SignerSource;
  /** The registry connected to the signer. */
  signed: Contract;
}

export async function connectProvider(
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{
  rpcUrl: string;
  client: RpcClient;
  chainId: number;
  provider: JsonRpcProvider;
  chain: Config<"chain">["chain"];
}> {
  const { chain } = config(["chain"], flags, env);
  const client = createRpcClient(chain.rpcUrl);
  const chainId = await fetchChainId(client);
  return { rpcUrl: chain.rpcUrl, client, chainId, provider: createProvider(chain.rpcUrl, chainId), chain };
}

/** Reads the deployment for the chain at the configured RPC and checks it is really there. */
export async function connect(flags: Flags, env: NodeJS.ProcessEnv = process.env): Promise<ChainContext> {
  const { rpcUrl, client, chainId, provider, chain } = await connectProvider(flags, env);
  const file = deploymentPath(chain, chainId);
  if (!existsSync(file)) {
    throw new CliError(
      `no deployment for chain ${chainId}: ${file} not found (run \`dtl deploy\`, or set --deployment / DTL_DEPLOYMENT)`,
    );
  }
  let deployment: Deployment;
  try {
    deployment = readDeployment(file);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
  if (deployment.chainId !== chainId)
    throw new CliError(`deployment file ${file} is for chain ${deployment.chainId}, but ${rpcUrl} is chain ${chainId}`);
  const code = await client.call<string>("eth_getCode", [deployment.registry, "latest"]);
  if (!code || code === "0x") {
    throw new CliError(
      `no registry contract at ${deployment.registry} on chain ${chainId} (${file} is stale: was the dev chain restarted? run \`dtl deploy\` or \`npm start\`)`,
    );
  }
  return {
    rpcUrl,
    client,
    chainId,
    provider,
    deployment,
    deploymentFile: file,
    registry: registryContract(deployment.registry, provider),
  };
}

export async function connectSigned(
  flags: Flags,
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SignedContext> {
  const { signer } = config(["chain", "signer"], flags, env);
  const ctx = await connect(flags, env);
  const { wallet, source } = await resolveSigner(signer, ctx.chainId, ctx.provider, io);
  return {
    ...ctx,
    wallet,
    account: wallet.address,
    signerSource: source,
    signed: registryContract(ctx.deployment.registry, wallet),
  };
}
