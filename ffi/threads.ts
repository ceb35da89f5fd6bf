/**
 * Thread priorities. Deno runs `nonblocking` FFI calls and file operations on a pool of
 * "tokio-runtime-w" threads; the recorder's background work (preallocating, prefaulting and
 * zeroing chunks, fdatasync) runs there. V8 compiles optimised code and marks the heap on its own
 * "V8 DefaultWorker" threads. On a busy core that work preempts a channel's relay thread for
 * milliseconds at a time. Giving these helper threads the lowest priority (nice 19, about 1.5 % of
 * a core against a nice-0 relay thread that wants it all) keeps them from delaying the relay while
 * still letting them progress on a busy machine (SCHED_IDLE starved them there: rotations came
 * late whenever any other process kept the cores busy).
 *
 * V8's threads are lowered only once the channels have warmed their code up (warm_up.ts): lowered
 * before, a relay that met full load at once got its optimised code late and lost datagrams.
 *
 * A lower priority alone does not make a waking relay thread run at once: Linux's EEVDF scheduler
 * (6.6+) lets the running thread finish its time slice (1.4 ms on the 2-CPU test machine) first.
 * A thread that asks for a shorter slice (`sched_setattr` with `sched_runtime`, Linux 6.12+)
 * preempts one with a longer slice when it wakes, so the relay threads ask for 0.1 ms:
 * `shortenThisThreadSlice`.
 */
import { C } from "./constants.ts";
import { libc } from "./libc.ts";
import { L } from "./structs.ts";

const PRIO_PROCESS = 0; // with a thread id: that thread only (Linux)
const LOWEST = 19;
const done = new Set<number>();

/** The start of the names (/proc comm, at most 15 bytes) of the threads `lowerHelperThreads` lowers. */
const HELPER_THREADS: readonly string[] = ["tokio-runtime-w", "V8 DefaultWorke"];

/**
 * Gives every helper thread not yet changed (Deno's blocking pool, V8's worker threads) the lowest
 * priority (nice 19). Call it now and then (the pool grows on demand). Returns how many threads it
 * changed; 0 off Linux.
 */
export function lowerHelperThreads(): number {
  if (Deno.build.os !== "linux") return 0;
  const s = libc();
  let changed = 0;
  const alive = new Set<number>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    const tid = Number(e.name);
    alive.add(tid);
    if (done.has(tid)) continue;
    let comm = "";
    try {
      comm = Deno.readTextFileSync(`/proc/self/task/${tid}/comm`).trim();
    } catch {
      continue; // the thread ended
    }
    if (!HELPER_THREADS.some((p) => comm.startsWith(p))) continue;
    if (s.setpriority(PRIO_PROCESS, tid, LOWEST) === 0) {
      done.add(tid);
      changed++;
    }
  }
  for (const tid of done) if (!alive.has(tid)) done.delete(tid);
  return changed;
}

/** The number of threads of this process (Linux: from the link count of /proc/self/task), or NaN. */
export function threadCount(): number {
  try {
    return (Deno.statSync("/proc/self/task").nlink ?? NaN) - 2;
  } catch {
    return NaN;
  }
}

let seenThreads = -1;
let sinceScan = 0;

/**
 * `lowerHelperThreads` for frequent calls (every 100 ms): it scans the threads only when their
 * number changed, or every `fullEvery` calls (a thread that ends and one that starts leave the
 * count as it was). Deno's pool starts threads on demand, and one that starts while a recording
 * begins would otherwise compete with the relay at nice 0 until the next scan.
 */
export function lowerNewHelperThreads(fullEvery = 10): number {
  const n = threadCount();
  if (n === seenThreads && ++sinceScan < fullEvery) return 0;
  seenThreads = n;
  sinceScan = 0;
  return lowerHelperThreads();
}

/**
 * Gives the calling thread the lowest priority (nice 19). Linux only: there, setpriority with
 * who 0 changes the calling thread alone (elsewhere it would change the whole process). Returns
 * whether it did.
 */
export function lowerThisThread(): boolean {
  if (Deno.build.os !== "linux") return false;
  return libc().setpriority(PRIO_PROCESS, 0, LOWEST) === 0;
}

/** The nice value of thread `tid` as /proc reports it (Linux), or NaN. */
export function threadNice(tid: number, pid: number | "self" = "self"): number {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/stat`).split(") ")[1]!.split(" ");
    return Number(f[16]); // field 19 "nice", counted from the state field after the comm
  } catch {
    return NaN;
  }
}

/** The time slice the relay threads ask for: the kernel's minimum for a custom slice. */
export const RELAY_SLICE_NS = 100_000;

let attr: Uint8Array<ArrayBuffer> | undefined;

/**
 * Asks the kernel for a time slice of `ns` nanoseconds for the calling thread, keeping its
 * policy and nice value (Linux; kernels before 6.12 accept and ignore it). Threads under a
 * real-time policy are left alone. Returns whether the slice was set.
 */
export function shortenThisThreadSlice(ns: number): boolean {
  if (C.SYS_sched_setattr < 0) return false;
  const s = libc();
  if (s.syscall === null) return false;
  const a = L.sched_attr;
  attr ??= new Uint8Array(a.size);
  attr.fill(0);
  const view = new DataView(attr.buffer);
  if (s.syscall(BigInt(C.SYS_sched_getattr), 0n, attr, BigInt(a.size), 0n) !== 0) return false;
  const policy = view.getUint32(a.policy, true);
  if (policy !== C.SCHED_NORMAL && policy !== C.SCHED_BATCH) return false;
  view.setUint32(0, a.size, true);
  const flags = Number(view.getBigUint64(a.flags, true)) & C.SCHED_FLAG_RESET_ON_FORK;
  view.setBigUint64(a.flags, BigInt(flags), true);
  view.setBigUint64(a.runtime, BigInt(ns), true);
  return s.syscall(BigInt(C.SYS_sched_setattr), 0n, attr, 0n, 0n) === 0;
}

/** The time slice of thread `tid` in nanoseconds as /proc reports it (Linux 6.6+), or NaN. */
export function threadSlice(tid: number, pid: number | "self" = "self"): number {
  try {
    const m = /^se\.slice\s*:\s*(\d+)/m.exec(
      Deno.readTextFileSync(`/proc/${pid}/task/${tid}/sched`),
    );
    return m === null ? NaN : Number(m[1]);
  } catch {
    return NaN;
  }
}
