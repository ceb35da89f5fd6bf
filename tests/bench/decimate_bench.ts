/**
 * Decimation benchmark (not a test): samples-mode throughput of i16 mono by 10 with the designed
 * filter on one thread (target ≥ 10 M input samples/s per decimator Worker), the polyphase filter
 * alone, and the producer's cost per `publish` on the relay hot path.
 *
 *     deno run -A --frozen tests/bench/decimate_bench.ts [seconds per case, default 2]
 */
import { designDecimationFilter } from "../../src/decimate/fir.ts";
import { SamplesMode } from "../../src/decimate/modes.ts";
import { resolveDecimateOptions } from "../../src/decimate/options.ts";
import { OutputQueue, type OutputSlots, recordSource } from "../../src/decimate/output_queue.ts";
import { PolyphaseDecimator } from "../../src/decimate/polyphase.ts";
import { createRing, RingConsumer, RingProducer } from "../../src/decimate/ring.ts";

const seconds = Number(Deno.args[0] ?? 2);

function timeIt(run: () => number): { perSecond: number; ms: number } {
  // warm up, then run until `seconds` have passed
  run();
  let units = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < seconds * 1000) {
    units += run();
    t = performance.now();
  }
  return { perSecond: units / ((t - t0) / 1000), ms: t - t0 };
}

const FACTOR = 10;
const design = designDecimationFilter(FACTOR, 0.8);
console.log(
  `filter: factor ${FACTOR}, cutoff 0.8, ${design.taps.length} taps, ` +
    `pass edge ${design.passEdge.toFixed(4)}, stop edge ${
      design.stopEdge.toFixed(4)
    } cycles/sample, ` +
    `Kaiser beta ${design.beta.toFixed(3)}`,
);

// 1. the whole samples path: decode i16le, filter, encode, pack (datagrams of 16 + 700 samples)
{
  const H = 16;
  const SPD = 700;
  const options = resolveDecimateOptions({
    to: "127.0.0.1:9",
    mode: "samples",
    factor: FACTOR,
    samples: { format: "i16le", header_bytes: H, seq: { offset: 0, type: "u64le" } },
  });
  const datagrams = 64;
  const stride = (H + 2 * SPD + 7) & ~7;
  const bytes = new Uint8Array(datagrams * stride);
  const view = new DataView(bytes.buffer);
  for (let k = 0; k < datagrams; k++) {
    for (let i = 0; i < SPD; i++) {
      const n = k * SPD + i;
      view.setInt16(
        k * stride + H + 2 * i,
        Math.round(10000 * Math.sin(n * 0.01) + 3000 * Math.sin(n * 0.7)),
        true,
      );
    }
  }
  const src = recordSource(bytes);
  const slotSize = 1472 + 8 - (1472 % 8 || 8);
  const slots: OutputSlots = {
    data: new Uint8Array(64 * slotSize),
    capacity: 64,
    slotSize,
    offset: (i) => i * slotSize,
    setLength: () => {},
  };
  let sent = 0;
  const queue = new OutputQueue(slots, (_s, n) => (sent += n));
  const stats = new Float64Array(64);
  const mode = new SamplesMode(options.samples!, FACTOR, queue, stats);
  let seq = 0;
  const r = timeIt(() => {
    for (let k = 0; k < datagrams; k++) {
      view.setUint32(k * stride, seq++, true);
      mode.push(src, k * stride, H + 2 * SPD, seq, 0);
    }
    return datagrams * SPD;
  });
  console.log(
    `samples mode, i16le mono by ${FACTOR}, ${SPD} samples per datagram: ` +
      `${(r.perSecond / 1e6).toFixed(2)} M input samples/s (target ≥ 10), ` +
      `${
        ((1e9 / r.perSecond) * design.taps.length / FACTOR / design.taps.length).toFixed(2)
      } ns per input sample; ` +
      `${sent} datagrams out, ${stats[35]} resets`,
  );
}

// 2. the polyphase filter alone (float64 in and out)
{
  const dec = new PolyphaseDecimator(design.taps, FACTOR);
  const x = new Float64Array(70_000).map((_, n) => Math.sin(n * 0.01));
  const out = new Float64Array(dec.outputFrames(x.length) + 1);
  const r = timeIt(() => {
    dec.process(x, 0, x.length, out, 0);
    return x.length;
  });
  console.log(
    `polyphase alone: ${(r.perSecond / 1e6).toFixed(2)} M input samples/s, ` +
      `${((r.perSecond / FACTOR) * design.taps.length / 1e9).toFixed(2)} G multiply-adds/s`,
  );
}

// 3. publish on the hot path: producer cost per datagram (the consumer drains untimed)
for (const size of [64, 1400]) {
  const ring = createRing(1 << 20);
  const p = new RingProducer(ring);
  const c = new RingConsumer(ring);
  const batch = new Uint8Array(64 * 1472);
  let timed = 0;
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    for (let i = 0; i < 64; i++) p.publish(batch, i * 1472, size);
    timed += performance.now() - t0;
    n += 64;
    while (c.peek() >= 0) c.advance();
  }
  console.log(`publish ${size} B: ${((timed * 1e6) / n).toFixed(0)} ns per datagram`);
}
