/**
 * Rotation and retention through `chanrelay run`: by size, by request (SIGWINCH, `chanrelay
 * rotate --pid`, SIGHUP with `--rotate`), by time (UTC-aligned), `keep_files`, and a SIGTERM that
 * finishes the file being written. Every file is read by every reader; seq runs on across files.
 */
import assert from "node:assert/strict";
import { DENO, ROOT } from "../helpers/env.ts";
import { canReadEverywhere, readEverywhere } from "../helpers/avro_readers.ts";
import {
  checkSeq,
  exists,
  inspect,
  listDir,
  type RecordingRun,
  startRecording,
  statsUntil,
} from "../fixtures/recording/harness.ts";

/**
 * Pauses the sender and waits until the daemon has received, recorded and published everything
 * sent (counters stable for 150 ms); returns the last snapshot.
 */
async function quiesce(r: RecordingRun) {
  await r.sender.pause();
  let prev = await r.stats();
  for (;;) {
    await new Promise((res) => setTimeout(res, 150));
    const s = await r.stats();
    if (s.received === prev.received && s.recorded + s.unrecorded === s.received) return s;
    prev = s;
  }
}

/** Stops the daemon with SIGTERM and checks it left only finished files, complete per inspect. */
async function stopAndCheckFiles(r: RecordingRun) {
  const stop = await r.p.stop("SIGTERM");
  assert.equal(stop.code, 0, r.p.lines.join("\n"));
  const l = listDir(r.dir);
  assert.deepEqual([...l.inprogress, ...l.spares, ...l.other], [], "left behind");
  const ins = await inspect(l.finished);
  assert.equal(ins.code, 0, ins.stderr);
  for (const f of ins.files) {
    assert.equal(f.status, "complete", JSON.stringify(f));
    assert.equal(f.data_end, f.size, `${f.file}: not truncated to its logical end`);
  }
  return { finished: l.finished, inspected: ins };
}

function errorLines(r: RecordingRun): string[] {
  return r.p.lines.filter((l) => l.includes("level=error"));
}

const RATE = 1000;
const SIZE_NAME = "chanrelay run rotates by size: files end just past rotate_size, seq runs on";
Deno.test(SIZE_NAME, async () => {
  if (!canReadEverywhere(SIZE_NAME)) return;
  const rotateSize = 65536;
  const blockSize = 8192;
  const r = await startRecording({
    block_size: blockSize,
    block_interval: "50ms",
    rotate_size: rotateSize,
    prealloc_chunk: "256KiB",
  }, { rate: RATE });
  try {
    await statsUntil(r.url, r.channel, (s) => s.recordFiles >= 8, "8 files", 20_000);
    const s = await quiesce(r);
    const { finished, inspected } = await stopAndCheckFiles(r);
    assert.deepEqual(errorLines(r), []);
    // one finished file per file started, none lost or renamed twice
    assert.equal(finished.length, s.recordFiles, finished.join("\n"));
    const files = await readEverywhere(finished);
    const c = checkSeq(files);
    assert.deepEqual(c.gaps, []);
    assert.equal(c.records, s.recorded);
    assert.equal(c.lastSeq, s.nextSeq - 1);
    assert.equal(s.unrecorded, 0);
    // every file but the last one ends past rotate_size, mostly at the first commit past it; a
    // rotation waits while the next file is still being prepared (on a busy machine that took up
    // to ~0.3 s here): never for a whole second of traffic
    const bySeq = [...inspected.files].sort((a, b) =>
      (a.header_first_seq as number) - (b.header_first_seq as number)
    );
    const tight = rotateSize + blockSize + 1024;
    const loose = rotateSize + RATE * 450; // ~430 bytes a record on average
    const sizes = bySeq.slice(0, -1).map((f) => f.size as number);
    for (const size of sizes) {
      assert.ok(size >= rotateSize && size <= loose, `${size} bytes: ${sizes}`);
    }
    const late = sizes.filter((n) => n > tight).length;
    assert.ok(late <= sizes.length / 2, `${late} of ${sizes.length} files past ${tight}: ${sizes}`);
  } finally {
    await r.close();
  }
});

const REQUEST_NAME =
  "SIGWINCH, chanrelay rotate --pid and SIGHUP with --rotate each finish the file and start a new one";
Deno.test(REQUEST_NAME, async () => {
  if (!canReadEverywhere(REQUEST_NAME)) return;
  const r = await startRecording({ block_interval: "50ms", prealloc_chunk: "256KiB" }, {
    rate: 500,
    runArgs: ["--rotate"],
  });
  try {
    const seen: string[] = [];
    let s = await statsUntil(
      r.url,
      r.channel,
      (x) => x.recorded > 50 && x.currentFile !== "",
      "records",
    );
    seen.push(s.currentFile);
    const requests: [string, () => Promise<void>][] = [
      ["SIGWINCH", () => Promise.resolve(Deno.kill(r.p.pid, "SIGWINCH"))],
      ["chanrelay rotate --pid", async () => {
        const out = await new Deno.Command(DENO, {
          args: ["run", "-A", "--frozen", `${ROOT}main.ts`, "rotate", "--pid", String(r.p.pid)],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      }],
      ["SIGHUP (--rotate)", () => Promise.resolve(Deno.kill(r.p.pid, "SIGHUP"))],
    ];
    for (const [what, request] of requests) {
      const before = s;
      await request();
      s = await statsUntil(
        r.url,
        r.channel,
        (x) =>
          x.currentFile !== "" && x.currentFile !== before.currentFile &&
          x.recorded > before.recorded + 20,
        `a new file after ${what}`,
      );
      assert.ok(s.currentFile.endsWith(".avro.inprogress"), s.currentFile);
      seen.push(s.currentFile);
      // the previous file was finished under its name
      const prev = before.currentFile.slice(0, -".inprogress".length);
      await statsUntil(r.url, r.channel, () => exists(prev), `"${prev}" finished after ${what}`);
      assert.ok(!exists(before.currentFile), `${what}: "${before.currentFile}" still in progress`);
    }
    const last = await quiesce(r);
    const { finished } = await stopAndCheckFiles(r);
    assert.deepEqual(errorLines(r), []);
    assert.deepEqual(finished, seen.map((f) => f.slice(0, -".inprogress".length)).sort());
    assert.equal(last.recordFiles, 4);
    const files = await readEverywhere(finished);
    const c = checkSeq(files);
    assert.deepEqual(c.gaps, []);
    assert.equal(c.records, last.recorded);
    for (const f of files) assert.ok(f.records.length > 0, `${f.path} is empty`);
  } finally {
    await r.close();
  }
});

const TIME_NAME = "rotate_every 1s starts a file at every UTC second boundary";
Deno.test(TIME_NAME, async () => {
  if (!canReadEverywhere(TIME_NAME)) return;
  const r = await startRecording({
    block_interval: "50ms",
    prealloc_chunk: "256KiB",
    rotate_every: "1s",
  }, { rate: 500 });
  try {
    await statsUntil(r.url, r.channel, (s) => s.recordFiles >= 4, "4 files", 15_000);
    const s = await quiesce(r);
    const { finished } = await stopAndCheckFiles(r);
    assert.deepEqual(errorLines(r), []);
    const files = (await readEverywhere(finished)).sort((a, b) => a.startMs - b.startMs);
    const c = checkSeq(files);
    assert.deepEqual(c.gaps, []);
    assert.equal(c.records, s.recorded);
    // every file after the first started at a second boundary (a poll every few ms), is named
    // after that UTC second, and follows the previous one by exactly one second
    const timed = files.slice(1);
    assert.ok(timed.length >= 3, `${files.length} files`);
    for (const [i, f] of timed.entries()) {
      const second = Math.floor(f.startMs / 1000);
      const late = f.startMs - second * 1000;
      assert.ok(late < 250, `${f.path} started ${late} ms after its second`);
      const stamp = new Date(second * 1000).toISOString().replace(/[-:]/g, "").slice(0, 15);
      assert.ok(f.path.endsWith(`-${stamp}Z.avro`), `${f.path} is not named after ${stamp}Z`);
      if (i > 0) assert.equal(second, Math.floor(timed[i - 1]!.startMs / 1000) + 1, f.path);
    }
  } finally {
    await r.close();
  }
});

const KEEP_NAME = "keep_files 3 keeps the newest 3 finished files and never the one being written";
Deno.test(KEEP_NAME, async () => {
  if (!canReadEverywhere(KEEP_NAME)) return;
  const r = await startRecording({
    block_size: 8192,
    block_interval: "50ms",
    rotate_size: 65536,
    prealloc_chunk: "256KiB",
    keep_files: 3,
  }, { rate: 2000 });
  try {
    let s = await r.stats();
    while (s.recordFiles < 9) {
      const l = listDir(r.dir);
      // a file just renamed may be counted before retention deletes the oldest one
      assert.ok(l.finished.length <= 4, `${l.finished.length} finished files: ${l.finished}`);
      assert.ok(l.inprogress.length >= 1, "the file being written is gone");
      await new Promise((res) => setTimeout(res, 20));
      s = await r.stats();
    }
    s = await quiesce(r);
    const { finished } = await stopAndCheckFiles(r);
    assert.equal(finished.length, 3, finished.join("\n"));
    const files = await readEverywhere(finished);
    // the three kept are the newest: contiguous, ending with the last datagram recorded
    const c = checkSeq(files, files.reduce((m, f) => Math.min(m, f.firstSeq), Infinity));
    assert.deepEqual(c.gaps, []);
    assert.equal(c.lastSeq, s.nextSeq - 1);
    assert.ok(c.records < s.recorded);
    const deleted = r.p.lines.filter((l) => l.includes('msg="Deleted old recording"')).length;
    assert.equal(deleted, s.recordFiles - 3);
  } finally {
    await r.close();
  }
});

const TERM_NAME = "SIGTERM commits the open block and truncates the file to its logical end";
Deno.test(TERM_NAME, async () => {
  if (!canReadEverywhere(TERM_NAME)) return;
  // blocks close only at 1 MiB or after 1 h: everything is in the open block at the stop
  const r = await startRecording({
    block_size: "1MiB",
    block_interval: "1h",
    prealloc_chunk: "2MiB",
  }, { rate: 1000 });
  try {
    await statsUntil(r.url, r.channel, (x) => x.recorded >= 500, "500 records");
    const s = await quiesce(r);
    assert.equal(s.committedSeq, -1, "a block was committed early");
    assert.ok(s.recorded < 2000);
    const { finished, inspected } = await stopAndCheckFiles(r);
    assert.equal(finished.length, 1);
    assert.equal(inspected.files[0]!.records, s.recorded);
    assert.ok((inspected.files[0]!.size as number) < 2 << 20, "preallocated space left");
    const c = checkSeq(await readEverywhere(finished));
    assert.deepEqual(c.gaps, []);
    assert.equal(c.records, s.recorded);
  } finally {
    await r.close();
  }
});
