/**
 * Stress test of the recorder's chunk hand-offs: an unpaced writer (yielding at random intervals
 * like a busy channel Worker) appends mixed-size datagrams into small chunks and small files, so
 * chunks change hands thousands of times, some claimed by the writer, some dropped for, while
 * zeros are written ahead of it on pool threads. Every file is then checked by the deep scan and
 * read by avsc record for record: seq in order, payload bytes, senders, and the gaps equal to the
 * datagrams counted as unrecorded.
 *
 * Bigger local runs: CHANRELAY_STRESS_MB=2000 CHANRELAY_STRESS_DIR=/tmp/x deno test -A --frozen
 * tests/unit/recorder/stress_test.ts (the files are removed afterwards).
 */
import assert from "node:assert/strict";
import avro from "avsc";
import { writeSockaddrIn } from "../../../ffi/structs.ts";
import type { DatagramBatch } from "../../../ffi/udp_socket.ts";
import { ChannelRecorder } from "../../../src/recorder/channel_recorder.ts";
import type { RecorderOptions } from "../../../src/recorder/options.ts";
import { recoverFile } from "../../../src/recorder/recover.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";
import { makeBatch, withTuning } from "./_helpers.ts";

const MB = Number(Deno.env.get("CHANRELAY_STRESS_MB") ?? "120");
const ROOT = Deno.env.get("CHANRELAY_STRESS_DIR");
const MAX_DATAGRAM = 65507;

/** 1 MiB of pseudo-random bytes: the payload of seq s starts at a seq-dependent offset in it. */
const PATTERN = (() => {
  const b = new Uint8Array((1 << 20) + MAX_DATAGRAM);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
})();

function hash(seq: number): number {
  let h = Math.imul(seq ^ (seq >>> 16), 0x45d9f3b) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Payload length of seq: mostly 0..1500, one in 200 the largest UDP payload. */
function lengthOf(seq: number): number {
  const h = hash(seq);
  return h % 200 === 7 ? MAX_DATAGRAM : (h >>> 8) % 1501;
}

function patternOffset(seq: number): number {
  return (hash(seq + 0x5bd1e995) >>> 12) & 0xfffff;
}

/** 300 senders: more than the address cache's 256 slots, so it sees collisions. */
function senderOf(seq: number): { ip: number; port: number } {
  const k = seq % 300;
  return { ip: ((172 << 24) | (16 << 16) | (k << 4) | 1) >>> 0, port: 1024 + k };
}

function fill(batch: DatagramBatch, firstSeq: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const seq = firstSeq + i;
    const len = lengthOf(seq);
    const off = patternOffset(seq);
    batch.data.set(PATTERN.subarray(off, off + len), batch.offset(i));
    batch.lengths[i] = len;
    writeSockaddrIn(batch._namesView, i * 16, senderOf(seq));
  }
  batch.count = n;
}

interface FileRecord {
  seq: number;
  src_addr: string;
  src_port: number;
  payload: Uint8Array;
}

/** Reads a file with avsc and checks every record; returns its seqs' first, last and count. */
function checkWithAvsc(path: string): Promise<{ first: number; last: number; count: number }> {
  return new Promise((resolve, reject) => {
    let first = -1;
    let last = -1;
    let count = 0;
    let problem: string | null = null;
    avro.createFileDecoder(path)
      .on("data", (r: FileRecord) => {
        if (problem !== null) return;
        if (r.seq <= last) problem = `seq ${r.seq} after ${last}`;
        const len = lengthOf(r.seq);
        const off = patternOffset(r.seq);
        const p = r.payload;
        if (p.length !== len) problem ??= `seq ${r.seq}: ${p.length} bytes, expected ${len}`;
        for (let i = 0; i < p.length && problem === null; i++) {
          if (p[i] !== PATTERN[off + i]) problem = `seq ${r.seq}: payload byte ${i} differs`;
        }
        const s = senderOf(r.seq);
        const addr = `172.16.${(s.ip >>> 8) & 255}.${s.ip & 255}`;
        if (r.src_addr !== addr || r.src_port !== s.port) {
          problem ??=
            `seq ${r.seq}: sender ${r.src_addr}:${r.src_port}, expected ${addr}:${s.port}`;
        }
        if (first < 0) first = r.seq;
        last = r.seq;
        count++;
      })
      .on("error", reject)
      .on(
        "end",
        () => problem === null ? resolve({ first, last, count }) : reject(new Error(problem)),
      );
  });
}

async function stress(name: string, options: Partial<RecorderOptions>, bytes: number) {
  let stats: ChannelRecorder["stats"] | undefined;
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-stress-", ...(ROOT ? { dir: ROOT } : {}) });
  try {
    await assertNoFdLeak(async () => {
      const rec = await ChannelRecorder.open({
        dir,
        channel: "stress",
        host: "testhost",
        template: "{channel}-{seq}",
        rotateEvery: 0,
        fsyncInterval: 200,
        blockSize: 16 << 10,
        ...options,
      });
      const batch = makeBatch(32, MAX_DATAGRAM);
      // a random yield interval of 0..8 ms: sometimes the writer outruns the preparation
      let nextYield = performance.now() + Math.random() * 8;
      let rotations = 0;
      while (rec.stats.bytes < bytes) {
        const n = 1 + (hash(rec.stats.nextSeq) % 32);
        fill(batch, rec.stats.nextSeq, n);
        rec.append(batch, n, Date.now() * 1000);
        const now = performance.now();
        if (now >= nextYield) {
          rec.poll(Date.now());
          if (rotations++ % 97 === 0) rec.rotate(); // on request too, now and then
          await new Promise((r) => setTimeout(r, 0));
          nextYield = performance.now() + Math.random() * 8;
        }
      }
      await rec.close(); // with preparation likely still in flight
      stats = { ...rec.stats };
    });
    const s = stats!;
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names.filter((n) => !n.endsWith(".avro")), [], "only finished files remain");
    const files = [];
    for (const n of names) {
      const path = `${dir}/${n}`;
      const r = await recoverFile(path, { dryRun: true });
      assert.equal(r.action, "clean", `${n}: ${r.message}`);
      const a = await checkWithAvsc(path);
      assert.equal(a.count, r.records, n);
      assert.equal(r.scan!.firstSeq, a.first, n);
      assert.equal(r.scan!.lastSeq, a.last, n);
      assert.equal(r.scan!.missing, a.last - a.first + 1 - a.count, n);
      files.push({ n, headerFirst: Number(r.scan!.header!.meta["chanrelay.first_seq"]), ...a });
    }
    files.sort((x, y) => x.headerFirst - y.headerFirst);
    // across files: in order; every seq is recorded once or counted as unrecorded
    let records = 0;
    let expected = 0;
    let gaps = 0;
    for (const f of files) {
      assert.ok(f.headerFirst >= expected, `${f.n} starts at ${f.headerFirst}, before ${expected}`);
      if (f.count === 0) continue;
      assert.ok(f.first >= f.headerFirst, f.n);
      gaps += f.first - expected + (f.last - f.first + 1 - f.count);
      records += f.count;
      expected = f.last + 1;
    }
    gaps += s.nextSeq - expected;
    assert.equal(records, s.records);
    assert.equal(gaps, s.unrecorded);
    assert.equal(s.recordErrors, 0);
    assert.equal(s.files, files.length);
    console.log(
      `${name}: ${(s.bytes / 1e6).toFixed(0)} MB, ${s.records} records in ${files.length} files,` +
        ` ${s.blocks} blocks, ${s.stalls} stalls, ${s.unrecorded} unrecorded`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  return stats!;
}

Deno.test("recorder output stays exact under an unpaced writer with 256 KiB chunks and small files", async () => {
  await stress("256 KiB chunks", { preallocChunk: 256 << 10, rotateSize: 3 << 20 }, (MB / 2) * 1e6);
});

Deno.test("recorder output stays exact under an unpaced writer with 1 MiB chunks", async () => {
  await stress("1 MiB chunks", { preallocChunk: 1 << 20, rotateSize: 40 << 20 }, (MB / 2) * 1e6);
});

Deno.test("recorder drops datagrams between blocks, never inside one, when zeros are being written where it goes", async () => {
  // zero every chunk right up to the writer, in small pieces: an unpaced writer keeps reaching
  // chunks with a memset in flight, which it must neither enter nor wait for
  const tuning = { zeroPiece: 64 << 10, populatePiece: 0, minMargin: 0, handoverWindowMs: 0 };
  const s = await withTuning(
    tuning,
    () =>
      stress("racing zeroing", { preallocChunk: 1 << 20, rotateSize: 16 << 20 }, (MB / 10) * 1e6),
  );
  assert.ok(s.stalls > 0 && s.unrecorded > 0, "the writer never caught up with the zeroing");
});

Deno.test("recorder takes over chunks and spare files while their page tables are being set up, dropping nothing", async () => {
  // MADV_POPULATE_WRITE changes no byte: unlike zeroing, a populate in flight never makes the
  // writer drop; it claims the chunk (or the next file) as it is
  const tuning = { zeroPiece: 0, populatePiece: 4096, minMargin: 0, handoverWindowMs: 0 };
  const s = await withTuning(
    tuning,
    () =>
      stress("racing populate", { preallocChunk: 1 << 20, rotateSize: 2 << 20 }, (MB / 10) * 1e6),
  );
  assert.ok(s.stalls > 0, "the writer never caught up with the preparation");
  assert.equal(s.unrecorded, 0);
});
