import assert from "node:assert/strict";
import { Pacer } from "../../../src/traffic/pacer.ts";

/** Drives a pacer with a simulated clock; `cost` ns pass per send call. */
function simulate(rate: number, batch: number, durationNs: number, cost: number, stall?: {
  at: number;
  ns: number;
}) {
  const start = 1_000_000_000;
  const p = new Pacer(rate, batch, start);
  const total = p.totalFor(durationNs);
  let now = start;
  let sent = 0;
  let calls = 0;
  let maxBurst = 0;
  let stalled = false;
  while (sent < total && now < start + durationNs * 2) {
    const k = p.ready(now, sent, total - sent);
    if (k === 0) {
      assert.ok(p.wakeNs > now, "wakes in the future");
      now = p.wakeNs;
      continue;
    }
    assert.ok(k <= batch);
    assert.ok(sent + k <= p.dueBy(now), "never sends ahead of the schedule");
    sent += k;
    calls++;
    maxBurst = Math.max(maxBurst, k);
    now += cost;
    if (stall && !stalled && now >= start + stall.at) {
      now += stall.ns;
      stalled = true;
    }
  }
  return { sent, calls, maxBurst, total, elapsed: now - start };
}

Deno.test("Pacer sends exactly rate × duration datagrams, in chunks of a millisecond's worth", () => {
  const r = simulate(2000, 32, 1e9, 5_000);
  assert.equal(r.total, 2000);
  assert.equal(r.sent, 2000);
  assert.equal(r.maxBurst, 2);
  assert.ok(r.elapsed <= 1e9, `finished within the second (${r.elapsed} ns)`);
});

Deno.test("Pacer catches up after a stall without exceeding a batch per call", () => {
  const r = simulate(100_000, 32, 1e9, 2_000, { at: 300e6, ns: 50e6 });
  assert.equal(r.sent, 100_000);
  assert.equal(r.maxBurst, 32);
  assert.ok(r.elapsed < 1.01e9, `the long-run rate holds (${r.elapsed} ns)`);
});

Deno.test("Pacer without a rate always offers a full batch", () => {
  const p = new Pacer(0, 16, 0);
  assert.equal(p.ready(0, 0, 1000), 16);
  assert.equal(p.ready(0, 0, 5), 5);
  assert.equal(p.totalFor(1e9), Infinity);
});

Deno.test("Pacer sends one datagram at a time below 2000 per second", () => {
  const p = new Pacer(10, 32, 0);
  assert.equal(p.chunk, 1);
  assert.equal(p.ready(0, 0, 100), 1);
  assert.equal(p.ready(1, 1, 99), 0);
  assert.equal(p.wakeNs, 100_000_000);
  assert.equal(p.ready(100_000_000, 1, 99), 1);
});
