import assert from "node:assert/strict";
import { ChannelRecorder } from "../../../src/recorder/channel_recorder.ts";
import { recoverFile } from "../../../src/recorder/recover.ts";
import { decodeHeader } from "../../../src/recorder/avro_schema.ts";
import { main } from "../../../src/cli/main.ts";
import { checkSynthetic, fillBatch, makeBatch, readWithAvsc, tempDir } from "./_helpers.ts";

const MAX_LEN = 300;

/** Writes a finished recording of `n` synthetic datagrams in small blocks; returns its path. */
async function makeRecording(dir: string, n: number): Promise<string> {
  const rec = await ChannelRecorder.open({
    dir,
    channel: "rc",
    blockSize: 2048,
    preallocChunk: 256 << 10,
    rotateEvery: 0,
    rotateSize: 0,
  });
  const batch = makeBatch(16, MAX_LEN);
  for (let done = 0; done < n; done += 16) {
    const k = Math.min(16, n - done);
    fillBatch(batch, rec.stats.nextSeq, k, MAX_LEN);
    rec.append(batch, k, Date.now() * 1000);
  }
  await rec.close();
  const name = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".avro"))!.name;
  return `${dir}/${name}`;
}

interface Block {
  offset: number;
  dataStart: number;
  dataEnd: number;
  count: number;
}

function readVarint(b: Uint8Array, p: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const x = b[p++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) break;
    mul *= 128;
  }
  return [v / 2, p];
}

/** The block layout of a valid file (test-side parser). */
function blocks(bytes: Uint8Array): Block[] {
  const h = decodeHeader(bytes);
  assert.ok(h.ok);
  const out: Block[] = [];
  let p = h.header.length;
  while (p < bytes.length) {
    const [count, p1] = readVarint(bytes, p);
    const [size, p2] = readVarint(bytes, p1);
    out.push({ offset: p, dataStart: p2, dataEnd: p2 + size, count });
    p = p2 + size + 16;
  }
  return out;
}

function asInprogress(path: string): string {
  const p = path + ".inprogress";
  Deno.renameSync(path, p);
  return p;
}

async function recordsOf(path: string) {
  return await readWithAvsc(path);
}

/** Runs `chanrelay inspect ARGS… PATH` as a process. */
function inspectCli(args: string[], path: string): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", "main.ts", "inspect", ...args, path],
    stdout: "piped",
    stderr: "piped",
    cwd: new URL("../../../", import.meta.url).pathname,
  }).output();
}

function setup(n = 400) {
  const dir = tempDir("chanrelay-recover-");
  return { dir, done: () => Deno.removeSync(dir, { recursive: true }), n };
}

Deno.test("recover truncates a truncated last block and finalizes the file", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 400);
  const bytes = Deno.readFileSync(path);
  const bl = blocks(bytes);
  const last = bl.at(-1)!;
  const cut = asInprogress(path);
  Deno.truncateSync(cut, last.dataStart + 10);
  const r = await recoverFile(cut);
  assert.equal(r.action, "repaired");
  assert.equal(r.finalPath, path);
  assert.equal(Deno.statSync(path).size, last.offset);
  assert.throws(() => Deno.statSync(cut));
  const recs = await recordsOf(path);
  assert.equal(recs.length, 400 - last.count);
  assert.equal(checkSynthetic(recs, 0, MAX_LEN), null);
  assert.match(r.message, /truncated/);
  done();
});

Deno.test("recover removes trailing zeros and a garbage tail", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 200);
  const size = Deno.statSync(path).size;
  Deno.writeFileSync(path, new Uint8Array(1 << 20), { append: true });
  let r = await recoverFile(path);
  assert.equal(r.action, "repaired");
  assert.equal(r.scan!.tail, "zeros");
  assert.equal(Deno.statSync(path).size, size);
  const garbage = crypto.getRandomValues(new Uint8Array(5000));
  garbage[0] = 0x55; // not 0: a garbage block header, not an open block
  Deno.writeFileSync(path, garbage, { append: true });
  r = await recoverFile(path);
  assert.equal(r.action, "repaired");
  assert.ok(r.scan!.damage !== null);
  assert.equal(Deno.statSync(path).size, size);
  assert.equal((await recordsOf(path)).length, 200);
  r = await recoverFile(path);
  assert.equal(r.action, "clean");
  done();
});

Deno.test("recover drops a torn block whose framing is valid but whose records are garbage", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 400);
  const bytes = Deno.readFileSync(path);
  const last = blocks(bytes).at(-1)!;
  bytes.set(
    crypto.getRandomValues(new Uint8Array(last.dataEnd - last.dataStart)),
    last.dataStart,
  );
  Deno.writeFileSync(path, bytes);
  // every reader would return garbage here; recovery must see it
  const r = await recoverFile(path);
  assert.equal(r.action, "repaired");
  assert.match(r.scan!.damage!.reason, /does not decode|seq discontinuity|seq goes backwards/);
  assert.equal(Deno.statSync(path).size, last.offset);
  const recs = await recordsOf(path);
  assert.equal(recs.length, 400 - last.count);
  assert.equal(checkSynthetic(recs, 0, MAX_LEN), null);
  done();
});

Deno.test("recover refuses to truncate at a damaged middle block unless forced", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 400);
  const bytes = Deno.readFileSync(path);
  const bl = blocks(bytes);
  assert.ok(bl.length >= 6);
  const victim = bl[2]!;
  bytes[victim.dataEnd + 3]! ^= 0xff; // its sync marker
  Deno.writeFileSync(path, bytes);
  const size = bytes.length;

  const dry = await recoverFile(path, { dryRun: true });
  assert.equal(dry.action, "refused");
  // the next block is found by its own sync marker (the one before it is the damaged one)
  assert.equal(dry.scan!.validAfter, bl[4]!.offset);
  assert.equal(await main(["recover", path]), 65);
  assert.equal(Deno.statSync(path).size, size);
  assert.equal(await main(["inspect", path]), 65);

  assert.equal(await main(["recover", "--force", path]), 0);
  assert.equal(Deno.statSync(path).size, victim.offset);
  const recs = await recordsOf(path);
  assert.equal(recs.length, bl[0]!.count + bl[1]!.count);
  assert.equal(checkSynthetic(recs, 0, MAX_LEN), null);
  done();
});

Deno.test("recover commits the complete records of an open block and drops an incomplete one", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 400);
  const bytes = Deno.readFileSync(path);
  const last = blocks(bytes).at(-1)!;
  // turn the last block back into what a writer killed mid-block leaves: zero reserved header,
  // records, no sync marker, preallocated zeros after
  const open = new Uint8Array(last.dataEnd + 65536);
  open.set(bytes.subarray(0, last.dataEnd));
  open.fill(0, last.offset, last.offset + 20);
  assert.equal(last.dataStart, last.offset + 20); // the writer's padded header
  const p = asInprogress(path);
  Deno.writeFileSync(p, open);

  const dry = await recoverFile(p, { dryRun: true });
  assert.equal(dry.salvaged, last.count);
  assert.deepEqual(Deno.readFileSync(p), open);
  const r = await recoverFile(p);
  assert.equal(r.action, "repaired");
  assert.equal(r.salvaged, last.count);
  assert.deepEqual(Deno.readFileSync(path), bytes); // byte for byte what the writer would commit

  // a record whose first byte (written last) is still 0 is incomplete: it and what follows go
  const recs = await recordsOf(path);
  const lastStart = findRecordStart(bytes, last, last.count - 1);
  const torn = new Uint8Array(open);
  torn[lastStart] = 0;
  Deno.writeFileSync(p, torn);
  Deno.removeSync(path);
  const r2 = await recoverFile(p);
  assert.equal(r2.salvaged, last.count - 1);
  const recs2 = await recordsOf(path);
  assert.equal(recs2.length, recs.length - 1);
  assert.equal(checkSynthetic(recs2, 0, MAX_LEN), null);
  done();
});

function findRecordStart(bytes: Uint8Array, block: Block, index: number): number {
  let p = block.dataStart;
  for (let i = 0; i < index; i++) {
    for (let f = 0; f < 3; f++) { // seq, recv_time, then the address string
      let x: number;
      do x = bytes[p++]!; while (x >= 0x80);
    }
    // p is after the address length varint: skip the text
    let q = p - 1;
    while (q > block.dataStart && bytes[q - 1]! >= 0x80) q--;
    const [addrLen] = readVarint(bytes, q);
    p += addrLen;
    let x: number;
    do x = bytes[p++]!; while (x >= 0x80); // port
    const [len, after] = readVarint(bytes, p);
    p = after + len;
  }
  return p;
}

Deno.test("recover removes an in-progress file that never got a header", async () => {
  const { dir, done } = setup();
  const p = `${dir}/x.avro.inprogress`;
  Deno.writeFileSync(p, new Uint8Array(4096));
  const r = await recoverFile(p);
  assert.equal(r.action, "removed");
  assert.throws(() => Deno.statSync(p));
  Deno.writeFileSync(`${dir}/y.avro`, new TextEncoder().encode("not avro at all"));
  assert.equal((await recoverFile(`${dir}/y.avro`)).action, "invalid");
  assert.equal(await main(["recover", `${dir}/y.avro`]), 65);
  assert.equal(await main(["recover", `${dir}/missing.avro`]), 66);
  done();
});

Deno.test("inspect prints records as JSON lines with base64 payloads and reports gaps", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 100);
  const out = await inspectCli(["--records", "--limit", "5"], path);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 5);
  const avsc = await recordsOf(path);
  for (let i = 0; i < 5; i++) {
    assert.equal(lines[i].seq, avsc[i]!.seq);
    assert.equal(lines[i].src_addr, avsc[i]!.src_addr);
    assert.equal(lines[i].payload, btoa(String.fromCharCode(...new Uint8Array(avsc[i]!.payload))));
  }
  assert.match(new TextDecoder().decode(out.stderr), /records:\s+100 in/);

  const j = await inspectCli(["--json"], path);
  const summary = JSON.parse(new TextDecoder().decode(j.stdout).trim().split("\n")[0]!);
  assert.equal(summary.records, 100);
  assert.equal(summary.first_seq, 0);
  assert.equal(summary.last_seq, 99);
  assert.equal(summary.channel, "rc");
  assert.equal(summary.status, "complete");
  assert.equal(summary.missing, 0);
  assert.deepEqual(summary.gaps, []);
  done();
});

Deno.test("inspect lists the seq gaps inside a file: blocks that are not there", async () => {
  const { dir, done } = setup();
  const path = await makeRecording(dir, 400);
  // cut blocks 2 and 5 out of the file: still a valid container file, with two holes in seq
  const bytes = Deno.readFileSync(path);
  const bl = blocks(bytes);
  assert.ok(bl.length > 6);
  const firstSeq = (i: number) => bl.slice(0, i).reduce((n, x) => n + x.count, 0);
  const g1 = { from: firstSeq(2), count: bl[2]!.count };
  const g2 = { from: firstSeq(5), count: bl[5]!.count };
  const next = (i: number) => i + 1 < bl.length ? bl[i + 1]!.offset : bytes.length;
  const kept = [
    bytes.subarray(0, bl[2]!.offset),
    bytes.subarray(next(2), bl[5]!.offset),
    bytes.subarray(next(5)),
  ];
  const holed = new Uint8Array(kept.reduce((n, k) => n + k.length, 0));
  let at = 0;
  for (const k of kept) {
    holed.set(k, at);
    at += k.length;
  }
  Deno.writeFileSync(path, holed);
  assert.equal((await recordsOf(path)).length, 400 - g1.count - g2.count); // avsc reads it
  const gaps = [
    { from: g1.from, to: g1.from + g1.count - 1 },
    { from: g2.from, to: g2.from + g2.count - 1 },
  ];
  const j = await inspectCli(["--json"], path);
  assert.equal(j.code, 0, new TextDecoder().decode(j.stderr));
  const summary = JSON.parse(new TextDecoder().decode(j.stdout).trim().split("\n")[0]!);
  assert.equal(summary.missing, g1.count + g2.count);
  assert.deepEqual(summary.gaps, gaps);
  assert.equal(summary.first_seq, 0);
  assert.equal(summary.last_seq, 399);
  const t = await inspectCli([], path);
  assert.equal(t.code, 0);
  const text = new TextDecoder().decode(t.stdout);
  const listed = gaps.map((g) => `${g.from}..${g.to}`).join(", ");
  assert.match(text, new RegExp(`gaps: +${g1.count + g2.count} seq missing: ${listed}\n`));
  done();
});
