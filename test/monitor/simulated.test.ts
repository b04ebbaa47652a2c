/**
 * The detectors on a small simulated fleet (bench/monitor-sim.ts), two days, fixed seeds that the
 * bench does not use (it reports BENCH_SEED): every clone, credential attack and firmware swap is
 * caught with no false alert; drift catches most hijacks with at most one false alert.
 */
import { expect } from "chai";
import { BENCH_SEED, runSimulation, score } from "../../bench/monitor";

const SEEDS = [11, 12];

describe("monitor on a simulated fleet", function () {
  this.timeout(300_000);
  for (const seed of SEEDS) {
    it(`seed ${seed}: 80 devices, 2 days, labelled attacks on day 2`, async () => {
      expect(seed).to.not.equal(BENCH_SEED);
      const r = await runSimulation(seed, 80, 2, {
        sites: 5,
        gatewaysPerSite: 2,
        attacks: { clone: 4, hijack: 8, credential: 4, firmware: 4 },
      });
      const s = score(r.sim, r.alerts);
      const brief = (k: keyof typeof s) => ({ recall: s[k].recall, falsePositives: s[k].falsePositives });
      expect(brief("clone")).to.deep.equal({ recall: 1, falsePositives: 0 });
      expect(brief("credential")).to.deep.equal({ recall: 1, falsePositives: 0 });
      expect(brief("firmware")).to.deep.equal({ recall: 1, falsePositives: 0 });
      expect(s.hijack.recall).to.be.at.least(0.75);
      expect(s.hijack.falsePositives).to.be.at.most(1);
    });
  }
});
