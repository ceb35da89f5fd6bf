import assert from "node:assert/strict";
import { ChannelRecorder } from "../../../src/recorder/channel_recorder.ts";
import type { DatagramRecord } from "../../../src/recorder/avro_schema.ts";
import { canRun, DENO } from "../../helpers/env.ts";
import {
  checkSynthetic,
  expectedPayload,
  payloadLength,
  readWithAvsc,
  tempDir,
} from "./_helpers.ts";

const CHILD = new URL("../../fixtures/recorder/record_child.ts", import.meta.url).pathname;
const MAX_LEN = 1400;
const ROUNDS = 5;

/** Runs the child until it has committed past `minCommits` blocks plus a random extra, then SIGKILLs it. */
async function runAndKill(dir: string, rnd: number): Promise<{ start: number; committed: number }> {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", "--frozen", CHILD, dir, String(MAX_LEN)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let start = -1;
  let committed = -1;
  let commits = 0;
  const target = 20 + Math.floor(rnd * 60);
  const deadline = Date.now() + 20_000;
  try {
    while (commits < target && Date.now() < deadline) {
      const { value, done } = await lines.read();
      if (done) break;
      buf += value;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const [word, num] = line.split(" ");
        if (word === "start") start = Number(num);
        if (word === "committed") {
          committed = Number(num);
          commits++;
        }
      }
    }
    // kill at a moment unrelated to the last report
    await new Promise((r) => setTimeout(r, Math.floor(rnd * 7)));
  } finally {
    child.kill("SIGKILL");
    // what was committed before the kill may have been reported after our last read
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      for (const line of value.split("\n")) {
        const [word, num] = line.split(" ");
        if (word === "committed") committed = Math.max(committed, Number(num));
      }
    }
    await child.status;
  }
  assert.ok(commits >= target, `the child committed only ${commits} blocks`);
  return { start, committed };
}

Deno.test("every committed record survives kill -9 of the recorder, once and byte-exact", async () => {
  const dir = tempDir("chanrelay-kill-");
  let committed = -1;
  const starts: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = await runAndKill(dir, Math.random());
    starts.push(r.start);
    // a restart resumes after everything recovered (committed or salvaged), never below
    assert.ok(r.start > committed, `round ${round} started at ${r.start} <= ${committed}`);
    committed = Math.max(committed, r.committed);
  }
  // recovery as the daemon does it at start
  const rec = await ChannelRecorder.open({ dir, channel: "kill", rotateEvery: 0 });
  await rec.close();
  assert.equal(rec.recovered.length > 0, true);
  for (const r of rec.recovered) assert.ok(r.action === "repaired" || r.action === "removed");
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names.filter((n) => !n.endsWith(".avro")), []);

  const seen = new Map<number, DatagramRecord>();
  for (const n of names) {
    const recs = await readWithAvsc(`${dir}/${n}`);
    if (recs.length === 0) continue;
    assert.equal(checkSynthetic(recs, recs[0]!.seq, MAX_LEN), null, n);
    for (const r of recs) {
      assert.ok(!seen.has(r.seq), `seq ${r.seq} recorded twice`);
      seen.set(r.seq, r);
    }
  }
  assert.equal(starts[0], 0);
  for (let s = 0; s <= committed; s++) {
    const r = seen.get(s);
    assert.ok(r !== undefined, `committed seq ${s} is missing`);
    const want = expectedPayload(s, payloadLength(s, MAX_LEN));
    assert.deepEqual(new Uint8Array(r.payload), want, `seq ${s}`);
  }

  // the other readers read every recovered file without error
  const files = names.map((n) => `${dir}/${n}`);
  const hasPy = new Deno.Command("/usr/bin/python3", { args: ["-c", "import avro.datafile"] })
    .outputSync().success;
  const hasAvrocat = new Deno.Command("sh", { args: ["-c", "command -v avrocat"] }).outputSync()
    .success;
  const name = "every committed record survives kill -9";
  if (!canRun(name, hasPy && hasAvrocat, "python3-avro and avro-bin (Debian)")) return;
  const py = await new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      "import sys, avro.datafile, avro.io\nn = 0\nfor f in sys.argv[1:]:\n    with avro.datafile.DataFileReader(open(f, 'rb'), avro.io.DatumReader()) as r:\n        n += sum(1 for _ in r)\nprint(n)",
      ...files,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
  assert.equal(Number(new TextDecoder().decode(py.stdout).trim()), seen.size);
  for (const f of files) {
    const c = await new Deno.Command("avrocat", { args: [f], stdout: "piped", stderr: "piped" })
      .output();
    assert.equal(c.code, 0, new TextDecoder().decode(c.stderr));
    const lines = new TextDecoder().decode(c.stdout).trim().split("\n").filter((l) => l !== "");
    assert.equal(lines.length, (await readWithAvsc(f)).length, f);
  }
  Deno.removeSync(dir, { recursive: true });
});
