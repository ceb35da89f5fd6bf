import assert from "node:assert/strict";
import { idleBlockingPool, threadPolicy } from "../../../ffi/threads.ts";

Deno.test({
  name: "idleBlockingPool puts Deno's blocking-pool threads under SCHED_IDLE and leaves the others",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await Deno.stat("/"); // an async file op starts the blocking pool
    idleBlockingPool();
    const threads = [...Deno.readDirSync("/proc/self/task")].map((e) => Number(e.name));
    const comm = (tid: number) => Deno.readTextFileSync(`/proc/self/task/${tid}/comm`).trim();
    const pool = threads.filter((t) => comm(t).startsWith("tokio-runtime-w"));
    assert.ok(pool.length > 0, "no blocking-pool thread found");
    for (const t of pool) assert.equal(threadPolicy(t), 5, `thread ${t} is not SCHED_IDLE`);
    assert.equal(threadPolicy(Deno.pid), 0, "the main thread must stay SCHED_OTHER");
    assert.equal(idleBlockingPool(), 0, "a second call changes nothing");
  },
});
