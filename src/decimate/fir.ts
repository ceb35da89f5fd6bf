/**
 * Linear-phase low-pass FIR design for decimation: a windowed sinc with a Kaiser window, its
 * length and shape parameter taken from Kaiser's formulas.
 *
 * Frequencies here are in cycles per input sample (the input Nyquist is 0.5). Decimating by
 * `factor` moves the Nyquist to `0.5 / factor`; the filter passes up to `cutoff` of that and stops
 * from the new Nyquist on, so nothing above it aliases into the output by more than the stop-band
 * level.
 */

/** Stop-band attenuation every decimation filter must reach, in dB. */
export const REQUIRED_ATTENUATION_DB = 60;

/**
 * Attenuation the Kaiser formulas are asked for, in dB: their length estimate is approximate
 * (designed at exactly 60 dB, some factor/cutoff pairs reach only 59.3 dB), so 2 dB of margin.
 */
export const DESIGN_ATTENUATION_DB = 62;

/**
 * The largest fraction of the new Nyquist used as the pass-band edge: a cutoff of 1 would leave no
 * transition band (an infinitely long filter), so `cutoff` above this is designed as this.
 */
export const MAX_EFFECTIVE_CUTOFF = 0.95;

/** A designed decimation filter. */
export interface FirDesign {
  /** The taps, symmetric (linear phase), summing to 1 (DC gain 1). Odd length. */
  readonly taps: Float64Array;
  /** The decimation factor it was designed for. */
  readonly factor: number;
  /** Pass-band edge, cycles per input sample. */
  readonly passEdge: number;
  /** Stop-band edge (the new Nyquist), cycles per input sample. */
  readonly stopEdge: number;
  /** Design stop-band attenuation, dB. */
  readonly attenuationDb: number;
  /** Kaiser window shape parameter. */
  readonly beta: number;
}

/** Zeroth-order modified Bessel function of the first kind, by its power series. */
export function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Kaiser's β for a stop-band attenuation of `a` dB. */
export function kaiserBeta(a: number): number {
  if (a > 50) return 0.1102 * (a - 8.7);
  if (a >= 21) return 0.5842 * Math.pow(a - 21, 0.4) + 0.07886 * (a - 21);
  return 0;
}

/**
 * Kaiser's estimate of the filter length (number of taps, made odd) for attenuation `a` dB and a
 * transition band `width` cycles per sample wide.
 */
export function kaiserLength(a: number, width: number): number {
  const order = Math.ceil((a - 7.95) / (2.285 * 2 * Math.PI * width));
  const even = order % 2 === 0 ? order : order + 1;
  return Math.max(1, even + 1);
}

/**
 * A Kaiser-windowed-sinc low-pass with its transition band from `passEdge` to `stopEdge`
 * (cycles per sample, 0 < passEdge < stopEdge ≤ 0.5), normalised to a DC gain of 1.
 */
export function kaiserLowpass(
  passEdge: number,
  stopEdge: number,
  attenuationDb: number = DESIGN_ATTENUATION_DB,
): Float64Array {
  if (!(passEdge > 0 && passEdge < stopEdge && stopEdge <= 0.5)) {
    throw new RangeError(`Bad band edges: pass "${passEdge}", stop "${stopEdge}"`);
  }
  const length = kaiserLength(attenuationDb, stopEdge - passEdge);
  const beta = kaiserBeta(attenuationDb);
  const fc = (passEdge + stopEdge) / 2;
  const m = (length - 1) / 2;
  const taps = new Float64Array(length);
  const i0b = besselI0(beta);
  let sum = 0;
  for (let n = 0; n <= m; n++) {
    const t = n - m; // ≤ 0; the other half mirrors it exactly
    const ideal = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = t / m;
    const w = m === 0 ? 1 : besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b;
    const v = ideal * w;
    taps[n] = v;
    taps[length - 1 - n] = v;
    sum += n === m ? v : 2 * v;
  }
  for (let n = 0; n < length; n++) taps[n] = taps[n]! / sum;
  return taps;
}

/**
 * Designs the anti-alias filter for decimating by `factor` with the pass band up to `cutoff` of the
 * new Nyquist (clamped to `MAX_EFFECTIVE_CUTOFF`) and the stop band from the new Nyquist on.
 * `factor` 1 needs no filter: the design is the single tap [1].
 */
export function designDecimationFilter(
  factor: number,
  cutoff = 0.8,
  attenuationDb: number = DESIGN_ATTENUATION_DB,
): FirDesign {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`Bad decimation factor "${factor}": expected an integer of at least 1`);
  }
  if (!(cutoff > 0 && cutoff <= 1)) {
    throw new RangeError(`Bad cutoff "${cutoff}": expected a number in (0, 1]`);
  }
  const beta = kaiserBeta(attenuationDb);
  const stopEdge = 0.5 / factor;
  const passEdge = Math.min(cutoff, MAX_EFFECTIVE_CUTOFF) * stopEdge;
  if (factor === 1) {
    return { taps: Float64Array.of(1), factor, passEdge: 0.5, stopEdge: 0.5, attenuationDb, beta };
  }
  const taps = kaiserLowpass(passEdge, stopEdge, attenuationDb);
  return { taps, factor, passEdge, stopEdge, attenuationDb, beta };
}

/** |H(f)| of `taps` at `f` cycles per sample. */
export function magnitudeAt(taps: Float64Array, f: number): number {
  let re = 0;
  let im = 0;
  const w = 2 * Math.PI * f;
  for (let n = 0; n < taps.length; n++) {
    re += taps[n]! * Math.cos(w * n);
    im -= taps[n]! * Math.sin(w * n);
  }
  return Math.hypot(re, im);
}
