import assert from "node:assert/strict";
import {
  designDecimationFilter,
  magnitudeAt,
  REQUIRED_ATTENUATION_DB,
} from "../../../src/decimate/fir.ts";
import { PolyphaseDecimator } from "../../../src/decimate/polyphase.ts";

/** Amplitude of the best-fitting sinusoid at `f` cycles/sample in `y` (least squares). */
function fitAmplitude(y: Float64Array, f: number): number {
  let cc = 0, ss = 0, cs = 0, yc = 0, ys = 0;
  for (let n = 0; n < y.length; n++) {
    const c = Math.cos(2 * Math.PI * f * n);
    const s = Math.sin(2 * Math.PI * f * n);
    cc += c * c;
    ss += s * s;
    cs += c * s;
    yc += y[n]! * c;
    ys += y[n]! * s;
  }
  const det = cc * ss - cs * cs;
  const a = (yc * ss - ys * cs) / det;
  const b = (ys * cc - yc * cs) / det;
  return Math.hypot(a, b);
}

function rms(y: Float64Array): number {
  let s = 0;
  for (const v of y) s += v * v;
  return Math.sqrt(s / y.length);
}

/** Decimates a sine of amplitude `amp` at `f` cycles/sample; returns the steady-state output. */
function decimateSine(taps: Float64Array, factor: number, f: number, amp: number): Float64Array {
  const n = 200 * factor + 4 * taps.length;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin(2 * Math.PI * f * i + 0.3);
  const dec = new PolyphaseDecimator(taps, factor);
  const out = new Float64Array(dec.outputFrames(n));
  dec.process(x, 0, n, out, 0);
  return out.subarray(Math.ceil(taps.length / factor) + 1); // past the start-up transient
}

Deno.test("decimation filter is linear phase: odd length, symmetric taps, DC gain 1", () => {
  for (const [factor, cutoff] of [[2, 0.8], [10, 0.8], [10, 0.5], [7, 1], [64, 0.9]] as const) {
    const { taps } = designDecimationFilter(factor, cutoff);
    assert.equal(taps.length % 2, 1);
    for (let i = 0; i < taps.length; i++) {
      assert.equal(taps[i], taps[taps.length - 1 - i], `factor ${factor}: tap ${i} not mirrored`);
    }
    const sum = taps.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12, `DC gain ${sum}`);
  }
});

Deno.test("decimation filter is at least 60 dB down over the whole stop band and flat to 0.01 in the pass band", () => {
  for (
    const [factor, cutoff] of [[2, 0.8], [3, 0.9], [10, 0.8], [10, 0.5], [10, 1], [16, 0.3], [
      100,
      0.8,
    ]] as const
  ) {
    const d = designDecimationFilter(factor, cutoff);
    assert.ok(d.stopEdge <= 0.5 / factor, "the stop band starts at or below the new Nyquist");
    let worst = 0;
    for (let i = 0; i <= 2000; i++) {
      worst = Math.max(worst, magnitudeAt(d.taps, d.stopEdge + (0.5 - d.stopEdge) * i / 2000));
    }
    const db = 20 * Math.log10(worst);
    assert.ok(db <= -REQUIRED_ATTENUATION_DB, `factor ${factor} cutoff ${cutoff}: ${db} dB`);
    for (let i = 0; i <= 200; i++) {
      const g = magnitudeAt(d.taps, d.passEdge * i / 200);
      assert.ok(Math.abs(g - 1) <= 0.01, `factor ${factor} cutoff ${cutoff}: pass gain ${g}`);
    }
  }
});

Deno.test("decimating by 10, a sine in the pass band comes out with gain 1 ± 0.01", () => {
  const factor = 10;
  const { taps, passEdge } = designDecimationFilter(factor, 0.8);
  for (const frac of [0.05, 0.3, 0.6, 0.95]) {
    const f = frac * passEdge;
    const y = decimateSine(taps, factor, f, 10_000);
    const gain = fitAmplitude(y, f * factor) / 10_000;
    assert.ok(Math.abs(gain - 1) <= 0.01, `at ${f} cycles/sample: gain ${gain}`);
  }
});

Deno.test("a sine above the new Nyquist comes out at least 60 dB down", () => {
  const factor = 10;
  const { taps } = designDecimationFilter(factor, 0.8);
  const nyq = 0.5 / factor;
  for (const f of [nyq, 1.05 * nyq, 1.5 * nyq, 3.3 * nyq, 0.49]) {
    const y = decimateSine(taps, factor, f, 10_000);
    const db = 20 * Math.log10(rms(y) / (10_000 / Math.SQRT2));
    assert.ok(db <= -60, `at ${f} cycles/sample: ${db.toFixed(1)} dB`);
  }
});
