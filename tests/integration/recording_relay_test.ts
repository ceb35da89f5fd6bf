/**
 * Recording does not change the relay path: with recording on, the destination receives every
 * datagram, intact, and the recording holds the very same datagrams (same bytes, same order) with
 * seq = their place in the stream.
 */
import assert from "node:assert/strict";
import { canReadEverywhere, readEverywhere } from "../helpers/avro_readers.ts";
import {
  checkSeq,
  listDir,
  type ReceiverReport,
  startRecording,
  statsUntil,
} from "../fixtures/recording/harness.ts";
import { expectedPayload, fromRanges, streamNumber } from "../fixtures/recording/traffic.ts";

const NAME = "the recording holds exactly the datagrams relayed to the destination, byte for byte";
const RATE = 5000;
const AT_LEAST = 10_000;

Deno.test(NAME, async () => {
  if (!canReadEverywhere(NAME)) return;
  const t0 = Date.now();
  const r = await startRecording({
    block_interval: "50ms",
    rotate_size: "1MiB",
    prealloc_chunk: "1MiB",
  }, { rate: RATE });
  try {
    await statsUntil(r.url, r.channel, (s) => s.received >= AT_LEAST, `${AT_LEAST} datagrams`);
    const sent = await r.sender.stop<{ sent: number }>();
    const s = await statsUntil(
      r.url,
      r.channel,
      (x) => x.received === sent.sent && x.recorded === sent.sent,
      "every datagram sent received and recorded",
    );
    const stop = await r.p.stop("SIGTERM");
    assert.equal(stop.code, 0);
    const t1 = Date.now();
    const relayed = await r.sink.stop<ReceiverReport>();

    // the destination got every datagram once, intact
    assert.equal(relayed.corrupt, 0);
    assert.equal(relayed.duplicates, 0);
    assert.equal(relayed.intact, sent.sent);
    assert.deepEqual(relayed.ranges, [[0, sent.sent - 1]]);
    assert.equal(s.relayed, sent.sent);
    assert.equal(s.unrecorded, 0);

    // the recording holds the same datagrams: seq i is datagram i, bytes as relayed
    const l = listDir(r.dir);
    assert.deepEqual([...l.inprogress, ...l.spares, ...l.other], []);
    const files = await readEverywhere(l.finished);
    const c = checkSeq(files);
    assert.deepEqual(c.gaps, []);
    assert.equal(c.records, sent.sent);
    const delivered = fromRanges(relayed.ranges);
    const ports = new Set<number>();
    for (const f of files) {
      for (const rec of f.records) {
        const n = streamNumber(rec.payload);
        assert.equal(rec.seq, n);
        assert.ok(delivered.has(n));
        assert.deepEqual(rec.payload, expectedPayload(n));
        assert.equal(rec.srcAddr, "127.0.0.1");
        ports.add(rec.srcPort);
        assert.ok(
          rec.recvTime >= t0 * 1000 && rec.recvTime <= t1 * 1000,
          `recv_time ${rec.recvTime}`,
        );
      }
    }
    assert.equal(ports.size, 1, "one sender, one source port");
  } finally {
    await r.close();
  }
});

const SMALLEST_NAME = "the smallest record settings chanrelay check accepts still record";
Deno.test(SMALLEST_NAME, async () => {
  if (!canReadEverywhere(SMALLEST_NAME)) return;
  // the schema's minimums: block_size 1KiB, rotate_size 1KiB (not below block_size), prealloc_chunk 256KiB
  const r = await startRecording({
    block_size: "1KiB",
    block_interval: "1ms",
    rotate_size: "64KiB",
    prealloc_chunk: "256KiB",
  }, { rate: 1000 });
  try {
    const cannot = r.p.lines.filter((l) => l.includes("Cannot start recording"));
    assert.deepEqual(cannot, [], "a config chanrelay accepted cannot record");
    await statsUntil(r.url, r.channel, (s) => s.recorded >= 500, "500 records");
    await r.sender.pause();
    const stop = await r.p.stop("SIGTERM");
    assert.equal(stop.code, 0);
    const c = checkSeq(await readEverywhere(listDir(r.dir).finished));
    assert.ok(c.records >= 500);
  } finally {
    await r.close();
  }
});
