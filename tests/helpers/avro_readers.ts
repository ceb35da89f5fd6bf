/**
 * Reading chanrelay recordings with every reader the project promises to be compatible with: avsc
 * (in process), Apache Avro's Python reader (Debian `python3-avro`, run with `/usr/bin/python3`),
 * and Avro C's `avrocat` and `avropipe` (Debian `avro-bin`). `readEverywhere` reads files with all
 * four and throws when any reader fails or disagrees with avsc.
 */
import avro from "avsc";
import { canRun } from "./env.ts";
import { decodeHeader, META } from "../../src/recorder/avro_schema.ts";

/** One record as a reader returned it. */
export interface ReadRecord {
  seq: number;
  /** µs since the epoch. */
  recvTime: number;
  srcAddr: string;
  srcPort: number;
  payload: Uint8Array;
}

/** A file read by every reader (records as avsc read them; the others agreed). */
export interface ReadFile {
  path: string;
  /** Header metadata. */
  meta: Record<string, string>;
  /** `chanrelay.first_seq` of the header. */
  firstSeq: number;
  /** `chanrelay.start_time` of the header, ms since the epoch. */
  startMs: number;
  records: ReadRecord[];
}

/** The Python interpreter that has Debian's python3-avro (not a pyenv python3 on PATH). */
export const SYSTEM_PYTHON = "/usr/bin/python3";

const td = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  return { code: r.code, out: td.decode(r.stdout), err: td.decode(r.stderr) };
}

function works(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null", stdin: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

let missingCache: string[] | undefined;

/** The readers that are not installed here (empty when all are). */
export function missingReaders(): string[] {
  if (missingCache !== undefined) return missingCache;
  const missing: string[] = [];
  if (!works(SYSTEM_PYTHON, ["-c", "import avro.datafile, avro.io"])) {
    missing.push("python3-avro (/usr/bin/python3)");
  }
  if (!works("sh", ["-c", "command -v avrocat && command -v avropipe"])) {
    missing.push("avro-bin (avrocat, avropipe)");
  }
  missingCache = missing;
  return missing;
}

/**
 * Whether every reader is installed: in CI a missing one fails the test; elsewhere it prints why
 * the test is skipped and returns false.
 */
export function canReadEverywhere(testName: string): boolean {
  const missing = missingReaders();
  return canRun(testName, missing.length === 0, `the Avro readers ${missing.join(" and ")}`);
}

/** The header metadata of a recording (throws when there is no valid header). */
export function readMeta(path: string): Record<string, string> {
  const f = Deno.openSync(path, { read: true });
  try {
    const buf = new Uint8Array(64 << 10);
    let n = 0;
    for (;;) {
      const r = f.readSync(buf.subarray(n));
      if (r === null || r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    const h = decodeHeader(buf.subarray(0, n));
    if (!h.ok) throw new Error(`"${path}" has no valid Avro header: ${h.reason}`);
    return h.header.meta;
  } finally {
    f.close();
  }
}

/** Reads every record of a file with avsc's streaming container decoder. */
export function readWithAvsc(path: string): Promise<ReadRecord[]> {
  return new Promise((resolve, reject) => {
    const out: ReadRecord[] = [];
    avro.createFileDecoder(path)
      .on(
        "data",
        (
          r: {
            seq: number;
            recv_time: number;
            src_addr: string;
            src_port: number;
            payload: Uint8Array;
          },
        ) =>
          out.push({
            seq: r.seq,
            recvTime: r.recv_time,
            srcAddr: r.src_addr,
            srcPort: r.src_port,
            payload: new Uint8Array(r.payload),
          }),
      )
      .on("error", (e: unknown) => reject(new Error(`avsc cannot read "${path}": ${String(e)}`)))
      .on("end", () => resolve(out));
  });
}

// python3-avro returns timestamp-micros as an aware datetime: turn it back into exact µs
const PY_READER = `
import sys, json, base64, datetime, avro.datafile, avro.io
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def micros(t):
    if isinstance(t, datetime.datetime):
        return (t - EPOCH) // datetime.timedelta(microseconds=1)
    return t
out = sys.stdout
for i, f in enumerate(sys.argv[1:]):
    with avro.datafile.DataFileReader(open(f, "rb"), avro.io.DatumReader()) as r:
        for d in r:
            out.write(json.dumps([i, d["seq"], micros(d["recv_time"]), d["src_addr"],
                                  d["src_port"], base64.b64encode(d["payload"]).decode()]) + "\\n")
`;

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new Error(`byte string has a character above U+00FF: ${c}`);
    out[i] = c;
  }
  return out;
}

/** Reads files with Apache Avro's Python reader in one interpreter; returns each file's records. */
export async function readWithPython(paths: readonly string[]): Promise<ReadRecord[][]> {
  const out: ReadRecord[][] = paths.map(() => []);
  if (paths.length === 0) return out;
  const r = await run(SYSTEM_PYTHON, ["-c", PY_READER, ...paths]);
  if (r.code !== 0) {
    throw new Error(`python3-avro failed (exit ${r.code}) on ${paths.join(" ")}:\n${r.err}`);
  }
  for (const line of r.out.split("\n")) {
    if (line === "") continue;
    const [i, seq, recvTime, srcAddr, srcPort, b64] = JSON.parse(line);
    out[i]!.push({ seq, recvTime, srcAddr, srcPort, payload: fromBase64(b64) });
  }
  return out;
}

/** Reads a file with avrocat, whose JSON cuts a bytes value at its first 0x00. */
export async function readWithAvrocat(path: string): Promise<ReadRecord[]> {
  const r = await run("avrocat", [path]);
  if (r.code !== 0) throw new Error(`avrocat failed (exit ${r.code}) on "${path}":\n${r.err}`);
  const out: ReadRecord[] = [];
  for (const line of r.out.split("\n")) {
    if (line === "") continue;
    const o = JSON.parse(line);
    out.push({
      seq: o.seq,
      recvTime: o.recv_time,
      srcAddr: o.src_addr,
      srcPort: o.src_port,
      payload: fromLatin1(o.payload),
    });
  }
  return out;
}

/** Reads a file with avropipe (one `/N/field<TAB>JSON` line per value; bytes shown whole). */
export async function readWithAvropipe(path: string): Promise<ReadRecord[]> {
  const r = await run("avropipe", [path]);
  if (r.code !== 0) throw new Error(`avropipe failed (exit ${r.code}) on "${path}":\n${r.err}`);
  const rows: Record<string, unknown>[] = [];
  for (const line of r.out.split("\n")) {
    const m = /^\/(\d+)\/(\w+)\t(.*)$/.exec(line);
    if (!m) continue;
    const i = Number(m[1]);
    rows[i] ??= {};
    rows[i]![m[2]!] = JSON.parse(m[3]!);
  }
  return rows.map((o) => ({
    seq: o.seq as number,
    recvTime: o.recv_time as number,
    srcAddr: o.src_addr as string,
    srcPort: o.src_port as number,
    payload: fromLatin1(o.payload as string),
  }));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The bytes before the first 0x00 (what avrocat shows of a bytes value). */
export function untilZero(b: Uint8Array): Uint8Array {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

function compare(
  reader: string,
  path: string,
  want: readonly ReadRecord[],
  got: readonly ReadRecord[],
  options: { payloadUntilZero?: boolean } = {},
): void {
  if (got.length !== want.length) {
    throw new Error(`${reader} read ${got.length} records of "${path}", avsc ${want.length}`);
  }
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    const payload = options.payloadUntilZero ? untilZero(w.payload) : w.payload;
    const bad = g.seq !== w.seq
      ? "seq"
      : g.srcAddr !== w.srcAddr
      ? "src_addr"
      : g.srcPort !== w.srcPort
      ? "src_port"
      : g.recvTime !== w.recvTime
      ? "recv_time"
      : !sameBytes(g.payload, payload)
      ? "payload"
      : null;
    if (bad !== null) {
      throw new Error(
        `${reader} and avsc disagree on record ${i} (seq ${w.seq}) of "${path}": ${bad}`,
      );
    }
  }
}

/**
 * Reads `paths` with avsc, python3-avro, avrocat and avropipe; throws (naming the reader, the file
 * and the record) when one fails or disagrees with avsc. Returns the files with their header
 * metadata and the records. Call `canReadEverywhere` first.
 */
export async function readEverywhere(paths: readonly string[]): Promise<ReadFile[]> {
  const files: ReadFile[] = [];
  for (const path of paths) {
    const meta = readMeta(path);
    files.push({
      path,
      meta,
      firstSeq: Number(meta[META.firstSeq]),
      startMs: Date.parse(meta[META.startTime] ?? ""),
      records: await readWithAvsc(path),
    });
  }
  const py = await readWithPython(paths);
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    compare("python3-avro", f.path, f.records, py[i]!);
    compare("avrocat", f.path, f.records, await readWithAvrocat(f.path), {
      payloadUntilZero: true,
    });
    compare("avropipe", f.path, f.records, await readWithAvropipe(f.path));
  }
  return files;
}
