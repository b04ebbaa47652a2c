/**
 * Deploys DeviceRegistry and describes the deployment as deployments/<chainId>.json holds it:
 * { chainId, registry, deployBlock, deployBlockHash, admin, adminDelay, deployedAt }.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ContractFactory, type Signer } from "ethers";
import { registryAbi, registryBytecode } from "../common/abi";
import type { Deployment } from "../common/deployment";

export interface DeployOptions {
  /** Two-step admin transfer delay in seconds (default 2 days). */
  adminDelay?: number;
  /** Admin account (default: the deployer). */
  admin?: string;
}

export async function deployRegistry(signer: Signer, opts: DeployOptions = {}): Promise<Deployment> {
  const admin = opts.admin ?? (await signer.getAddress());
  const adminDelay = opts.adminDelay ?? 2 * 24 * 3600;
  const factory = new ContractFactory(registryAbi, registryBytecode, signer);
  const contract = await factory.deploy(adminDelay, admin);
  const receipt = await contract.deploymentTransaction()!.wait();
  if (!receipt) throw new Error("deployment transaction was dropped");
  const network = await signer.provider!.getNetwork();
  const block = await signer.provider!.getBlock(receipt.blockNumber);
  return {
    chainId: Number(network.chainId),
    registry: await contract.getAddress(),
    deployBlock: receipt.blockNumber,
    deployBlockHash: receipt.blockHash,
    admin,
    adminDelay,
    deployedAt: new Date(Number(block!.timestamp) * 1000).toISOString(),
  };
}

export function writeDeployment(deployment: Deployment, file?: string): string {
  const out = file ?? path.join("deployments", `${deployment.chainId}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(deployment, null, 2) + "\n");
  return out;
}

// `npx hardhat run scripts/deploy.ts --network <name>`
if (require.main === module || process.env.HARDHAT_NETWORK) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hre = require("hardhat") as typeof import("hardhat");
  hre.ethers
    .getSigners()
    .then(([signer]) => deployRegistry(signer!))
    .then((d) => console.log(`DeviceRegistry at ${d.registry} (block ${d.deployBlock}) → ${writeDeployment(d)}`))
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    });
}
