/** deployments/<chainId>.json: where the registry lives and from which block to index it. */
import { readFileSync } from "node:fs";
import { z } from "zod";

export const deploymentSchema = z.object({
  chainId: z.number().int().positive(),
  registry: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "registry must be a 20-byte hex address"),
  deployBlock: z.number().int().nonnegative(),
  deployBlockHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "deployBlockHash must be a 32-byte hex hash"),
  admin: z.string().optional(),
  adminDelay: z.number().optional(),
  deployedAt: z.string().optional(),
});

export type Deployment = z.infer<typeof deploymentSchema>;

/** Reads and validates a deployment file; the error names the file and the bad field. */
export function readDeployment(file: string): Deployment {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`deployment file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = deploymentSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`deployment file ${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}
