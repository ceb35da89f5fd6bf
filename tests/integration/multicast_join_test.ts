import assert from "node:assert/strict";
import { canRunInNamespace, lastJsonLine, runInNetns } from "../helpers/netns.ts";

interface JoinCounts {
  n: number;
  anySource: Record<string, number>;
  sourceSpecific: Record<string, number>;
  bad: number;
  drops: number;
}

Deno.test({
  name:
    "in a network namespace an any-source join receives both sources and a source-specific join only its source",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    if (!canRunInNamespace(t.name)) return;
    const n = 200;
    const r = await runInNetns(
      new URL("../fixtures/ffi/multicast_join_child.ts", import.meta.url),
      [String(n), "5000"],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.timedOut, false, `child timed out; stderr: ${r.stderr}`);
    const out = lastJsonLine<JoinCounts>(r);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(out.drops, 0, "the kernel dropped datagrams");
    assert.deepEqual(out.anySource, { "127.0.0.1": n, "127.0.0.2": n });
    assert.deepEqual(out.sourceSpecific, { "127.0.0.2": n });
    assert.equal(out.bad, 0, "datagrams with a wrong length, source or sequence");
  },
});
