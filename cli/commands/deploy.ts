/** dtl deploy [--out deployments/<chainId>.json] [--admin <address>] [--admin-delay <seconds>] */
import { writeDeployment, deployRegistry } from "../../scripts/deploy";
import { toChainError } from "../../common/chain";
import { CHAIN_OPTIONS, JSON_OPTION, optional } from "../args";
import type { Command } from "../command";
import { config, connectProvider } from "../context";
import { address, duration } from "../input";
import { CliError } from "../io";
import { report } from "../output";
import { resolveSigner } from "../signer";

export const command: Command = {
  name: "deploy",
  usage: "dtl deploy [--out deployments/<chainId>.json] [--admin <address>] [--admin-delay 2d]",
  summary: "deploy the registry and write the deployment file",
  options: {
    ...CHAIN_OPTIONS,
    ...JSON_OPTION,
    out: { type: "string" },
    admin: { type: "string" },
    "admin-delay": { type: "string" },
  },
  async run(inv) {
    const v = inv.values;
    const admin = optional(v, "admin");
    const delay = optional(v, "admin-delay");
    const opts = {
      admin: admin === undefined ? undefined : address("deploy", "--admin", admin),
      adminDelay: delay === undefined ? undefined : delay === "0" ? 0 : duration("deploy", "admin-delay", delay),
    };
    const { signer } = config(["chain", "signer"], v, inv.env);
    const { chainId, provider } = await connectProvider(v, inv.env);
    const { wallet } = await resolveSigner(signer, chainId, provider, inv.io);
    let deployment;
    try {
      deployment = await deployRegistry(wallet, opts);
    } catch (err) {
      throw new CliError(`deploy: ${toChainError(err).message}`);
    }
    const file = writeDeployment(
      deployment,
      optional(v, "out") ?? optional(v, "deployment") ?? inv.env.DTL_DEPLOYMENT ?? undefined,
    );
    report(
      inv,
      [
        `deployed DeviceRegistry at ${deployment.registry} on chain ${chainId} (block ${deployment.deployBlock})`,
        `admin ${deployment.admin} (admin transfer delay ${deployment.adminDelay} s)`,
        `wrote ${file}`,
      ],
      { ...deployment, file },
    );
  },
};
