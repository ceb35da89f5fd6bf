import assert from "node:assert/strict";
import { canRun, canUnshare, DENO, isRoot } from "../../helpers/env.ts";
import { tempDir } from "./_helpers.ts";

const CHILD = new URL("../../fixtures/recorder/enospc_child.ts", import.meta.url).pathname;
const NAME = "recorder survives ENOSPC on a full tmpfs and resumes into a new file";

Deno.test(NAME, async () => {
  if (!canRun(NAME, isRoot() && canUnshare(), "root and unshare -m (mount namespace)")) return;
  const dir = tempDir("chanrelay-enospc-");
  try {
    const out = await new Deno.Command("unshare", {
      args: [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" run -A --frozen "$3" "$1"`,
        "sh",
        dir,
        DENO,
        CHILD,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, err);
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    // the disk filled: datagrams were counted, errors counted, and appends never blocked
    assert.ok(r.full.unrecorded > 0);
    assert.ok(r.full.recordErrors > 0);
    // 300 ms of a full disk: appends go on (thousands of datagrams counted), none waits on I/O
    // (the bound is loose: this box is shared and noisy)
    assert.ok(r.stillFull.unrecorded - r.full.unrecorded > 1000, JSON.stringify(r.stillFull));
    assert.ok(r.maxAppendMs < 1000, `an append took ${r.maxAppendMs} ms`);
    // recording resumed into a new file after space was freed
    assert.ok(r.resumed.files > r.full.files, JSON.stringify(r));
    assert.ok(r.final.records >= r.full.records + 300);
    // every file is valid, seq is contiguous inside each, and the gaps are the unrecorded datagrams
    const files = r.files.filter((f: { records: number }) => f.records > 0)
      .sort((a: { firstSeq: number }, b: { firstSeq: number }) => a.firstSeq - b.firstSeq);
    assert.ok(files.length >= 2);
    let gaps = 0;
    let total = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i];
      assert.equal(f.problem, null, f.name);
      assert.equal(f.lastSeq - f.firstSeq + 1, f.records);
      total += f.records;
      if (i > 0) gaps += f.firstSeq - files[i - 1].lastSeq - 1;
    }
    assert.equal(files[0].firstSeq, 0);
    assert.equal(total, r.final.records);
    assert.equal(gaps + (r.final.nextSeq - 1 - files.at(-1).lastSeq), r.final.unrecorded);
    assert.deepEqual(r.files.filter((f: { name: string }) => !f.name.endsWith(".avro")), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
