/**
 * Seeded randomness for tests: every random choice a test makes comes from `prng(testSeed())`,
 * the seed is printed once per process, and `DTL_TEST_SEED=<n>` replays a failing run.
 */

let chosen: number | undefined;

/** The run's seed: `DTL_TEST_SEED` when set, otherwise a fresh one. Printed on first use. */
export function testSeed(): number {
  if (chosen !== undefined) return chosen;
  const fromEnv = process.env.DTL_TEST_SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const n = Number(fromEnv);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`DTL_TEST_SEED must be a non-negative integer, got "${fromEnv}"`);
    chosen = n;
  } else {
    chosen = crypto.getRandomValues(new Uint32Array(1))[0]!;
  }
  console.log(`    test seed ${chosen} (replay with DTL_TEST_SEED=${chosen})`);
  return chosen;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
