/** Reference computations for the decimation tests. */

/** y[n] = Σ h[k] x[n−k] (zero before the start), kept at n = 0, D, 2D… per channel. */
export function offlineDecimate(
  taps: Float64Array,
  factor: number,
  channels: number,
  x: Float64Array,
): Float64Array {
  const frames = x.length / channels;
  const out: number[] = [];
  for (let n = 0; n < frames; n += factor) {
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let k = 0; k < taps.length && k <= n; k++) s += taps[k]! * x[(n - k) * channels + c]!;
      out.push(s);
    }
  }
  return Float64Array.from(out);
}

/** A deterministic pseudo-random generator. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
