import assert from "node:assert/strict";
import { idleBlockingPool, threadNice } from "../../../ffi/threads.ts";

Deno.test({
  name: "idleBlockingPool gives Deno's blocking-pool threads nice 19 and leaves the others",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await Deno.stat("/"); // an async file op starts the blocking pool
    idleBlockingPool();
    const threads = [...Deno.readDirSync("/proc/self/task")].map((e) => Number(e.name));
    const comm = (tid: number) => Deno.readTextFileSync(`/proc/self/task/${tid}/comm`).trim();
    const pool = threads.filter((t) => comm(t).startsWith("tokio-runtime-w"));
    assert.ok(pool.length > 0, "no blocking-pool thread found");
    for (const t of pool) assert.equal(threadNice(t), 19, `thread ${t} is not at nice 19`);
    assert.equal(threadNice(Deno.pid), 0, "the main thread keeps its priority");
    assert.equal(idleBlockingPool(), 0, "a second call changes nothing");
  },
});
