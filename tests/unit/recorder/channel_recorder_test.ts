import assert from "node:assert/strict";
import { mappingsOf } from "../../helpers/smaps.ts";
import { MappedFile, MappingSlots } from "../../../ffi/mapped_file.ts";
import { ChannelRecorder } from "../../../src/recorder/channel_recorder.ts";
import type { RecorderOptions } from "../../../src/recorder/options.ts";
import { planRetention } from "../../../src/recorder/retention.ts";
import { decodeHeader, encodeHeader, headerMeta } from "../../../src/recorder/avro_schema.ts";
import { canRun } from "../../helpers/env.ts";
import { assertNoFdLeak } from "../../helpers/fds.ts";
import {
  checkSynthetic,
  expectedPayload,
  fillBatch,
  makeBatch,
  payloadLength,
  readWithAvsc,
  senderOf,
  tempDir,
  withTuning,
} from "./_helpers.ts";

const MAX_LEN = 1400;

/** Records `n` synthetic datagrams (from the recorder's next seq) in batches, polling at `nowMs`. */
async function feed(
  rec: ChannelRecorder,
  n: number,
  nowMs: () => number = Date.now,
  maxLen = MAX_LEN,
  idle = false,
): Promise<void> {
  const batch = makeBatch(32, Math.max(maxLen, 1));
  let done = 0;
  while (done < n) {
    const k = Math.min(32, n - done);
    fillBatch(batch, rec.stats.nextSeq, k, maxLen);
    rec.append(batch, k, nowMs() * 1000);
    rec.poll(nowMs());
    if (idle && rec.wantsIdle) rec.grantIdle(); // as the channel loop does when its socket is empty
    done += k;
    await new Promise((r) => setTimeout(r, 0)); // the worker loop yields like this
  }
}

function avroFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".avro")).map((e) =>
    `${dir}/${e.name}`
  );
}

/** Files ordered by their header's first seq, with their records read by avsc. */
async function readAll(dir: string) {
  const out = [];
  for (const path of avroFiles(dir)) {
    const bytes = Deno.readFileSync(path);
    const h = decodeHeader(bytes);
    assert.ok(h.ok, path);
    const records = await readWithAvsc(path);
    out.push({ path, firstSeq: Number(h.header.meta["chanrelay.first_seq"]), records });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Asserts the files hold seq `from..to-1` contiguously, each file starting at its header's first seq. */
async function assertContiguous(dir: string, from: number, to: number): Promise<number> {
  const files = await readAll(dir);
  let seq = from;
  for (const f of files) {
    assert.equal(f.firstSeq, seq, `${f.path} starts at ${f.firstSeq}, expected ${seq}`);
    assert.equal(checkSynthetic(f.records, seq, MAX_LEN), null, f.path);
    seq += f.records.length;
  }
  assert.equal(seq, to);
  return files.length;
}

const base = (dir: string): RecorderOptions => ({
  dir,
  channel: "ch1",
  host: "testhost",
  preallocChunk: 256 << 10,
  blockSize: 8192,
  fsyncInterval: 50,
  rotateEvery: 0,
});

Deno.test("recorder rotates by size with contiguous seq and finishes every file", async () => {
  const dir = tempDir();
  await assertNoFdLeak(async () => {
    const rec = await ChannelRecorder.open({ ...base(dir), rotateSize: 200_000 });
    await feed(rec, 3000);
    await rec.close();
    assert.equal(rec.stats.records, 3000);
    assert.equal(rec.stats.unrecorded, 0);
    assert.equal(rec.stats.recordErrors, 0);
    assert.equal(rec.stats.committedSeq, 2999);
    const n = await assertContiguous(dir, 0, 3000);
    assert.ok(n >= 5, `expected several files, got ${n}`);
    assert.equal(rec.stats.files, n);
    for (const p of avroFiles(dir)) assert.ok(Deno.statSync(p).size < 200_000 + 8192 + 2000);
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => !e.name.endsWith(".avro")), []);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("recorder rotates at UTC-aligned time boundaries and names files from the template", async () => {
  const dir = tempDir();
  let now = Date.UTC(2030, 0, 1, 10, 59, 30);
  const rec = await ChannelRecorder.open({
    ...base(dir),
    template: "{yyyy}/{MM}/{channel}-{dd}T{HH}{mm}{ss}-{seq}",
    rotateEvery: 60_000,
  });
  await rec.settle();
  rec.poll(now); // past the boundary of the file opened at the real time: rotate
  await rec.settle();
  await feed(rec, 100, () => now);
  now = Date.UTC(2030, 0, 1, 11, 0, 0); // boundary: rotate
  rec.poll(now);
  await rec.settle();
  await feed(rec, 100, () => now);
  now += 59_999; // same minute: no rotation
  rec.poll(now);
  await feed(rec, 50, () => now);
  now += 1; // next boundary
  rec.poll(now);
  await rec.settle();
  await feed(rec, 10, () => now);
  await rec.close();
  assert.equal(rec.stats.files, 4);
  const sub = `${dir}/2030/01`;
  const names = [...Deno.readDirSync(sub)].map((e) => e.name).sort();
  assert.deepEqual(names, [
    "ch1-01T105930-0.avro",
    "ch1-01T110000-100.avro",
    "ch1-01T110100-250.avro",
  ]);
  let seq = 0;
  for (const name of names) {
    const recs = await readWithAvsc(`${sub}/${name}`);
    assert.equal(checkSynthetic(recs, seq, MAX_LEN), null, name);
    seq += recs.length;
  }
  assert.equal(seq, 260);
  const h = decodeHeader(Deno.readFileSync(`${sub}/ch1-01T110000-100.avro`));
  assert.ok(h.ok);
  assert.equal(h.header.meta["chanrelay.start_time"], "2030-01-01T11:00:00.000Z");
  assert.equal(h.header.meta["chanrelay.first_seq"], "100");
  assert.equal(h.header.meta["chanrelay.host"], "testhost");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("rotate() starts a new file and a reopened recorder resumes seq after the newest file", async () => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open(base(dir));
  await feed(rec, 500);
  await rec.settle();
  rec.rotate();
  await feed(rec, 300);
  await rec.close();
  assert.equal(rec.stats.files, 2);
  const again = await ChannelRecorder.open({ ...base(dir), template: "{channel}-{seq}" });
  assert.equal(again.stats.nextSeq, 800);
  await feed(again, 100);
  await again.close();
  await assertContiguous(dir, 0, 900);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("a quiet channel commits its block after blockInterval", async () => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open({ ...base(dir), blockInterval: 100 });
  let now = Date.now();
  await feed(rec, 3, () => now);
  assert.equal(rec.stats.blocks, 0);
  assert.equal(rec.stats.committedSeq, -1);
  now += 99;
  rec.poll(now);
  assert.equal(rec.stats.blocks, 0);
  now += 1;
  rec.poll(now);
  assert.equal(rec.stats.blocks, 1);
  assert.equal(rec.stats.committedSeq, 2);
  await rec.close();
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("planRetention deletes oldest finished files first by count, size and age", () => {
  const now = 1_000_000;
  const files = [3, 1, 4, 2, 5].map((i) => ({
    path: `f${i}`,
    size: 100,
    firstSeq: i * 10,
    mtimeMs: now - (10 - i) * 1000,
  }));
  const paths = (l: { path: string }[]) => l.map((f) => f.path);
  assert.deepEqual(paths(planRetention(files, { keepFiles: 2, keepSize: 0, keepAge: 0 }, now)), [
    "f1",
    "f2",
    "f3",
  ]);
  assert.deepEqual(paths(planRetention(files, { keepFiles: 0, keepSize: 250, keepAge: 0 }, now)), [
    "f1",
    "f2",
    "f3",
  ]);
  assert.deepEqual(
    paths(planRetention(files, { keepFiles: 0, keepSize: 0, keepAge: 7500 }, now)),
    ["f1", "f2"],
  );
  assert.deepEqual(planRetention(files, { keepFiles: 0, keepSize: 0, keepAge: 0 }, now), []);
});

Deno.test("recorder retention keeps the newest keepFiles finished files, never the in-progress one", async () => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open({ ...base(dir), rotateSize: 60_000, keepFiles: 2 });
  await feed(rec, 2000);
  await rec.settle();
  const inprogress = rec.stats.currentFile;
  assert.ok(inprogress.endsWith(".avro.inprogress"));
  assert.ok(Deno.statSync(inprogress).isFile);
  const finished = avroFiles(dir);
  assert.equal(finished.length, 2);
  const kept = (await readAll(dir)).map((f) => f.firstSeq);
  const all = rec.finishedFiles.map((f) => f.firstSeq);
  assert.deepEqual(kept, all);
  // the kept ones are the two newest: they end right where the in-progress file begins
  const h = decodeHeader(Deno.readFileSync(inprogress));
  assert.ok(h.ok);
  const files = await readAll(dir);
  const last = files.at(-1)!;
  assert.equal(last.firstSeq + last.records.length, Number(h.header.meta["chanrelay.first_seq"]));
  await rec.close();
  assert.equal(avroFiles(dir).length, 2);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("recorder keepSize counts finished files only", async () => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open({ ...base(dir), rotateSize: 50_000, keepSize: 120_000 });
  await feed(rec, 1500);
  await rec.close();
  const sizes = avroFiles(dir).map((p) => Deno.statSync(p).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  assert.ok(total <= 120_000, `kept ${total} bytes`);
  assert.ok(sizes.length >= 1);
  Deno.removeSync(dir, { recursive: true });
});

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

function which(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const PY_READER = `
import sys, json, base64, avro.datafile, avro.io
with avro.datafile.DataFileReader(open(sys.argv[1], "rb"), avro.io.DatumReader()) as r:
    for d in r:
        print(json.dumps([d["seq"], d["src_addr"], d["src_port"], base64.b64encode(d["payload"]).decode()]))
`;

Deno.test("recorded files are read record for record by avsc, python3-avro, avrocat and avropipe", async (t) => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open({ ...base(dir), rotateSize: 150_000 });
  // zero-length and full-size payloads too
  const batch = makeBatch(4, 65507);
  for (const [i, len] of [0, 65507, 1, 64].entries()) {
    fillBatch(batch, i, 1, 0);
    batch.lengths[0] = len;
    const p = expectedPayload(1000 + i, len);
    batch.data.set(p, 0);
    rec.append(batch, 1, Date.now() * 1000);
  }
  await feed(rec, 600);
  await rec.close();
  const files = avroFiles(dir).sort();
  assert.ok(files.length >= 2);
  const expected = new Map<number, { addr: string; port: number; payload: string }>();
  for (const f of files) {
    for (const r of await readWithAvsc(f)) {
      expected.set(r.seq, {
        addr: r.src_addr,
        port: r.src_port,
        payload: btoa(String.fromCharCode(...new Uint8Array(r.payload))),
      });
    }
  }
  assert.equal(expected.size, 604);
  for (let s = 4; s < 604; s++) {
    const e = expected.get(s)!;
    assert.equal(e.addr, `10.0.${s % 3}.1`);
    assert.equal(e.port, senderOf(s).port);
    assert.equal(atob(e.payload).length, payloadLength(s, MAX_LEN));
  }
  assert.equal(atob(expected.get(1)!.payload).length, 65507);

  await t.step("python3-avro", async () => {
    const name = "python3-avro reads recorded files";
    const ok = which("/usr/bin/python3") &&
      (await run("/usr/bin/python3", ["-c", "import avro.datafile"])).code === 0;
    if (!canRun(name, ok, "Debian python3-avro (apt-get install python3-avro)")) return;
    let n = 0;
    for (const f of files) {
      const r = await run("/usr/bin/python3", ["-c", PY_READER, f]);
      assert.equal(r.code, 0, r.err);
      for (const line of r.out.trim().split("\n")) {
        const [seq, addr, port, payload] = JSON.parse(line);
        const e = expected.get(seq)!;
        assert.deepEqual({ addr, port, payload }, e, `seq ${seq}`);
        n++;
      }
    }
    assert.equal(n, 604);
  });

  await t.step("avrocat", async () => {
    if (!canRun("avrocat reads recorded files", which("avrocat"), "Debian avro-bin")) return;
    let n = 0;
    for (const f of files) {
      const r = await run("avrocat", [f]);
      assert.equal(r.code, 0, r.err);
      for (const line of r.out.trim().split("\n")) {
        const o = JSON.parse(line);
        const e = expected.get(o.seq)!;
        assert.equal(o.src_addr, e.addr);
        assert.equal(o.src_port, e.port);
        n++;
      }
    }
    assert.equal(n, 604);
  });

  await t.step("avropipe", async () => {
    if (!canRun("avropipe reads recorded files", which("avropipe"), "Debian avro-bin")) return;
    let n = 0;
    for (const f of files) {
      const r = await run("avropipe", [f]);
      assert.equal(r.code, 0, r.err);
      const rows = new Map<string, Record<string, unknown>>();
      for (const line of r.out.split("\n")) {
        const m = /^\/(\d+)\/(\w+)\t(.*)$/.exec(line);
        if (!m) continue;
        const row = rows.get(m[1]!) ?? {};
        row[m[2]!] = JSON.parse(m[3]!);
        rows.set(m[1]!, row);
      }
      for (const row of rows.values()) {
        const e = expected.get(row.seq as number)!;
        const bytes = [...(row.payload as string)].map((c) => c.charCodeAt(0));
        assert.equal(btoa(String.fromCharCode(...bytes)), e.payload, `seq ${row.seq}`);
        n++;
      }
    }
    assert.equal(n, 604);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("recorder output stays valid when an unpaced writer overtakes chunk prefaulting", async () => {
  const { recoverFile } = await import("../../../src/recorder/recover.ts");
  const dir = tempDir();
  const rec = await ChannelRecorder.open({
    ...base(dir),
    preallocChunk: 16 << 20,
    blockSize: 65536,
    rotateSize: 0,
  });
  const batch = makeBatch(32, 1400);
  fillBatch(batch, 0, 32, 0);
  for (let i = 0; i < 32; i++) batch.lengths[i] = 1400;
  let lastYield = performance.now();
  while (rec.stats.bytes < 80e6) {
    rec.append(batch, 32, Date.now() * 1000);
    if (performance.now() - lastYield >= 5) {
      rec.poll(Date.now());
      await new Promise((r) => setTimeout(r, 0));
      lastYield = performance.now();
    }
  }
  await rec.close();
  assert.equal(rec.stats.unrecorded + rec.stats.records, rec.stats.nextSeq);
  const [file] = avroFiles(dir);
  const r = await recoverFile(file!, { dryRun: true });
  assert.equal(r.action, "clean", r.message);
  assert.equal(r.records, rec.stats.records);
  Deno.removeSync(dir, { recursive: true });
});

/**
 * Without yielding (so the next spare cannot get ready), rotates once by size and writes the
 * second file past `rotateSize`: it is then due for rotation at every commit.
 */
async function fillPastRotateSize(rec: ChannelRecorder): Promise<void> {
  await rec.settle(); // the spare is ready: the first rotation will use it
  const batch = makeBatch(32, MAX_LEN);
  while (rec.stats.files < 2) {
    fillBatch(batch, rec.stats.nextSeq, 32, MAX_LEN);
    rec.append(batch, 32, Date.now() * 1000);
  }
  const from = rec.stats.bytes;
  while (rec.stats.bytes - from < 150_000) {
    fillBatch(batch, rec.stats.nextSeq, 32, MAX_LEN);
    rec.append(batch, 32, Date.now() * 1000);
  }
  assert.equal(rec.stats.files, 2);
}

Deno.test("rotate() with an open block in a file already past rotateSize rotates once", async () => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open({ ...base(dir), rotateSize: 100_000, blockSize: 8192 });
  await fillPastRotateSize(rec);
  // a block left open, then the spare gets ready
  const batch = makeBatch(32, MAX_LEN);
  fillBatch(batch, rec.stats.nextSeq, 2, MAX_LEN);
  rec.append(batch, 2, Date.now() * 1000);
  await rec.settle();
  const files = rec.stats.files;
  rec.rotate(); // commits the open block, which asks for the same rotation
  assert.equal(rec.stats.files, files + 1);
  assert.ok(rec.recording);
  await feed(rec, 100);
  await rec.close();
  assert.equal(rec.stats.recordErrors, 0);
  assert.equal(rec.stats.unrecorded, 0);
  const n = await assertContiguous(dir, 0, rec.stats.nextSeq);
  assert.equal(n, rec.stats.files);
  assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => !e.name.endsWith(".avro")), []);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("close() with an open block in a file already past rotateSize finishes every file", async () => {
  const dir = tempDir();
  const rec = await ChannelRecorder.open({ ...base(dir), rotateSize: 100_000, blockSize: 8192 });
  await fillPastRotateSize(rec);
  const batch = makeBatch(32, MAX_LEN);
  fillBatch(batch, rec.stats.nextSeq, 2, MAX_LEN);
  rec.append(batch, 2, Date.now() * 1000);
  await rec.settle();
  await rec.close();
  assert.equal(rec.stats.recordErrors, 0);
  const n = await assertContiguous(dir, 0, rec.stats.nextSeq);
  assert.equal(n, rec.stats.files);
  assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => !e.name.endsWith(".avro")), []);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test({
  name:
    "the periodic sync writes back the committed range only, dropped from the writer's mapping first, not the pages prepared ahead",
  ignore: Deno.build.os !== "linux", // mappings are read from /proc/self/smaps
  async fn() {
    const dir = tempDir();
    const chunk = 8 << 20; // prepared ahead: the writer is more than minMargin before the next
    const rec = await ChannelRecorder.open({
      ...base(dir),
      preallocChunk: chunk,
      fsyncInterval: 20,
      rotateSize: 0,
    });
    try {
      await feed(rec, 400); // ~280 KB: inside the first chunk, several blocks committed
      await rec.settle(); // the next chunks are prepared: zeroed, so dirty
      const fsyncs = rec.stats.fsyncs;
      const until = Date.now() + 5000;
      while (rec.stats.fsyncs < fsyncs + 1 && Date.now() < until) {
        rec.poll(Date.now());
        await new Promise((r) => setTimeout(r, 10));
      }
      await rec.settle();
      assert.ok(rec.stats.fsyncs > fsyncs, "a periodic sync ran");
      const all = mappingsOf(rec.stats.currentFile);
      // the sync went through the file's read-only window, which has no page at all
      const window = all.filter((m) => m.perms === "r--s");
      assert.equal(window.length, 1, JSON.stringify(all));
      assert.ok(window[0]!.offset === 0 && window[0]!.rss === 0, JSON.stringify(window));
      const maps = all.filter((m) => m.perms === "rw-s");
      const first = maps.find((m) => m.offset === 0);
      const ahead = maps.filter((m) => m.offset >= chunk);
      assert.ok(first !== undefined, `no mapping at offset 0: ${JSON.stringify(maps)}`);
      assert.ok(ahead.length >= 1, `no chunk mapped ahead: ${JSON.stringify(maps)}`);
      // the committed pages left the writer's mapping before their write-back (no page to
      // write-protect) but for the last, partly committed one (now clean); the zeroed rest of the
      // chunk is still there, dirty
      assert.ok(first.rss - first.dirty <= 4 && first.dirty >= 7000, `${JSON.stringify(first)}`);
      assert.ok(first.rss <= chunk / 1024 - 200, `first chunk ${JSON.stringify(first)}`);
      for (const m of ahead) {
        assert.ok(m.rss > 0 && m.dirty === m.rss, `chunk ahead ${JSON.stringify(m)}`);
      }
      // the committed pages were written back: clean in the page cache (smaps counts a page
      // dirty when its page-cache page is, whatever the mapping), read through a mapping of ours
      const committed = Math.floor(rec.stats.bytes / 4096) * 4096;
      const probe = MappedFile.open(rec.stats.currentFile, { readOnly: true });
      try {
        const r = probe.map(0, committed);
        let sum = 0;
        for (let i = 0; i < committed; i += 4096) sum += r.bytes[i]!;
        const view = mappingsOf(rec.stats.currentFile).find((m) => m.addr === Number(r.address));
        assert.ok(view !== undefined && sum >= 0, "the probe mapping is listed");
        assert.equal(view.rss * 1024, committed, JSON.stringify(view));
        assert.equal(view.dirty, 0, `committed pages still dirty: ${JSON.stringify(view)}`);
        r.unmap();
      } finally {
        probe.close();
      }
    } finally {
      await rec.close();
      Deno.removeSync(dir, { recursive: true });
    }
    assert.equal(rec.stats.recordErrors, 0);
  },
});

Deno.test({
  name: "the writer sets up page tables ahead of itself where the background has not",
  ignore: Deno.build.os !== "linux", // MADV_POPULATE_WRITE; residency from /proc/self/smaps
  async fn() {
    // the background only allocates and maps (no populate, no zeros), as when a saturated core
    // starves it: then the writer populates `warmPiece` ahead of where it writes, and those pages
    // are resident before anything is written there (between half a piece and a piece ahead)
    const piece = 8 << 20;
    const residentAhead = (warmPiece: number): Promise<number> =>
      withTuning({ populatePiece: 0, zeroPiece: 0, warmPiece }, async () => {
        const dir = tempDir();
        const rec = await ChannelRecorder.open({ ...base(dir), preallocChunk: 16 << 20 });
        try {
          await feed(rec, 1500); // ~1 MB
          const first = mappingsOf(rec.stats.currentFile).find((m) =>
            m.offset === 0 && m.perms === "rw-s"
          );
          assert.ok(first !== undefined, "the first chunk is mapped");
          return first.rss * 1024 - rec.stats.bytes;
        } finally {
          await rec.close();
          Deno.removeSync(dir, { recursive: true });
        }
      });
    const cold = await residentAhead(0);
    const warm = await residentAhead(piece);
    // without: only what page faults brought in (large folios may round up to 2 MiB)
    assert.ok(cold < (2 << 20) + 65536, `${cold} bytes resident ahead without warm-up`);
    assert.ok(warm >= piece / 2 && warm <= piece, `${warm} bytes resident ahead with warm-up`);
  },
});

Deno.test("seq resumes after the last record even when files without records share its first seq", async () => {
  // a process killed right after starting a file leaves one without records (recovery finishes
  // it as it is); the next process starts its file at the same first seq and records into it
  const dir = tempDir();
  try {
    const rec = await ChannelRecorder.open(base(dir));
    await feed(rec, 100);
    await rec.close();
    const meta = { channel: "ch1", host: "testhost", version: "test", firstSeq: 0 };
    for (let i = 0; i < 12; i++) {
      const header = encodeHeader(
        headerMeta({ ...meta, startMs: Date.now() }),
        crypto.getRandomValues(new Uint8Array(16)),
      );
      Deno.writeFileSync(`${dir}/ch1-empty-${i}.avro`, header);
    }
    const again = await ChannelRecorder.open(base(dir));
    assert.equal(again.stats.nextSeq, 100);
    await again.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("recorder maps its chunks over a few address ranges, reused from chunk to chunk and file to file", async () => {
  const dir = tempDir();
  const chunk = 256 << 10;
  const rec = await ChannelRecorder.open({
    ...base(dir),
    preallocChunk: chunk,
    rotateSize: 2_000_000,
  });
  await feed(rec, 24_000);
  const mapped = Math.floor(rec.stats.bytes / chunk); // chunk mappings at the least
  const { reserved, buffers } = rec.mappingSlots;
  await rec.close();
  assert.ok(rec.stats.files >= 4, `files: ${rec.stats.files}`);
  assert.ok(
    reserved >= 1 && reserved * 3 <= mapped,
    `${reserved} ranges reserved for ${mapped}+ chunk mappings`,
  );
  assert.equal(buffers, 1, "one ArrayBuffer for all of them");
  assert.equal(rec.mappingSlots.size, 0, "every range given back at close");
  assert.equal(await assertContiguous(dir, 0, 24_000), rec.stats.files);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("a recorder maps through slots its caller lent it and leaves them open at close", async () => {
  const dir = tempDir();
  const slots = new MappingSlots();
  try {
    const first = await ChannelRecorder.open({ ...base(dir), channel: "lent" }, { slots });
    await feed(first, 3000);
    const lent = slots.reserved;
    assert.ok(lent >= 1, "the recorder cut its ranges from the lent slots");
    assert.ok(first.mappingSlots.size >= 1);
    await first.close();
    // open: a second recorder maps over the ranges the first one left, through the same buffer
    const second = await ChannelRecorder.open({ ...base(dir), channel: "lent" }, { slots });
    await feed(second, 3000);
    assert.equal(slots.buffers, 1, "one ArrayBuffer for both recorders");
    assert.ok(slots.reserved <= lent + 1, `${slots.reserved} ranges against ${lent}`);
    await second.close();
    assert.equal(await assertContiguous(dir, 0, 6000), 2);
  } finally {
    slots.close();
  }
  assert.equal(slots.size, 0);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("close({ discard: true }) removes the file and the spare, records and open block alike", async () => {
  const dir = tempDir();
  await assertNoFdLeak(async () => {
    const rec = await ChannelRecorder.open({ ...base(dir), blockInterval: 60_000 });
    await feed(rec, 2000);
    assert.ok(rec.stats.blocks >= 1, "some blocks were committed");
    assert.ok(rec.stats.records > 0);
    await rec.close({ discard: true });
  });
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [], "nothing left");
  Deno.removeSync(dir, { recursive: true });
});

// chunks big enough to need several pieces, a writer that comes near them late
const IDLE_TUNING = { minMargin: 64 << 10, handoverWindowMs: 1 };

/** A recorder with 2 MiB chunks whose caller offers idle moments (`useIdleTime`). */
async function openIdleRecorder(dir: string): Promise<ChannelRecorder> {
  const rec = await ChannelRecorder.open({
    ...base(dir),
    preallocChunk: 2 << 20,
    rotateSize: 3_000_000,
  });
  rec.useIdleTime();
  return rec;
}

Deno.test("recorder prepares chunks in its caller's idle moments when offered them", async () => {
  const dir = tempDir();
  await withTuning({ ...IDLE_TUNING, idleWaitMs: 10_000 }, async () => {
    const rec = await openIdleRecorder(dir);
    await feed(rec, 12_000, Date.now, MAX_LEN, true);
    await rec.close();
    assert.ok(rec.idlePieces >= 64, `pieces run in idle moments: ${rec.idlePieces}`);
    assert.equal(rec.stats.stalls, 0, "every chunk was prepared before the writer came");
    assert.equal(rec.stats.unrecorded, 0);
    assert.equal(rec.stats.recordErrors, 0);
    assert.ok(rec.stats.files >= 2, `files: ${rec.stats.files}`);
    assert.equal(await assertContiguous(dir, 0, 12_000), rec.stats.files);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test({
  name:
    "the pages a recorder prepares in its caller's idle moments are resident and written before its writer comes",
  ignore: Deno.build.os !== "linux", // residency from /proc/self/smaps
  async fn() {
    const dir = tempDir();
    // no populate at all: only the idle pieces' writes bring the pages in
    await withTuning({ ...IDLE_TUNING, idleWaitMs: 10_000, populatePiece: 0 }, async () => {
      const rec = await openIdleRecorder(dir);
      const chunk = 2 << 20;
      try {
        await feed(rec, 100, Date.now, MAX_LEN, true); // ~70 KB, in the first chunk
        const pieces0 = rec.idlePieces;
        const bytes0 = rec.idleBytes;
        const ahead = () =>
          mappingsOf(rec.stats.currentFile).filter((m) => m.perms === "rw-s" && m.offset >= chunk);
        const prepared = () => ahead().some((m) => m.rss * 1024 === m.size);
        const until = Date.now() + 10_000;
        while (!prepared() && Date.now() < until) {
          rec.poll(Date.now());
          if (rec.wantsIdle) rec.grantIdle();
          await new Promise((r) => setTimeout(r, 0));
        }
        const maps = ahead();
        assert.ok(prepared(), `no chunk ahead prepared: ${JSON.stringify(maps)}`);
        for (const m of maps.filter((m) => m.rss * 1024 === m.size)) {
          assert.equal(m.dirty, m.rss, `written, so dirty: ${JSON.stringify(m)}`);
        }
        // nothing was recorded between the idle moments of the loop: each of its pieces had the
        // smallest size
        const pieces = rec.idlePieces - pieces0;
        assert.ok(pieces >= chunk / (16 << 10), `idle pieces: ${pieces}`);
        assert.equal(rec.idleBytes - bytes0, pieces * (16 << 10));
        assert.equal(rec.stats.bytes < chunk, true, "the writer is still in the first chunk");
      } finally {
        await rec.close();
      }
      assert.equal(await assertContiguous(dir, 0, 100), rec.stats.files);
    });
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test("an idle piece covers twice what was recorded since the previous idle moment, 16 to 64 KiB", async () => {
  const dir = tempDir();
  const page = 4096;
  await withTuning({ ...IDLE_TUNING, idleWaitMs: 10_000 }, async () => {
    const rec = await openIdleRecorder(dir);
    const batch = makeBatch(32, MAX_LEN);
    try {
      // one idle moment after every `per` datagrams: pieces sized by what they recorded
      const run = async (per: number, rounds: number) => {
        const pieces0 = rec.idlePieces;
        const bytes0 = rec.idleBytes;
        for (let r = 0; r < rounds; r++) {
          const before = rec.stats.bytes;
          fillBatch(batch, rec.stats.nextSeq, per, MAX_LEN);
          rec.append(batch, per, Date.now() * 1000);
          rec.poll(Date.now());
          const recorded = rec.stats.bytes - before;
          const had = rec.idleBytes;
          if (rec.wantsIdle) {
            rec.grantIdle();
            await undefined; // the piece runs now, as a microtask
            await undefined;
          }
          const covered = rec.idleBytes - had;
          if (covered > 0) {
            const want = Math.min(64 << 10, Math.max(16 << 10, 2 * recorded));
            assert.ok(
              covered <= Math.ceil(want / page) * page && covered % page === 0,
              `${covered} bytes covered after ${recorded} recorded`,
            );
          }
          await new Promise((r) => setTimeout(r, 0));
        }
        return (rec.idleBytes - bytes0) / Math.max(1, rec.idlePieces - pieces0);
      };
      const small = await run(1, 300); // ~1 KB between idle moments
      const large = await run(32, 60); // ~22 KB between idle moments
      assert.ok(small <= (16 << 10), `average piece ${small} with little recorded`);
      assert.ok(large > (32 << 10), `average piece ${large} with much recorded`);
      assert.equal(rec.stats.stalls, 0);
    } finally {
      await rec.close();
    }
    assert.equal(await assertContiguous(dir, 0, rec.stats.records), rec.stats.files);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("recorder sends pieces that get no idle moment to the pool, and closes with pieces waiting", async () => {
  const dir = tempDir();
  await withTuning({ ...IDLE_TUNING, idleWaitMs: 0 }, async () => {
    const rec = await openIdleRecorder(dir);
    await feed(rec, 12_000); // polls, never grants an idle moment
    assert.equal(rec.idlePieces, 0);
    assert.equal(
      rec.stats.stalls,
      0,
      "every chunk was prepared (on the pool) before the writer came",
    );
    assert.equal(rec.stats.unrecorded, 0);
    // a piece waits for an idle moment right now: close() must not wait for one
    const batch = makeBatch(32, MAX_LEN);
    for (let i = 0; i < 2_000 && !rec.wantsIdle; i++) {
      fillBatch(batch, rec.stats.nextSeq, 32, MAX_LEN);
      rec.append(batch, 32, Date.now() * 1000);
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.ok(rec.wantsIdle, "a piece waits for an idle moment");
    const closed = rec.close().then(() => "closed");
    const timeout = new Promise((r) => setTimeout(() => r("timeout"), 5_000));
    assert.equal(await Promise.race([closed, timeout]), "closed");
    assert.equal(rec.wantsIdle, false);
    assert.equal(await assertContiguous(dir, 0, rec.stats.nextSeq), rec.stats.files);
  });
  Deno.removeSync(dir, { recursive: true });
});
