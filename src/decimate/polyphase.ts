/**
 * A streaming polyphase FIR decimator over interleaved channels.
 *
 * Definition: after construction or `reset()`, let x[n] (n = 0, 1, …) be one channel's input and
 * y[n] = Σ_k h[k]·x[n−k] the filter's output with x[n] = 0 for n < 0. The decimator outputs
 * z[m] = y[m·factor], m = 0, 1, …: the first output comes with the first input sample, the next
 * `factor` samples later. State carries across `process` calls, so splitting the input anywhere
 * changes nothing. Only the kept outputs are computed.
 *
 * The history is a doubled circular buffer (each sample written at `w` and `w + L`), so every
 * output is one contiguous dot product of L taps.
 */
export class PolyphaseDecimator {
  /** The decimation factor. */
  readonly factor: number;
  /** Interleaved channels per frame. */
  readonly channels: number;
  /** Number of taps. */
  readonly length: number;
  readonly #rev: Float64Array;
  readonly #hist: Float64Array;
  /** Taps mirror each other (linear phase): each output then takes half the multiplies. */
  readonly #symmetric: boolean;
  #w = 0;
  #phase = 0;

  /**
   * @param taps the filter h[0..L-1]
   * @param factor keep one output frame in `factor`
   * @param channels interleaved channels per frame
   */
  constructor(taps: Float64Array, factor: number, channels = 1) {
    if (taps.length < 1) throw new RangeError("A filter needs at least one tap");
    if (!Number.isInteger(factor) || factor < 1) {
      throw new RangeError(`Bad decimation factor "${factor}"`);
    }
    if (!Number.isInteger(channels) || channels < 1) {
      throw new RangeError(`Bad channel count "${channels}"`);
    }
    const L = taps.length;
    this.factor = factor;
    this.channels = channels;
    this.length = L;
    this.#rev = new Float64Array(L);
    for (let j = 0; j < L; j++) this.#rev[j] = taps[L - 1 - j]!;
    this.#hist = new Float64Array(2 * L * channels);
    let symmetric = true;
    for (let j = 0; j < L; j++) if (taps[j] !== taps[L - 1 - j]) symmetric = false;
    this.#symmetric = symmetric;
  }

  /** Forgets all past input: the next sample is x[0] again. */
  reset(): void {
    this.#hist.fill(0);
    this.#w = 0;
    this.#phase = 0;
  }

  /** How many output frames the next `frames` input frames will produce. */
  outputFrames(frames: number): number {
    const p = this.#phase;
    return p >= frames ? 0 : 1 + Math.floor((frames - 1 - p) / this.factor);
  }

  /**
   * Filters `frames` interleaved frames from `input[inOffset..]` and writes the kept output frames
   * (interleaved) to `out[outOffset..]`; returns how many frames it wrote (`outputFrames(frames)`).
   */
  process(
    input: Float64Array,
    inOffset: number,
    frames: number,
    out: Float64Array,
    outOffset: number,
  ): number {
    return this.channels === 1
      ? this.#mono(input, inOffset, frames, out, outOffset)
      : this.#multi(input, inOffset, frames, out, outOffset);
  }

  #mono(
    input: Float64Array,
    inOffset: number,
    frames: number,
    out: Float64Array,
    outOffset: number,
  ): number {
    const L = this.length;
    const h = this.#rev;
    const buf = this.#hist;
    const D = this.factor;
    const sym = this.#symmetric;
    let w = this.#w;
    let phase = this.#phase;
    let o = outOffset;
    let i = inOffset;
    let left = frames;
    while (left > 0) {
      // samples that are only stored: up to the next kept one
      let skip = phase < left ? phase : left;
      left -= skip;
      phase -= skip;
      while (skip > 0) {
        const v = input[i++]!;
        buf[w] = v;
        buf[w + L] = v;
        if (++w === L) w = 0;
        skip--;
      }
      if (left === 0) break;
      const v = input[i++]!;
      buf[w] = v;
      buf[w + L] = v;
      if (++w === L) w = 0;
      left--;
      out[o++] = sym ? dotSymmetric(h, buf, w, L) : dot(h, buf, w, L);
      phase = D - 1;
    }
    this.#w = w;
    this.#phase = phase;
    return o - outOffset;
  }

  #multi(
    input: Float64Array,
    inOffset: number,
    frames: number,
    out: Float64Array,
    outOffset: number,
  ): number {
    const L = this.length;
    const L2 = 2 * L;
    const C = this.channels;
    const h = this.#rev;
    const buf = this.#hist;
    const D = this.factor;
    const sym = this.#symmetric;
    let w = this.#w;
    let phase = this.#phase;
    let o = outOffset;
    let i = inOffset;
    for (let f = 0; f < frames; f++) {
      for (let c = 0, b = w; c < C; c++, b += L2) {
        const v = input[i++]!;
        buf[b] = v;
        buf[b + L] = v;
      }
      if (++w === L) w = 0;
      if (phase === 0) {
        for (let c = 0, b = w; c < C; c++, b += L2) {
          out[o++] = sym ? dotSymmetric(h, buf, b, L) : dot(h, buf, b, L);
        }
        phase = D - 1;
      } else phase--;
    }
    this.#w = w;
    this.#phase = phase;
    return (o - outOffset) / C;
  }
}

/** Σ h[j]·buf[b + j], j < L. */
function dot(h: Float64Array, buf: Float64Array, b: number, L: number): number {
  let s0 = 0;
  let s1 = 0;
  let j = 0;
  for (; j + 1 < L; j += 2) {
    s0 += h[j]! * buf[b + j]!;
    s1 += h[j + 1]! * buf[b + j + 1]!;
  }
  if (j < L) s0 += h[j]! * buf[b + j]!;
  return s0 + s1;
}

/** The same for mirrored taps (h[j] = h[L−1−j]): the two mirrored samples are added first. */
function dotSymmetric(h: Float64Array, buf: Float64Array, b: number, L: number): number {
  const half = L >> 1;
  const e = b + L - 1;
  let s0 = 0;
  let s1 = 0;
  let j = 0;
  for (; j + 1 < half; j += 2) {
    s0 += h[j]! * (buf[b + j]! + buf[e - j]!);
    s1 += h[j + 1]! * (buf[b + j + 1]! + buf[e - j - 1]!);
  }
  if (j < half) s0 += h[j]! * (buf[b + j]! + buf[e - j]!);
  if (L & 1) s0 += h[half]! * buf[b + half]!;
  return s0 + s1;
}
