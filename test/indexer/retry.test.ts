/**
 * common/retry: the one retry helper (indexer sync and start-up, registry views, the CLI).
 */
import { expect } from "chai";
import { backoffDelay, retry, type RetryInfo } from "../../common/retry";
import { prng, testSeed } from "../helpers/seed";

class Flaky extends Error {
  readonly retryable = true;
}
class Broken extends Error {
  readonly retryable = false;
}

/** A function that fails `failures` times with `make()`, then answers its attempt number. */
function failing(failures: number, make: () => Error = () => new Flaky("busy")) {
  const calls: number[] = [];
  const fn = async (attempt: number) => {
    calls.push(attempt);
    if (calls.length <= failures) throw make();
    return attempt;
  };
  return { fn, calls };
}

describe("common/retry", function () {
  describe("retry", function () {
    it("retries retryable errors until the call succeeds, telling onRetry each time", async function () {
      const { fn, calls } = failing(3);
      const seen: RetryInfo[] = [];
      const result = await retry(fn, { baseMs: 1, maxMs: 4, onRetry: (i) => seen.push(i) });
      expect(result).to.equal(4);
      expect(calls).to.deep.equal([1, 2, 3, 4]);
      expect(seen.map((s) => s.attempt)).to.deep.equal([1, 2, 3]);
      for (const s of seen) {
        expect(s.err).to.be.instanceOf(Flaky);
        expect(s.delayMs).to.be.within(0, 4);
      }
    });

    it("gives up after `attempts` and throws the last error", async function () {
      let n = 0;
      const { fn, calls } = failing(10, () => new Flaky(`failure ${++n}`));
      const err = await retry(fn, { attempts: 3, baseMs: 1 }).catch((e: unknown) => e);
      expect((err as Error).message).to.equal("failure 3");
      expect(calls).to.deep.equal([1, 2, 3]);
    });

    it("throws a non-retryable error at once", async function () {
      const { fn, calls } = failing(1, () => new Broken("bad params"));
      let retried = 0;
      const err = await retry(fn, { onRetry: () => retried++ }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Broken);
      expect(calls).to.deep.equal([1]);
      expect(retried).to.equal(0);
    });

    it("asks the `retryable` predicate when one is given", async function () {
      const { fn, calls } = failing(2, () => new Broken("looks fatal, is not"));
      expect(await retry(fn, { baseMs: 1, retryable: (e) => e instanceof Broken })).to.equal(3);
      expect(calls).to.have.length(3);
    });

    it("ends a wait as soon as the signal aborts, with its reason, and makes no further attempt", async function () {
      const ctrl = new AbortController();
      const { fn, calls } = failing(Infinity);
      const started = performance.now();
      const pending = retry(fn, { baseMs: 60_000, maxMs: 60_000, random: () => 0.99, signal: ctrl.signal });
      setTimeout(() => ctrl.abort(new Error("stopped")), 20);
      const err = await pending.catch((e: unknown) => e);
      expect((err as Error).message).to.equal("stopped");
      expect(performance.now() - started).to.be.lessThan(5_000);
      expect(calls).to.deep.equal([1]);
    });

    it("does not call at all when the signal has already aborted", async function () {
      const { fn, calls } = failing(0);
      const err = await retry(fn, { signal: AbortSignal.abort(new Error("gone")) }).catch((e: unknown) => e);
      expect((err as Error).message).to.equal("gone");
      expect(calls).to.deep.equal([]);
    });
  });

  describe("backoffDelay", function () {
    it("is full jitter: uniform below a ceiling that doubles from baseMs up to maxMs", function () {
      const random = prng(testSeed());
      const opts = { baseMs: 100, maxMs: 1_000, random };
      const ceilings = [100, 200, 400, 800, 1_000, 1_000, 1_000];
      ceilings.forEach((ceiling, i) => {
        const samples = Array.from({ length: 400 }, () => backoffDelay(i + 1, opts));
        expect(Math.min(...samples), `failure ${i + 1}`).to.be.at.least(0);
        expect(Math.max(...samples), `failure ${i + 1}`).to.be.below(ceiling);
        // spread over the whole interval, not only its upper half
        expect(Math.min(...samples), `failure ${i + 1}`).to.be.below(ceiling * 0.1);
        expect(Math.max(...samples), `failure ${i + 1}`).to.be.above(ceiling * 0.9);
      });
    });

    it("reaches the bounds with the extreme random values", function () {
      expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000, random: () => 0 })).to.equal(0);
      expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000, random: () => 0.999999 })).to.equal(399);
      expect(backoffDelay(60, { baseMs: 100, maxMs: 10_000, random: () => 0.999999 })).to.equal(9_999);
    });
  });
});
