import assert from "node:assert/strict";
import {
  Bell,
  createRing,
  maxPayload,
  readRingStats,
  RingConsumer,
  RingProducer,
} from "../../../src/decimate/ring.ts";
import { fillRecord } from "./ring_producer_worker.ts";

function checkRecord(c: RingConsumer, k: number, span = 700): void {
  const len = 1 + (k * 37) % span;
  if (c.length !== len) assert.fail(`record ${k}: length ${c.length}, expected ${len}`);
  for (let j = len >= 4 ? 4 : 0; j < len; j++) {
    if (c.bytes[c.offset + j] !== ((k + j * 13) & 255)) {
      assert.fail(`record ${k}: byte ${j} differs`);
    }
  }
  if (len >= 4 && c.view.getUint32(c.offset, true) !== k) assert.fail(`record ${k}: bad id`);
}

Deno.test("ring keeps records byte-exact and in order across thousands of wrap-arounds", () => {
  const ring = createRing(4096);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  const buf = new Uint8Array(1024);
  let next = 0;
  let k = 0;
  // publish bursts of 1..5 records, consume them all: positions wrap every few records
  for (let round = 0; round < 20_000; round++) {
    const burst = 1 + (round % 5);
    for (let b = 0; b < burst; b++, k++) {
      const len = fillRecord(buf, 0, k);
      assert.ok(p.publish(buf, 0, len), `record ${k} did not fit`);
    }
    while (c.peek() >= 0) {
      assert.equal(c.index, next);
      checkRecord(c, next);
      c.advance();
      next++;
    }
  }
  assert.equal(next, k);
  const s = readRingStats(ring);
  assert.equal(s.published, k);
  assert.equal(s.consumed, k);
  assert.equal(s.overruns, 0);
});

Deno.test("a full ring refuses a datagram, counts the overrun, and the stream index skips it", () => {
  const ring = createRing(4096);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  const buf = new Uint8Array(1000);
  let published = 0;
  while (p.publish(buf, 0, 1000)) published++;
  assert.equal(published, 4); // 4 records of 1008 bytes in 4096
  assert.equal(p.publish(buf, 0, 1000), false);
  let s = readRingStats(ring);
  assert.equal(s.overruns, 2);
  assert.equal(s.published, 4);
  // space comes back after the consumer frees one record
  assert.equal(c.peek(), 1000);
  assert.equal(c.index, 0);
  c.advance();
  buf[0] = 99;
  assert.ok(p.publish(buf, 0, 1000));
  for (const want of [1, 2, 3]) {
    assert.equal(c.peek(), 1000);
    assert.equal(c.index, want);
    c.advance();
  }
  assert.equal(c.peek(), 1000);
  assert.equal(c.index, 6, "the two refused datagrams (4 and 5) keep their stream positions");
  assert.equal(c.bytes[c.offset], 99);
  c.advance();
  assert.equal(c.peek(), -1);
  s = readRingStats(ring);
  assert.equal(s.published, 5);
  assert.equal(s.consumed, 5);
});

Deno.test("a datagram larger than half the ring is refused as an overrun", () => {
  const ring = createRing(4096);
  const p = new RingProducer(ring);
  assert.equal(p.maxPayload, maxPayload(4096));
  const buf = new Uint8Array(4096);
  assert.equal(p.publish(buf, 0, p.maxPayload + 1), false);
  assert.ok(p.publish(buf, 0, p.maxPayload));
  assert.equal(readRingStats(ring).overruns, 1);
});

Deno.test("ring copies every alignment of the source exactly, NaN bit patterns included", () => {
  const ring = createRing(1 << 16);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  const src = new Uint8Array(2048 + 16);
  const v = new DataView(src.buffer);
  for (let i = 0; i + 8 <= src.length; i += 8) {
    // signalling and quiet NaNs with payloads, both signs
    v.setUint32(i, (0x7ff00001 + i * 7919) >>> 0, true);
    v.setUint32(i + 4, i & 8 ? 0xfff00001 : 0x7ff80003, true);
  }
  for (const offset of [0, 1, 2, 3, 4, 5, 8, 12]) {
    for (const len of [0, 1, 7, 8, 9, 63, 1400, 2048]) {
      assert.ok(p.publish(src, offset, len));
      assert.equal(c.peek(), len);
      assert.deepEqual(
        c.bytes.slice(c.offset, c.offset + len),
        src.slice(offset, offset + len),
        `offset ${offset}, length ${len}`,
      );
      c.advance();
    }
  }
  // a view that does not start at its buffer's beginning
  const sub = src.subarray(3, 1003);
  assert.ok(p.publish(sub, 5, 900));
  assert.equal(c.peek(), 900);
  assert.deepEqual(c.bytes.slice(c.offset, c.offset + 900), sub.slice(5, 905));
});

Deno.test("a new producer on a ring resumes after the old one's last record and stream index", () => {
  const ring = createRing(4096);
  const buf = new Uint8Array(100);
  const p1 = new RingProducer(ring);
  assert.ok(p1.publish(buf, 0, 10));
  while (p1.publish(buf, 0, 100));
  const c = new RingConsumer(ring);
  let last = -1;
  while (c.peek() >= 0) {
    last = c.index;
    c.advance();
  }
  const p2 = new RingProducer(ring);
  assert.ok(p2.publish(buf, 0, 3));
  assert.equal(c.peek(), 3);
  assert.equal(c.index, last + 2, "after the last record and the one overrun");
});

Deno.test("ring moves 1 000 000 records between two threads, each intact, with the bell waking the consumer", async () => {
  const ring = createRing(1 << 18);
  const consumer = new RingConsumer(ring);
  const bell = new Bell(ring.bell);
  const worker = new Worker(new URL("./ring_producer_worker.ts", import.meta.url), {
    type: "module",
  });
  const count = 1_000_000;
  const done = new Promise<{ full: number }>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  const started = Date.now();
  worker.postMessage({ ring, count, offset: 3, span: 120 });
  let received = 0;
  let lastIndex = -1;
  let sleeps = 0;
  try {
    const deadline = Date.now() + 20_000;
    while (lastIndex < count - 1) {
      assert.ok(Date.now() < deadline, `timed out at record ${lastIndex}`);
      if (consumer.peek() < 0) {
        bell.arm();
        if (!consumer.hasData()) {
          sleeps++;
          await bell.sleep(1000);
        } else bell.disarm();
        const s = readRingStats(ring);
        if (s.published + s.overruns === count && !consumer.hasData()) break;
        continue;
      }
      if (consumer.index <= lastIndex) assert.fail("records out of order");
      checkRecord(consumer, consumer.index, 120);
      lastIndex = consumer.index;
      consumer.advance();
      received++;
    }
    const { full } = await done;
    const s = readRingStats(ring);
    assert.equal(s.published, received);
    assert.equal(s.overruns, full);
    assert.equal(received + full, count);
    assert.ok(received > count / 2, `only ${received} records arrived`);
    console.log(
      `received ${received}, overruns ${full}, consumer slept ${sleeps} times, ${
        Date.now() - started
      } ms`,
    );
  } finally {
    worker.terminate();
  }
});

Deno.test("with keep-every 3 the producer publishes stream positions 0, 3, 6… and passes over the rest, across producer restarts", () => {
  const ring = createRing(4096, undefined, 3);
  const c = new RingConsumer(ring);
  const buf = new Uint8Array(16);
  const p1 = new RingProducer(ring);
  for (let i = 0; i < 10; i++) assert.ok(p1.publish(buf, 0, 16));
  const p2 = new RingProducer(ring); // a restarted channel Worker resumes the pattern
  for (let i = 10; i < 20; i++) assert.ok(p2.publish(buf, 0, 16));
  const seen: number[] = [];
  while (c.peek() >= 0) {
    seen.push(c.index);
    c.advance();
  }
  assert.deepEqual(seen, [0, 3, 6, 9, 12, 15, 18]);
  const s = readRingStats(ring);
  assert.equal(s.published, 7);
  assert.equal(s.skipped, 13);
});
