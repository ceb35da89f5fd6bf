/** Shared helpers of the recorder tests: synthetic batches, deterministic payloads, readers. */
import avro from "avsc";
import { DatagramBatch } from "../../../ffi/udp_socket.ts";
import { writeSockaddrIn } from "../../../ffi/structs.ts";
import type { DatagramRecord } from "../../../src/recorder/avro_schema.ts";
import { RECORDER_TUNING } from "../../../src/recorder/channel_recorder.ts";

/** Deterministic payload length of a seq (0..maxLen). */
export function payloadLength(seq: number, maxLen: number): number {
  return (seq * 7919) % (maxLen + 1);
}

/** Writes the deterministic payload of `seq` (length `len`) into `out` at `off`. */
export function fillPayload(out: Uint8Array, off: number, seq: number, len: number): void {
  let x = (seq * 2654435761) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[off + i] = x >>> 24;
  }
}

/** The deterministic payload of `seq`. */
export function expectedPayload(seq: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  fillPayload(b, 0, seq, len);
  return b;
}

/** Sender of `seq` in the synthetic stream: 10.0.x.y:port. */
export function senderOf(seq: number): { ip: number; port: number } {
  return { ip: (10 << 24) | ((seq % 3) << 8) | 1, port: 5000 + (seq % 5) };
}

/** Fills slots 0..n-1 of `batch` with the synthetic datagrams `firstSeq..firstSeq+n-1`. */
export function fillBatch(batch: DatagramBatch, firstSeq: number, n: number, maxLen: number): void {
  for (let i = 0; i < n; i++) {
    const seq = firstSeq + i;
    const len = payloadLength(seq, maxLen);
    fillPayload(batch.data, batch.offset(i), seq, len);
    batch.lengths[i] = len;
    writeSockaddrIn(batch._namesView, i * 16, senderOf(seq));
  }
  batch.count = n;
}

/** A batch for synthetic datagrams of at most `maxLen` bytes. */
export function makeBatch(capacity = 32, maxLen = 2048): DatagramBatch {
  return new DatagramBatch(capacity, Math.max(maxLen, 1));
}

/** Reads every record of a file with avsc's streaming container decoder. */
export function readWithAvsc(path: string): Promise<DatagramRecord[]> {
  return new Promise((resolve, reject) => {
    const out: DatagramRecord[] = [];
    avro.createFileDecoder(path)
      .on("data", (r: DatagramRecord) => out.push(r))
      .on("error", reject)
      .on("end", () => resolve(out));
  });
}

/** Checks that `records` are the synthetic stream from `firstSeq` on, byte for byte. */
export function checkSynthetic(
  records: DatagramRecord[],
  firstSeq: number,
  maxLen: number,
): string | null {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const seq = firstSeq + i;
    if (r.seq !== seq) return `record ${i}: seq ${r.seq}, expected ${seq}`;
    const s = senderOf(seq);
    const addr = `10.0.${seq % 3}.1`;
    if (r.src_addr !== addr || r.src_port !== s.port) {
      return `record ${i}: sender ${r.src_addr}:${r.src_port}`;
    }
    const want = expectedPayload(seq, payloadLength(seq, maxLen));
    const got = new Uint8Array(r.payload);
    if (got.length !== want.length || got.some((b, k) => b !== want[k])) {
      return `record ${i} (seq ${seq}): payload differs`;
    }
  }
  return null;
}

/** A fresh temporary directory. */
export function tempDir(prefix = "chanrelay-rec-"): string {
  return Deno.makeTempDirSync({ prefix });
}

/** Runs `fn` with `RECORDER_TUNING` changed by `changes`, and puts it back afterwards. */
export async function withTuning<T>(
  changes: Partial<typeof RECORDER_TUNING>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = { ...RECORDER_TUNING };
  Object.assign(RECORDER_TUNING, changes);
  try {
    return await fn();
  } finally {
    Object.assign(RECORDER_TUNING, saved);
  }
}
