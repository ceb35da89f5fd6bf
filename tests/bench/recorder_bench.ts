/**
 * Recorder benchmark: append throughput (records/s at 64 B and 1400 B payloads, the full hot path:
 * in-place encoding into prefaulted mmap chunks, block commits, msync) and the deep recovery scan
 * of a ~1 GB cached file (GB/s and records/s; every record decoded and checked).
 *
 * Usage: deno run -A --frozen tests/bench/recorder_bench.ts [--dir DIR] [--gb 1]
 * Needs ~2 GB free in DIR (default: a temporary directory), removed afterwards.
 */
import { parseArgs } from "node:util";
import { ChannelRecorder } from "../../src/recorder/channel_recorder.ts";
import { recoverFile } from "../../src/recorder/recover.ts";
import { fillBatch, makeBatch } from "../unit/recorder/_helpers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { dir: { type: "string" }, gb: { type: "string" } },
});
const root = values.dir ?? Deno.makeTempDirSync({ prefix: "chanrelay-bench-" });
const targetBytes = Number(values.gb ?? "1") * 1e9;

/** Records until `bytes` of records are written; returns records/s and the file. */
async function write(size: number, bytes: number, dir: string) {
  const rec = await ChannelRecorder.open({
    dir,
    channel: `b${size}`,
    rotateSize: 0,
    rotateEvery: 0,
    fsyncInterval: 0,
  });
  const batch = makeBatch(32, size);
  fillBatch(batch, 0, 32, 0);
  for (let i = 0; i < 32; i++) batch.lengths[i] = size;
  let lastYield = performance.now();
  const t0 = performance.now();
  while (rec.stats.bytes < bytes) {
    rec.append(batch, 32, Date.now() * 1000);
    const now = performance.now();
    if (now - lastYield >= 5) {
      rec.poll(Date.now());
      await new Promise((r) => setTimeout(r, 0));
      lastYield = performance.now();
    }
  }
  const dt = (performance.now() - t0) / 1000;
  const stats = { ...rec.stats };
  await rec.close();
  const file = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".avro"))!.name;
  return {
    rate: stats.records / dt,
    records: stats.records,
    stalls: stats.stalls,
    unrecorded: stats.unrecorded,
    file: `${dir}/${file}`,
  };
}

const rows: string[][] = [];
for (const size of [64, 1400]) {
  const dir = `${root}/s${size}`;
  Deno.mkdirSync(dir, { recursive: true });
  const w = await write(size, targetBytes, dir);
  const bytes = Deno.statSync(w.file).size;
  // warm the page cache, then scan (best of 3)
  await recoverFile(w.file, { dryRun: true });
  let best = Infinity;
  let records = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const r = await recoverFile(w.file, { dryRun: true });
    best = Math.min(best, (performance.now() - t) / 1000);
    records = r.records;
    if (r.action !== "clean") throw new Error(`Unexpected recovery result: ${r.message}`);
  }
  rows.push([
    `${size} B`,
    (w.rate / 1e6).toFixed(2) + " M/s",
    ((w.rate * size) / 1e6).toFixed(0) + " MB/s",
    String(w.stalls),
    String(w.unrecorded),
    (bytes / 1e9).toFixed(2) + " GB",
    (bytes / best / 1e9).toFixed(2) + " GB/s",
    (records / best / 1e6).toFixed(2) + " M/s",
  ]);
  Deno.removeSync(dir, { recursive: true });
}
if (values.dir === undefined) Deno.removeSync(root, { recursive: true });

const head = [
  "payload",
  "append records/s",
  "payload MB/s",
  "stalls",
  "unrecorded",
  "file",
  "deep scan",
  "scan records/s",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) =>
  "| " + cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
console.log(line(head));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const r of rows) console.log(line(r));
