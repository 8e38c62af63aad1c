// The one seeded PRNG of the test suites (mulberry32): fuzz tests draw from it so that a
// failure is replayed from the seed they print. Imports nothing, so that every package's
// tests can use it.

/** mulberry32: a small, fast PRNG; the same `seed` gives the same numbers in [0, 1). */
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
