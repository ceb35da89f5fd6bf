/**
 * Thread priorities. Deno runs `nonblocking` FFI calls and file operations on a pool of
 * "tokio-runtime-w" threads; the recorder's background work (preallocating, prefaulting and
 * zeroing chunks, fdatasync) runs there. On a busy core that work preempts a channel's relay
 * thread for milliseconds at a time. Putting the pool under SCHED_IDLE lets it use only the CPU
 * the relay threads leave over: the relay is never delayed by it, and if the background falls
 * behind, the recorder drops (and counts) records instead.
 */
import { libc } from "./libc.ts";

const SCHED_IDLE = 5; // Linux
const param = new Uint8Array(8); // struct sched_param { int sched_priority; } (0 for SCHED_IDLE)
const done = new Set<number>();

/**
 * Puts every thread of Deno's blocking pool that is not yet under SCHED_IDLE there. Call it now
 * and then (the pool grows on demand). Returns how many threads it changed; 0 off Linux.
 */
export function idleBlockingPool(): number {
  if (Deno.build.os !== "linux") return 0;
  const s = libc();
  if (s.sched_setscheduler === null || s.sched_setscheduler === undefined) return 0;
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
    if (s.sched_setscheduler(tid, SCHED_IDLE, param) === 0) {
      done.add(tid);
      changed++;
    }
  }
  for (const tid of done) if (!alive.has(tid)) done.delete(tid);
  return changed;
}

/** The scheduling policy of thread `tid` as /proc reports it (Linux), or -1. */
export function threadPolicy(tid: number): number {
  try {
    const f = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`).split(") ")[1]!.split(" ");
    return Number(f[38]); // field 41 "policy", 0-based after the comm
  } catch {
    return -1;
  }
}
