import assert from "node:assert/strict";
import { LatencyHistogram } from "../../../src/traffic/latency_histogram.ts";

function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** A deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("LatencyHistogram percentiles are within 0.8 % of the exact ones over six decades", () => {
  const h = new LatencyHistogram();
  const r = rng(42);
  const values: number[] = [];
  for (let i = 0; i < 200_000; i++) {
    const v = Math.floor(Math.exp(r() * Math.log(1e9))); // log-uniform 1 ns .. 1 s
    values.push(v);
    h.record(v);
  }
  values.sort((a, b) => a - b);
  for (const p of [1, 10, 50, 90, 99, 99.9, 99.99]) {
    const exact = exactPercentile(values, p);
    const got = h.percentile(p);
    const err = Math.abs(got - exact) / Math.max(1, exact);
    assert.ok(
      err <= 1 / 128,
      `p${p}: got ${got}, exact ${exact}, error ${(err * 100).toFixed(3)} %`,
    );
  }
  assert.equal(h.max, values[values.length - 1]);
  assert.equal(h.min, values[0]);
  assert.equal(h.count, 200_000);
});

Deno.test("LatencyHistogram is exact below 256 and for a single value", () => {
  const h = new LatencyHistogram();
  for (let v = 0; v < 200; v++) h.record(v);
  assert.equal(h.percentile(50), 99);
  assert.equal(h.percentile(100), 199);
  const one = new LatencyHistogram();
  one.record(123_456_789);
  assert.equal(one.percentile(50), 123_456_789);
  assert.equal(one.percentile(99), 123_456_789);
  assert.equal(one.max, 123_456_789);
});

Deno.test("LatencyHistogram p99 of a bimodal distribution lands in the upper mode", () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 980; i++) h.record(20_000);
  for (let i = 0; i < 20; i++) h.record(5_000_000);
  assert.ok(Math.abs(h.percentile(50) - 20_000) <= 20_000 / 128);
  assert.ok(Math.abs(h.percentile(99) - 5_000_000) <= 5_000_000 / 128);
  assert.ok(Math.abs(h.mean - (980 * 20_000 + 20 * 5_000_000) / 1000) < 1e-6);
});

Deno.test("LatencyHistogram clamps negative values to 0 and keeps values up to 2^53", () => {
  const h = new LatencyHistogram();
  h.record(-5);
  h.record(2 ** 53 - 1);
  h.record(2 ** 60);
  assert.equal(h.min, 0);
  assert.equal(h.max, 2 ** 53 - 1);
  assert.equal(h.percentile(100), 2 ** 53 - 1);
  assert.equal(h.percentile(10), 0);
  h.reset();
  assert.equal(h.count, 0);
  assert.equal(h.percentile(50), 0);
});
