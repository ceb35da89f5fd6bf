/**
 * A log-linear histogram of non-negative values (latencies in ns) for percentiles with fixed
 * memory: values below 256 have a bucket each; above, every power of two is split into 128
 * buckets, so a percentile is off by less than 1/128 (0.8 %) of its value. Recording allocates
 * nothing.
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 buckets per power of two
const LINEAR = SUB << 1; // values 0..255 exactly
const TWO_32 = 4294967296;
/** Largest value kept (2^53 - 1); larger ones are clamped. */
const MAX_VALUE = Number.MAX_SAFE_INTEGER;
const BUCKETS = LINEAR + (53 - SUB_BITS - 1) * SUB;

/** The bucket index of a value in 0 .. 2^53-1. */
function bucketOf(v: number): number {
  if (v < LINEAR) return v;
  // e = floor(log2(v)) without leaving doubles: clz32 on the high or low 32 bits
  const hi = Math.floor(v / TWO_32);
  const e = hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(v);
  const shift = e - SUB_BITS; // ≥ 1
  const m = Math.floor(v / 2 ** shift); // SUB .. 2*SUB-1
  return LINEAR + (shift - 1) * SUB + (m - SUB);
}

/** The smallest value of bucket `i`. */
function bucketLow(i: number): number {
  if (i < LINEAR) return i;
  const shift = Math.floor((i - LINEAR) / SUB) + 1;
  const m = ((i - LINEAR) % SUB) + SUB;
  return m * 2 ** shift;
}

/** The width of bucket `i`. */
function bucketWidth(i: number): number {
  return i < LINEAR ? 1 : 2 ** (Math.floor((i - LINEAR) / SUB) + 1);
}

/** Percentiles over recorded values. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #min = Infinity;
  #max = 0;
  #sum = 0;

  /** Records one value (negative ones count as 0, fractions are truncated). */
  record(value: number): void {
    let v = value > 0 ? Math.floor(value) : 0;
    if (v > MAX_VALUE) v = MAX_VALUE;
    this.#counts[bucketOf(v)]!++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Smallest value recorded (exact), or 0. */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  /** Largest value recorded (exact), or 0. */
  get max(): number {
    return this.#max;
  }

  /** Mean of the values recorded, or 0. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /**
   * The `p`-th percentile (0 < p ≤ 100) by nearest rank: the middle of the bucket holding the
   * value of rank ceil(p/100 × count), kept within [min, max]; the top rank is the exact max. 0 when nothing was recorded.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    if (rank >= this.#count) return this.#max;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) {
        const mid = bucketLow(i) + (bucketWidth(i) - 1) / 2;
        return Math.min(this.#max, Math.max(this.#min, mid));
      }
    }
    return this.#max;
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#min = Infinity;
    this.#max = 0;
    this.#sum = 0;
  }
}
