/**
 * A full disk under `chanrelay run`, in a mount namespace with an 8 MiB tmpfs (and a private
 * network): relaying goes on untouched, recording stops with counted and logged errors, and
 * resumes into a new file once space is freed. The work happens in enospc_child.ts, which sees the
 * tmpfs; this test checks what it reports.
 */
import assert from "node:assert/strict";
import {
  canRunInNamespace,
  lastJsonLine,
  NETNS_LOOPBACK_SETUP,
  runUnshared,
  shellQuote,
} from "../helpers/netns.ts";
import { canReadEverywhere } from "../helpers/avro_readers.ts";

const CHILD = new URL("../fixtures/recording/enospc_child.ts", import.meta.url);
const NAME =
  "a full disk stops recording but not relaying; recording resumes into a new file when space returns";

interface Summary {
  sent: number;
  delivered: number;
  recorded: number;
  unrecorded: number;
  recordErrors: number;
  errorLines: number;
  gaps: [number, number][];
  files: { name: string; records: number; firstSeq: number }[];
}

Deno.test(NAME, async () => {
  if (!canRunInNamespace(NAME) || !canReadEverywhere(NAME)) return;
  const dir = Deno.makeTempDirSync({ prefix: "chanrelay-enospc-e2e-" });
  try {
    const r = await runUnshared(
      ["-m", "--propagation", "private", "-n"],
      [...NETNS_LOOPBACK_SETUP, `mount -t tmpfs -o size=8m tmpfs ${shellQuote(dir)}`],
      CHILD,
      [dir],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, `child failed (code ${r.code}, timed out ${r.timedOut}):\n${r.stderr}`);
    const s = lastJsonLine<Summary>(r);
    // every datagram reached the destination; the recording holds all but the unrecorded ones
    assert.equal(s.delivered, s.sent);
    assert.equal(s.recorded + s.unrecorded, s.sent);
    assert.ok(s.unrecorded > 0 && s.recordErrors > 0);
    assert.ok(s.gaps.length >= 1);
    assert.ok(s.files.filter((f) => f.records > 0).length >= 2);
    console.log(
      `sent ${s.sent}, recorded ${s.recorded}, unrecorded ${s.unrecorded} in gaps ` +
        `${JSON.stringify(s.gaps)}, ${s.recordErrors} record errors, ${s.errorLines} error lines`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
