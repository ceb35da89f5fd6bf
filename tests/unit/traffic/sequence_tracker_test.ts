import assert from "node:assert/strict";
import { SEQ, SequenceTracker } from "../../../src/traffic/sequence_tracker.ts";

Deno.test("SequenceTracker counts an in-order run with no loss", () => {
  const t = new SequenceTracker(1024);
  for (let s = 0; s < 5000; s++) assert.equal(t.record(s), SEQ.IN_ORDER);
  assert.deepEqual(t.stats(), {
    received: 5000,
    unique: 5000,
    duplicates: 0,
    reordered: 0,
    late: 0,
    lost: 0,
    lowest: 0,
    highest: 4999,
  });
  assert.equal(t.stats(5000).lost, 0);
});

Deno.test("SequenceTracker counts gaps as lost and adds the missing tail when a count is expected", () => {
  const t = new SequenceTracker(64);
  for (const s of [0, 1, 2, 5, 6, 10]) t.record(s);
  const s = t.stats();
  assert.equal(s.unique, 6);
  assert.equal(s.lost, 5); // 3 4 7 8 9
  assert.equal(s.reordered, 0);
  assert.equal(t.stats(15).lost, 9); // and 11 12 13 14
  assert.equal(t.stats(3).lost, 5, "an expected count below the span changes nothing");
});

Deno.test("SequenceTracker measures loss from the first sequence number seen, not from 0", () => {
  const t = new SequenceTracker(64);
  for (let s = 1000; s < 1100; s++) if (s !== 1050) t.record(s);
  assert.equal(t.stats().lost, 1);
  assert.equal(t.stats(100).lost, 1);
  assert.equal(t.stats().lowest, 1000);
});

Deno.test("SequenceTracker tells duplicates from reordered datagrams", () => {
  const t = new SequenceTracker(64);
  assert.equal(t.record(0), SEQ.IN_ORDER);
  assert.equal(t.record(2), SEQ.IN_ORDER);
  assert.equal(t.record(1), SEQ.REORDERED);
  assert.equal(t.record(1), SEQ.DUPLICATE);
  assert.equal(t.record(2), SEQ.DUPLICATE);
  assert.equal(t.record(3), SEQ.IN_ORDER);
  assert.equal(t.record(3), SEQ.DUPLICATE);
  const s = t.stats();
  assert.equal(s.received, 7);
  assert.equal(s.unique, 4);
  assert.equal(s.duplicates, 3);
  assert.equal(s.reordered, 1);
  assert.equal(s.lost, 0);
});

Deno.test("SequenceTracker accepts a datagram older than the first one seen within the window", () => {
  const t = new SequenceTracker(64);
  t.record(10);
  t.record(11);
  assert.equal(t.record(8), SEQ.REORDERED);
  assert.equal(t.record(8), SEQ.DUPLICATE);
  const s = t.stats();
  assert.equal(s.lowest, 8);
  assert.equal(s.lost, 1); // 9
});

Deno.test("SequenceTracker keeps exact counts while its window wraps many times", () => {
  const w = 256;
  const t = new SequenceTracker(w);
  // 100 000 sequence numbers: every 7th missing, every 13th duplicated right away, pairs swapped
  // every 50 (a reorder of distance 1), and a duplicate of seq - (w - 1) at every 97th (still in
  // the window, so it must be seen as a duplicate)
  let lost = 0, dup = 0, reord = 0;
  const seen = new Set<number>();
  const send = (s: number) => {
    if (s % 7 === 3) return;
    t.record(s);
    seen.add(s);
    if (s % 13 === 0) {
      t.record(s);
      dup++;
    }
  };
  for (let s = 0; s < 100_000; s++) {
    if (s % 50 === 10) {
      send(s + 1);
      if ((s + 1) % 7 !== 3 && s % 7 !== 3) reord++;
      send(s);
      s++;
    } else send(s);
    if (s % 97 === 0 && s >= w && seen.has(s - (w - 1))) {
      assert.equal(t.record(s - (w - 1)), SEQ.DUPLICATE, `old duplicate ${s - (w - 1)}`);
      dup++;
    }
  }
  for (let s = 0; s < 100_000; s++) if (!seen.has(s)) lost++;
  const st = t.stats(100_000);
  assert.equal(st.unique, seen.size);
  assert.equal(st.duplicates, dup);
  assert.equal(st.reordered, reord);
  assert.equal(st.lost, lost);
  assert.equal(st.late, 0);
});

Deno.test("SequenceTracker clears the window on a jump larger than the window", () => {
  const t = new SequenceTracker(64);
  for (let s = 0; s < 64; s++) t.record(s);
  assert.equal(t.record(1000), SEQ.IN_ORDER);
  // 1000 - 63 .. 999 are in the window again and must read as new, not as duplicates of 0..63
  assert.equal(t.record(1000 - 63 + 5), SEQ.REORDERED);
  assert.equal(t.record(960), SEQ.REORDERED);
  const s = t.stats();
  assert.equal(s.duplicates, 0);
  assert.equal(s.lost, 1001 - 67); // 0..63, 942, 960 and 1000 seen
});

Deno.test("SequenceTracker counts a datagram older than the window as late and new", () => {
  const t = new SequenceTracker(32);
  for (let s = 0; s < 100; s++) if (s !== 5) t.record(s);
  assert.equal(t.record(5), SEQ.LATE);
  const s = t.stats();
  assert.equal(s.late, 1);
  assert.equal(s.reordered, 1);
  assert.equal(s.lost, 0);
});

Deno.test("SequenceTracker handles sequence numbers beyond 2^32", () => {
  const t = new SequenceTracker(64);
  const base = 2 ** 40;
  for (let s = base; s < base + 100; s += 2) t.record(s);
  t.record(base + 50);
  const st = t.stats();
  assert.equal(st.lowest, base);
  assert.equal(st.highest, base + 98);
  assert.equal(st.lost, 49);
  assert.equal(st.duplicates, 1);
});

Deno.test("SequenceTracker rejects a window that is not a power of two", () => {
  assert.throws(() => new SequenceTracker(100), RangeError);
  assert.throws(() => new SequenceTracker(16), RangeError);
});

Deno.test("SequenceTracker follows 12 million sequence numbers with its default window", () => {
  const t = new SequenceTracker();
  const n = 12_000_000;
  for (let s = 0; s < n; s++) {
    if (s % 1_000_000 === 17) continue;
    t.record(s);
    if (s % 3_000_000 === 5) t.record(s); // a duplicate
  }
  t.record(n - t.window + 1); // the oldest number still in the window: a duplicate
  const st = t.stats();
  assert.equal(st.unique, n - 12);
  assert.equal(st.lost, 12);
  assert.equal(st.duplicates, 5);
  assert.equal(st.highest, n - 1);
});
