/**
 * Thread priorities. Deno runs `nonblocking` FFI calls and file operations on a pool of
 * "tokio-runtime-w" threads; the recorder's background work (preallocating, prefaulting and
 * zeroing chunks, fdatasync) runs there. On a busy core that work preempts a channel's relay
 * thread for milliseconds at a time. Giving the pool threads the lowest priority (nice 19, about
 * 1.5 % of a core against a nice-0 relay thread that wants it all) keeps them from delaying the
 * relay while still letting them progress on a busy machine (SCHED_IDLE starved them there:
 * rotations came late whenever any other process kept the cores busy).
 */
import { libc } from "./libc.ts";

const PRIO_PROCESS = 0; // with a thread id: that thread only (Linux)
const LOWEST = 19;
const done = new Set<number>();

/**
 * Gives every thread of Deno's blocking pool not yet changed the lowest priority (nice 19). Call
 * it now and then (the pool grows on demand). Returns how many threads it changed; 0 off Linux.
 */
export function idleBlockingPool(): number {
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
    if (!comm.startsWith("tokio-runtime-w")) continue;
    if (s.setpriority(PRIO_PROCESS, tid, LOWEST) === 0) {
      done.add(tid);
      changed++;
    }
  }
  for (const tid of done) if (!alive.has(tid)) done.delete(tid);
  return changed;
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
export function threadNice(tid: number): number {
  try {
    const f = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`).split(") ")[1]!.split(" ");
    return Number(f[16]); // field 19 "nice", counted from the state field after the comm
  } catch {
    return NaN;
  }
}
