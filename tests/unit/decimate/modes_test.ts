import assert from "node:assert/strict";
import { designDecimationFilter } from "../../../src/decimate/fir.ts";
import { ChannelDecimator, createMode, SAMPLES_FLUSH_MS } from "../../../src/decimate/modes.ts";
import { resolveDecimateOptions } from "../../../src/decimate/options.ts";
import { OutputQueue, type OutputSlots } from "../../../src/decimate/output_queue.ts";
import {
  createRing,
  readRingStats,
  RingConsumer,
  type RingHandle,
  RingProducer,
  type RingStats,
} from "../../../src/decimate/ring.ts";
import { offlineDecimate, rng } from "./reference.ts";

/** Output slots whose sends are collected as byte copies (the Worker sends them instead). */
class Collector implements OutputSlots {
  readonly data: Uint8Array;
  readonly capacity: number;
  readonly slotSize: number;
  readonly lengths: Int32Array;
  readonly sent: Uint8Array[] = [];

  constructor(capacity: number, slotSize: number) {
    this.capacity = capacity;
    this.slotSize = slotSize;
    this.data = new Uint8Array(capacity * slotSize);
    this.lengths = new Int32Array(capacity);
  }
  offset(i: number): number {
    return i * this.slotSize;
  }
  setLength(i: number, length: number): void {
    this.lengths[i] = length;
  }
  send = (_slots: OutputSlots, count: number): void => {
    for (let i = 0; i < count; i++) {
      this.sent.push(this.data.slice(this.offset(i), this.offset(i) + this.lengths[i]!));
    }
  };
}

interface Rig {
  ring: RingHandle;
  producer: RingProducer;
  decimator: ChannelDecimator;
  out: Collector;
  stats(): RingStats;
}

function rig(options: unknown, ringBytes = 1 << 20, slots = 8): Rig {
  const resolved = resolveDecimateOptions(options);
  const ring = createRing(ringBytes);
  const consumer = new RingConsumer(ring);
  const slotSize = resolved.samples ? (resolved.samples.maxDatagram + 7) & ~7 : 65512;
  const out = new Collector(slots, slotSize);
  const queue = new OutputQueue(out, out.send);
  const mode = createMode(resolved, queue, consumer.stats);
  return {
    ring,
    producer: new RingProducer(ring),
    decimator: new ChannelDecimator(consumer, mode, queue),
    out,
    stats: () => readRingStats(ring),
  };
}

function idDatagram(id: number, size = 64): Uint8Array {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, id, true);
  for (let i = 4; i < size; i++) b[i] = (id * 3 + i) & 255;
  return b;
}

const ids = (sent: Uint8Array[]) =>
  sent.map((d) => new DataView(d.buffer, d.byteOffset).getUint32(0, true));

Deno.test("packet mode sends exactly datagrams 0, N, 2N… byte for byte", () => {
  const r = rig({ to: "127.0.0.1:9", mode: "packet", factor: 7 });
  for (let id = 0; id < 1000; id++) {
    const d = idDatagram(id, 1 + (id % 300) + 4);
    assert.ok(r.producer.publish(d, 0, d.length));
    if (id % 37 === 0) r.decimator.drain(64, 0);
  }
  while (r.decimator.drain(64, 0) > 0);
  const expect = Array.from({ length: 143 }, (_, i) => i * 7);
  assert.deepEqual(ids(r.out.sent), expect);
  for (const d of r.out.sent) {
    const id = new DataView(d.buffer).getUint32(0, true);
    assert.deepEqual(d, idDatagram(id, 1 + (id % 300) + 4));
  }
  assert.equal(r.stats().consumed, 1000);
});

Deno.test("packet mode counts datagrams lost to overruns in the stream, so the kept ids stay multiples of N", () => {
  const r = rig({ to: "127.0.0.1:9", mode: "packet", factor: 2 }, 4096);
  let accepted = 0;
  for (let id = 0; id < 10; id++) if (r.producer.publish(idDatagram(id, 1000), 0, 1000)) accepted++;
  assert.equal(accepted, 4); // ids 0..3; 4..9 overrun
  r.decimator.drain(100, 0);
  for (let id = 10; id < 20; id++) r.producer.publish(idDatagram(id, 1000), 0, 1000);
  r.decimator.drain(100, 0);
  assert.deepEqual(ids(r.out.sent), [0, 2, 10, 12]);
  assert.equal(r.stats().overruns, 12);
});

Deno.test("rate mode keeps at most max_rate datagrams/s, evenly spaced by arrival time", () => {
  const r = rig({ to: "127.0.0.1:9", mode: "rate", max_rate: 50 });
  // one datagram per ms for 100 ms, a pause, then one per ms again from 500 ms to 599 ms
  const times: number[] = [];
  for (let t = 0; t < 100; t++) times.push(t);
  for (let t = 500; t < 600; t++) times.push(t);
  times.forEach((t, id) => {
    r.producer.publish(idDatagram(id), 0, 64);
    r.decimator.drain(1, t);
  });
  // the grid is 20 ms; after the pause it re-anchors at the first arrival (id 100, t = 500)
  assert.deepEqual(ids(r.out.sent), [0, 20, 40, 60, 80, 100, 120, 140, 160, 180]);
});

Deno.test("rate mode keeps a jittered stream at the rate on average without bursts", () => {
  const r = rig({ to: "127.0.0.1:9", mode: "rate", max_rate: 100 });
  const rand = rng(3);
  let t = 0;
  const keptAt: number[] = [];
  for (let id = 0; id < 20_000; id++) {
    t += rand() * 0.2; // ~10 000 datagrams/s with jitter
    r.producer.publish(idDatagram(id), 0, 64);
    const before = r.out.sent.length;
    r.decimator.drain(1, t);
    if (r.out.sent.length > before) keptAt.push(t);
  }
  const expected = t / 10;
  assert.ok(Math.abs(keptAt.length - expected) <= 2, `${keptAt.length} kept in ${t} ms`);
  for (let i = 2; i < keptAt.length; i++) {
    assert.ok(keptAt[i]! - keptAt[i - 2]! >= 10, "never more than 2 datagrams within one interval");
  }
});

const H = 16;
const SPD = 100; // samples per input datagram

function samplesRig(extra: Record<string, unknown> = {}) {
  return rig({
    to: "127.0.0.1:9",
    mode: "samples",
    factor: 10,
    samples: {
      format: "i16le",
      header_bytes: H,
      seq: { offset: 0, type: "u64le" },
      max_datagram: 1472,
      ...extra,
    },
  });
}

/** Input datagram k: header = u64 seq, then 8 marker bytes; then SPD i16 samples from `x`. */
function samplesDatagram(k: number, seq: number, x: Int16Array): Uint8Array {
  const b = new Uint8Array(H + SPD * 2);
  const v = new DataView(b.buffer);
  v.setUint32(0, seq, true);
  for (let i = 8; i < H; i++) b[i] = (k * 11 + i) & 255;
  for (let i = 0; i < SPD; i++) v.setInt16(H + 2 * i, x[k * SPD + i]!, true);
  return b;
}

function testSignal(n: number, seed: number): Int16Array {
  const rand = rng(seed);
  const x = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = Math.round(
      12000 * Math.sin(i * 0.013) + 9000 * Math.sin(i * 0.21) + (rand() - 0.5) * 8000,
    );
  }
  return x;
}

function decodeOut(sent: Uint8Array[]): number[] {
  const out: number[] = [];
  for (const d of sent) {
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    for (let p = H; p < d.length; p += 2) out.push(v.getInt16(p, true));
  }
  return out;
}

function assertWithinOne(got: number[], want: Float64Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: sample count`);
  for (let i = 0; i < got.length; i++) {
    const w = Math.max(-32768, Math.min(32767, want[i]!));
    if (Math.abs(got[i]! - w) > 0.5000001) assert.fail(`${what}: sample ${i}: ${got[i]} vs ${w}`);
  }
}

Deno.test("samples mode output over 1000 datagrams equals the offline filter, packed into max_datagram with the starting input's header", () => {
  const r = samplesRig();
  const x = testSignal(1000 * SPD, 1);
  for (let k = 0; k < 1000; k++) {
    const d = samplesDatagram(k, 5000 + k, x);
    assert.ok(r.producer.publish(d, 0, d.length));
    if (k % 50 === 49) r.decimator.drain(1000, 0);
  }
  r.decimator.drain(1000, 0);
  r.decimator.finish();
  const { taps } = designDecimationFilter(10, 0.8);
  const want = offlineDecimate(taps, 10, 1, Float64Array.from(x));
  assertWithinOne(decodeOut(r.out.sent), want, "output");
  const perOut = (1472 - H) / 2;
  r.out.sent.forEach((d, j) => {
    assert.ok(d.length <= 1472);
    if (j < r.out.sent.length - 1) assert.equal(d.length, 1472);
    // its first output frame is input sample 10 * perOut * j, in input datagram ⌊that / SPD⌋
    const k = Math.floor((10 * perOut * j) / SPD);
    assert.deepEqual(
      d.subarray(0, H),
      samplesDatagram(k, 5000 + k, x).subarray(0, H),
      `header of output ${j}`,
    );
  });
  const s = r.stats();
  assert.equal(s.samplesOut, want.length);
  assert.equal(s.resets, 0);
  assert.equal(s.gaps, 0);
});

Deno.test("samples mode resets the filter at a sequence gap and counts it", () => {
  const r = samplesRig();
  const x = testSignal(400 * SPD, 2);
  for (let k = 0; k < 400; k++) {
    const seq = k < 250 ? k : k + 3; // three datagrams missing before 250
    const d = samplesDatagram(k, seq, x);
    r.producer.publish(d, 0, d.length);
  }
  while (r.decimator.drain(64, 0) > 0);
  r.decimator.finish();
  const s = r.stats();
  assert.equal(s.gaps, 1);
  assert.equal(s.resets, 1);
  const { taps } = designDecimationFilter(10, 0.8);
  const first = offlineDecimate(taps, 10, 1, Float64Array.from(x.subarray(0, 250 * SPD)));
  const second = offlineDecimate(taps, 10, 1, Float64Array.from(x.subarray(250 * SPD)));
  const got = decodeOut(r.out.sent);
  assertWithinOne(got.slice(0, first.length), first, "before the gap");
  assertWithinOne(got.slice(first.length), second, "after the gap (fresh state)");
  // the output datagram after the gap starts with datagram 250's header
  const firstAfter = r.out.sent.findIndex((_, j) =>
    decodeOut(r.out.sent.slice(0, j)).length === first.length
  );
  assert.deepEqual(
    r.out.sent[firstAfter]!.subarray(0, H),
    samplesDatagram(250, 253, x).subarray(0, H),
  );
});

Deno.test("samples mode skips and counts a datagram that is not a whole number of frames", () => {
  const r = samplesRig({ channels: 2 });
  const good = new Uint8Array(H + 4 * 20);
  const bad = new Uint8Array(H + 4 * 20 + 2);
  const short = new Uint8Array(H - 1);
  r.producer.publish(good, 0, good.length);
  r.producer.publish(bad, 0, bad.length);
  r.producer.publish(short, 0, short.length);
  r.producer.publish(good, 0, good.length);
  r.decimator.drain(10, 0);
  r.decimator.finish();
  const s = r.stats();
  assert.equal(s.bad, 2);
  assert.equal(s.consumed, 4);
  assert.equal(s.samplesOut, 4); // 2 output frames from each good datagram
});

Deno.test("samples mode sends a partly filled datagram once it has waited SAMPLES_FLUSH_MS", () => {
  const r = samplesRig();
  const x = testSignal(SPD, 4);
  r.producer.publish(samplesDatagram(0, 0, x), 0, H + 2 * SPD);
  r.decimator.drain(10, 1000);
  assert.equal(r.out.sent.length, 0);
  assert.equal(r.decimator.due(1040), SAMPLES_FLUSH_MS - 40);
  r.decimator.idle(1000 + SAMPLES_FLUSH_MS);
  assert.equal(r.out.sent.length, 1);
  assert.equal(r.out.sent[0]!.length, H + 2 * (SPD / 10));
  assert.equal(r.decimator.due(2000), Infinity);
});

Deno.test("samples mode resets after datagrams lost to ring overruns", () => {
  const r = rig({
    to: "127.0.0.1:9",
    mode: "samples",
    factor: 2,
    samples: { format: "u8", max_datagram: 512 },
  }, 4096);
  const d = new Uint8Array(1000).fill(7);
  while (r.producer.publish(d, 0, 1000));
  r.decimator.drain(100, 0);
  r.producer.publish(d, 0, 1000);
  r.decimator.drain(100, 0);
  assert.equal(r.stats().resets, 1);
  assert.equal(r.stats().overruns, 1);
});
