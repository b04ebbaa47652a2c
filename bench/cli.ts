/**
 * `npm run bench -- cli` (or `npx ts-node bench/cli.ts`): the CLI's figures — `dtl register --file`
 * with 10,000 devices (chunks of 200) against a hardhat node, the re-run that finds them all
 * on-chain (the resume path), and the start-up time of a simple command. The built CLI runs as a
 * child process, as users run it.
 */
import { performance } from "node:perf_hooks";
import path from "node:path";
import { Wallet } from "ethers";
import { writeDeployment } from "../scripts/deploy";
import { HARDHAT_KEYS, startHardhatNode } from "../test/helpers/chain";
import { makeDevices, writeCsv } from "../test/helpers/cli-fixtures";
import { ensureBuilt, runDtl, tempDir } from "../test/helpers/cli-run";
import { deployFleetRegistry } from "../test/helpers/fleet";

const DEVICES = Number(process.env.DTL_BENCH_DEVICES ?? 10_000);

export async function run(): Promise<Record<string, number>> {
  ensureBuilt();
  const tmp = tempDir("dtl-bench-cli-");
  const node = await startHardhatNode();
  try {
    const { deployment } = await deployFleetRegistry(node.url);
    const env = {
      DTL_RPC_URL: node.url,
      DTL_DEPLOYMENT: writeDeployment(deployment, path.join(tmp.dir, "deployment.json")),
      DTL_PRIVATE_KEY: new Wallet(HARDHAT_KEYS[1]!).privateKey,
    };
    const file = writeCsv(path.join(tmp.dir, "devices.csv"), makeDevices(DEVICES, "BENCH"));

    let t = performance.now();
    const first = await runDtl(["register", "--file", file, "--json"], { env, cwd: tmp.dir, timeoutMs: 600_000 });
    const registerMs = performance.now() - t;
    if (first.code !== 0) throw new Error(`register --file failed: ${first.stderr}`);
    const out = first.json<{
      registered: number;
      transactions: string[];
      seconds: number;
      phases: { checkingRows: number; checkingChain: number; sending: number };
    }>();
    if (out.registered !== DEVICES) throw new Error(`registered ${out.registered} of ${DEVICES}`);

    t = performance.now();
    const again = await runDtl(["register", "--file", file, "--json"], { env, cwd: tmp.dir, timeoutMs: 600_000 });
    const resumeMs = performance.now() - t;
    if (again.code !== 0 || again.json<{ skipped: number }>().skipped !== DEVICES)
      throw new Error(`re-run did not skip every device: ${again.stderr}`);

    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      const r = await runDtl(
        [
          "device",
          "id",
          "--serial",
          "x",
          "--manufacturer",
          env.DTL_PRIVATE_KEY && new Wallet(env.DTL_PRIVATE_KEY).address,
        ],
        { cwd: tmp.dir },
      );
      starts.push(performance.now() - t);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    starts.sort((a, b) => a - b);
    return {
      registerFileDevices: DEVICES,
      registerFileSeconds: Math.round(registerMs / 100) / 10,
      registerFileDevicesPerSec: Math.round(DEVICES / (registerMs / 1000)),
      registerFileTransactions: out.transactions.length,
      // what the command itself reports: its wall time (start-up included) and each phase
      registerFileReportedSeconds: Math.round(out.seconds * 10) / 10,
      registerFileCheckingRowsSeconds: Math.round(out.phases.checkingRows * 10) / 10,
      registerFileCheckingChainSeconds: Math.round(out.phases.checkingChain * 10) / 10,
      registerFileSendingSeconds: Math.round(out.phases.sending * 10) / 10,
      registerFileResumeAllOnChainSeconds: Math.round(resumeMs / 100) / 10,
      startupMedianMs: Math.round(starts[2]!),
    };
  } finally {
    await node.stop();
    tmp.cleanup();
  }
}

if (require.main === module) {
  run().then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(`bench cli: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
