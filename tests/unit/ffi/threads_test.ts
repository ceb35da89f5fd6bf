import assert from "node:assert/strict";
import { lowerHelperThreads, RELAY_SLICE_NS, threadNice } from "../../../ffi/threads.ts";
import { DENO, ROOT } from "../../helpers/env.ts";

const IS_LINUX = Deno.build.os === "linux";

function comm(tid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/self/task/${tid}/comm`).trim();
  } catch {
    return ""; // the thread ended
  }
}

function threads(): number[] {
  return [...Deno.readDirSync("/proc/self/task")].map((e) => Number(e.name));
}

Deno.test({
  name:
    "lowerHelperThreads gives the blocking pool and V8's worker threads nice 19, not the others",
  ignore: !IS_LINUX,
  async fn() {
    await Deno.stat("/"); // an async file op starts the blocking pool
    lowerHelperThreads();
    const of = (prefix: string) => threads().filter((t) => comm(t).startsWith(prefix));
    const helpers = [...of("tokio-runtime-w"), ...of("V8 DefaultWorke")];
    assert.ok(of("tokio-runtime-w").length > 0, "no blocking-pool thread found");
    assert.ok(of("V8 DefaultWorke").length > 0, "no V8 worker thread found");
    for (const t of helpers) assert.equal(threadNice(t), 19, `${comm(t)} ${t} is not at nice 19`);
    assert.equal(threadNice(Deno.pid), 0, "the main thread keeps its priority");
    assert.equal(lowerHelperThreads(), 0, "a second call changes nothing");
  },
});

/** Runs `code` in a child Deno (under `wrap`, e.g. chrt), returns its JSON output. */
async function child(code: string, wrap: string[] = []): Promise<Record<string, number | boolean>> {
  const [cmd, ...pre] = [...wrap, DENO];
  const out = await new Deno.Command(cmd!, {
    args: [...pre, "eval", code],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

const PROBE = `
import {
  lowerThisThread, shortenThisThreadSlice, threadNice, threadSlice,
} from "${ROOT}ffi/threads.ts";
await Deno.stat("/");
if (LOWER) lowerThisThread();
const niceBefore = threadNice(Deno.pid);
const others = () => [...Deno.readDirSync("/proc/self/task")].map((e) => Number(e.name))
  .filter((t) => t !== Deno.pid).map((t) => threadSlice(t));
const before = threadSlice(Deno.pid);
const othersBefore = others();
const ok = shortenThisThreadSlice(${RELAY_SLICE_NS});
console.log(JSON.stringify({
  ok, before, after: threadSlice(Deno.pid), niceBefore, niceAfter: threadNice(Deno.pid),
  othersChanged: others().filter((s, i) => s !== othersBefore[i]).length,
}));
`;

Deno.test({
  name: "shortenThisThreadSlice gives the calling thread a 0.1 ms slice and keeps its nice value",
  ignore: !IS_LINUX,
  async fn() {
    for (const lower of [false, true]) {
      const r = await child(`const LOWER = ${lower};\n${PROBE}`);
      assert.equal(r.ok, true, `nice ${r.niceBefore}: the call failed`);
      if (lower) assert.equal(r.niceBefore, 19);
      assert.notEqual(r.before, RELAY_SLICE_NS, "the default slice is already 0.1 ms");
      assert.equal(r.after, RELAY_SLICE_NS, `nice ${r.niceBefore}: slice ${r.after}`);
      assert.equal(r.niceAfter, r.niceBefore, "the nice value changed");
      assert.equal(r.othersChanged, 0, "other threads' slices changed");
    }
  },
});

Deno.test({
  name: "shortenThisThreadSlice leaves a real-time thread alone",
  ignore: !IS_LINUX,
  async fn() {
    const r = await child(`const LOWER = false;\n${PROBE}`, ["chrt", "-f", "1"]);
    assert.equal(r.ok, false, "a SCHED_FIFO thread was given a fair-scheduler slice");
  },
});
