// Latency percentiles from a histogram's cumulative bucket counts, interpolated linearly
// inside the bucket as Prometheus' histogram_quantile() does: an estimate whose error is at
// most the bucket's width, which is what a dashboard needs.

/** Cumulative counts per upper bound (seconds), ascending; `count` includes +Inf. */
export function quantile(
  q: number,
  buckets: ReadonlyArray<{ le: number; count: number }>,
  count: number,
): number | undefined {
  if (count <= 0) return undefined;
  const rank = q * count;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      const inBucket = b.count - lowerCount;
      if (inBucket <= 0) return b.le;
      return lowerLe + ((b.le - lowerLe) * (rank - lowerCount)) / inBucket;
    }
    lowerLe = b.le;
    lowerCount = b.count;
  }
  // Beyond the last finite bucket: the best that can be said is "more than that".
  return buckets.length ? buckets[buckets.length - 1]!.le : undefined;
}

/** The difference of two cumulative bucket lists (the calls between two samples). */
export function bucketDelta(
  now: ReadonlyArray<{ le: number; count: number }>,
  before: ReadonlyArray<{ le: number; count: number }> | undefined,
): Array<{ le: number; count: number }> {
  if (!before) return now.map((b) => ({ ...b }));
  const prev = new Map(before.map((b) => [b.le, b.count]));
  return now.map((b) => ({ le: b.le, count: Math.max(0, b.count - (prev.get(b.le) ?? 0)) }));
}
