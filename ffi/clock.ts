/** Clocks read through clock_gettime, allocation-free. */
import { C } from "./constants.ts";
import { libc } from "./libc.ts";

const ts = new BigInt64Array(2);
const tsBytes = new Uint8Array(ts.buffer);
const tsView = new DataView(ts.buffer);

function read(clock: number): number {
  libc().clock_gettime(clock, tsBytes);
  // timespec: tv_sec (i64) @0, tv_nsec (long) @8; both fit a double as ns below 2^53 (104 days of
  // monotonic uptime would not: use monotonicNsBig for long-lived stamps)
  return (tsView.getUint32(0, true) + tsView.getUint32(4, true) * 4294967296) * 1e9 +
    tsView.getUint32(8, true);
}

/** CLOCK_MONOTONIC in nanoseconds as a number (exact while uptime is below ~104 days). */
export function monotonicNs(): number {
  return read(C.CLOCK_MONOTONIC);
}

/** CLOCK_MONOTONIC in nanoseconds as a bigint (exact always; allocates). */
export function monotonicNsBig(): bigint {
  libc().clock_gettime(C.CLOCK_MONOTONIC, tsBytes);
  return ts[0]! * 1_000_000_000n + ts[1]!;
}

/** Writes CLOCK_MONOTONIC nanoseconds as a little-endian u64 at `offset` of `view`, without allocating. */
export function writeMonotonicNs(view: DataView, offset: number): void {
  libc().clock_gettime(C.CLOCK_MONOTONIC, tsBytes);
  // ns = sec * 1e9 + nsec, computed in two 32-bit halves to stay allocation-free
  const sec = tsView.getUint32(0, true) + tsView.getUint32(4, true) * 4294967296;
  const nsec = tsView.getUint32(8, true);
  const total = sec * 1e9 + nsec; // exact below 2^53 ns (~104 days of uptime)
  view.setUint32(offset, total >>> 0, true);
  view.setUint32(offset + 4, Math.floor(total / 4294967296), true);
}

/** Wall clock in microseconds since the Unix epoch (exact: below 2^53). */
export function realtimeUs(): number {
  libc().clock_gettime(C.CLOCK_REALTIME, tsBytes);
  const sec = tsView.getUint32(0, true) + tsView.getUint32(4, true) * 4294967296;
  return sec * 1e6 + Math.floor(tsView.getUint32(8, true) / 1000);
}
