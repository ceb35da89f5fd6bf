/** `chanrelay inspect FILE…`: what a recording holds (header, counts, seq and time ranges, damage). */
import { Buffer } from "node:buffer";
import type { Command } from "./command.ts";
import { bool, num, parseFlags } from "./flags.ts";
import { EXIT, UsageError } from "./usage.ts";
import { MappedFile } from "../../ffi/mapped_file.ts";
import { type RecordView, scanRecording, type ScanResult } from "../recorder/avro_scan.ts";
import { META } from "../recorder/avro_schema.ts";

const NAME = "inspect";

const HELP = `chanrelay inspect: show what recordings hold

Usage: chanrelay inspect FILE… [--records [--limit N]] [--json]

For each file: size, schema, codec and chanrelay metadata (channel, host, version, first seq,
start time), blocks and records, seq range and the seq numbers missing in it (gaps: datagrams
counted but not recorded, from the header's first seq on), receive-time range, and whether it
is complete, still in progress (records of an open block, preallocated space) or damaged.
Across the files given, missing seq ranges between them are listed too. Every record is
validated (the same deep scan as "chanrelay recover"), read through a read-only mmap.

Options:
  --records    Print the records as JSON lines on stdout instead of the summary (which goes to
               stderr): {"seq","recv_time" (µs since the epoch),"time" (ISO 8601),"src_addr",
               "src_port","length","payload" (base64)}
  --limit N    With --records: at most N records per file
  --json       The summary as one JSON object per file (plus one {"gaps": …} line)

Exit status: 0, or 65 when a file is damaged or not a chanrelay recording, 66 when one cannot be
opened.`;

const FLAGS = {
  records: { type: "boolean" },
  limit: { type: "string" },
  json: { type: "boolean" },
} as const;

const BIG_FILE = 64 << 20;

/** A progress bar on stderr for a big file when stderr is a terminal (else undefined). */
export function progressReporter(
  path: string,
): ((offset: number, total: number) => void) | undefined {
  let size = 0;
  try {
    size = Deno.statSync(path).size;
  } catch {
    return undefined;
  }
  if (size < BIG_FILE || !Deno.stderr.isTerminal()) return undefined;
  const enc = new TextEncoder();
  const name = path.length > 30 ? "…" + path.slice(-29) : path;
  return (offset, total) => {
    const frac = total > 0 ? offset / total : 1;
    const width = 30;
    const done = Math.round(frac * width);
    const bar = "#".repeat(done) + ".".repeat(width - done);
    const end = offset >= total ? "\r\x1b[K" : "";
    const line = `\r${name} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% of ${
      (total / 1048576).toFixed(0)
    } MiB${end}`;
    Deno.stderr.writeSync(enc.encode(offset >= total ? "\r\x1b[K" : line));
  };
}

/** ISO 8601 with microseconds. */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  const micros = String(((us % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, "0");
  return iso.slice(0, 19) + "." + micros + "Z";
}

function status(s: ScanResult): string {
  if (s.headerError !== null) return `not a chanrelay recording: ${s.headerError}`;
  if (s.damage !== null) {
    return `damaged at offset ${s.damage.offset}: ${s.damage.reason}` +
      (s.validAfter !== null ? ` (valid blocks follow at ${s.validAfter})` : "");
  }
  if (s.open !== null || s.tail === "zeros") {
    return "in progress (not finalized)" +
      (s.open !== null ? `: ${s.open.records} record(s) in an uncommitted block` : "") +
      (s.tail === "zeros" ? "; preallocated space follows" : "");
  }
  return "complete";
}

function summaryJson(path: string, s: ScanResult): Record<string, unknown> {
  const meta = s.header?.meta ?? {};
  return {
    file: path,
    size: s.size,
    schema: meta["avro.schema"] ? JSON.parse(meta["avro.schema"]) : null,
    codec: meta["avro.codec"] ?? null,
    channel: meta[META.channel] ?? null,
    host: meta[META.host] ?? null,
    version: meta[META.version] ?? null,
    header_first_seq: meta[META.firstSeq] !== undefined ? Number(meta[META.firstSeq]) : null,
    start_time: meta[META.startTime] ?? null,
    blocks: s.blocks,
    records: s.records + (s.open?.records ?? 0),
    uncommitted_records: s.open?.records ?? 0,
    first_seq: s.firstSeq,
    last_seq: s.lastSeq,
    missing: s.missing,
    gaps: s.gaps,
    first_time: s.minTimeUs === null ? null : isoMicros(s.minTimeUs),
    last_time: s.maxTimeUs === null ? null : isoMicros(s.maxTimeUs),
    data_end: s.open !== null ? s.open.end : s.goodEnd,
    status: status(s),
    damage: s.damage,
    valid_after_damage: s.validAfter,
  };
}

/** "none", or how many seq numbers are missing and where (from the header's first seq on). */
function gapsText(s: ScanResult): string {
  if (s.missing === 0) return "none";
  const shown = s.gaps.slice(0, 10).map((g) =>
    g.from === g.to ? `${g.from}` : `${g.from}..${g.to}`
  );
  const more = s.gaps.length > shown.length ? ", …" : "";
  return `${s.missing} seq missing: ${shown.join(", ")}${more}`;
}

function summaryText(path: string, s: ScanResult): string {
  const j = summaryJson(path, s);
  const lines = [`${path}`, `  size:       ${s.size} bytes`];
  if (s.header !== null) {
    const schema = j.schema as { namespace?: string; name?: string } | null;
    lines.push(
      `  schema:     ${schema?.namespace ? schema.namespace + "." : ""}${schema?.name ?? "?"}, ` +
        `codec ${j.codec ?? "null"}`,
      `  channel:    ${j.channel ?? "-"} (host ${j.host ?? "-"}, chanrelay ${j.version ?? "-"})`,
      `  started:    ${j.start_time ?? "-"}, first seq ${j.header_first_seq ?? "-"}`,
      `  records:    ${j.records} in ${s.blocks} block(s)` +
        (s.open !== null ? ` (+ ${s.open.records} uncommitted)` : ""),
      `  seq:        ${s.firstSeq === null ? "-" : `${s.firstSeq}..${s.lastSeq}`}`,
      `  gaps:       ${gapsText(s)}`,
      `  time:       ${j.first_time ?? "-"} .. ${j.last_time ?? "-"}`,
    );
  }
  lines.push(`  status:     ${j.status}`);
  return lines.join("\n");
}

/** The `inspect` command. */
export const command: Command = {
  name: NAME,
  summary: "Show what recordings hold (metadata, counts, seq/time ranges, damage)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const f = parseFlags(NAME, args, FLAGS, true);
    if (f.positionals.length === 0) throw new UsageError(NAME, "Name at least one FILE");
    const records = bool(f, "records");
    const json = bool(f, "json");
    const limit = num(NAME, f, "limit", { min: 0 });
    if (limit !== undefined && !records) throw new UsageError(NAME, "--limit needs --records");
    const enc = new TextEncoder();
    const out = (s: string) => Deno.stdout.writeSync(enc.encode(s));
    const report = (s: string) => (records ? console.error(s) : console.log(s));
    let code: number = EXIT.OK;
    const ranges: { first: number; last: number; path: string }[] = [];
    for (const path of f.positionals) {
      let size: number;
      try {
        size = (await Deno.stat(path)).size;
      } catch (e) {
        console.error(`chanrelay inspect: Cannot open "${path}": ${(e as Error).message}`);
        code = Math.max(code, EXIT.NOINPUT);
        continue;
      }
      let scan: ScanResult;
      const progress = progressReporter(path);
      const lines: string[] = [];
      let pending = 0;
      const onRecord = (r: RecordView) => {
        const payload = Buffer.from(
          r.buf.buffer,
          r.buf.byteOffset + r.payloadStart,
          r.payloadLength,
        )
          .toString("base64");
        const addr = Buffer.from(r.buf.buffer, r.buf.byteOffset + r.addrStart, r.addrLength)
          .toString("utf8");
        lines.push(JSON.stringify({
          seq: r.seq,
          recv_time: r.recvTimeUs,
          time: isoMicros(r.recvTimeUs),
          src_addr: addr,
          src_port: r.port,
          length: r.payloadLength,
          payload,
        }));
        pending += lines[lines.length - 1]!.length;
        if (pending > 1 << 20) {
          out(lines.join("\n") + "\n");
          lines.length = 0;
          pending = 0;
        }
      };
      if (size === 0) {
        scan = scanRecording(new Uint8Array(0));
      } else {
        const mf = MappedFile.open(path, { readOnly: true });
        try {
          const region = mf.map(0, size);
          try {
            scan = scanRecording(region.bytes, {
              ...(records ? { onRecord } : {}),
              ...(limit !== undefined ? { recordLimit: limit } : {}),
              ...(progress ? { onProgress: progress } : {}),
            });
          } finally {
            region.unmap();
          }
        } finally {
          mf.close();
        }
      }
      if (lines.length > 0) out(lines.join("\n") + "\n");
      if (json) report(JSON.stringify(summaryJson(path, scan)));
      else report(summaryText(path, scan));
      if (scan.headerError !== null || scan.damage !== null) code = Math.max(code, EXIT.DATAERR);
      if (scan.firstSeq !== null && scan.lastSeq !== null) {
        ranges.push({ first: scan.firstSeq, last: scan.lastSeq, path });
      }
    }
    ranges.sort((a, b) => a.first - b.first);
    const gaps: { from: number; to: number; count: number }[] = [];
    for (let i = 1; i < ranges.length; i++) {
      const prev = ranges[i - 1]!;
      const cur = ranges[i]!;
      if (cur.first > prev.last + 1) {
        gaps.push({ from: prev.last + 1, to: cur.first - 1, count: cur.first - prev.last - 1 });
      }
    }
    if (ranges.length > 1 || gaps.length > 0) {
      if (json) report(JSON.stringify({ gaps }));
      else {
        report(
          gaps.length === 0
            ? `seq across files: ${ranges[0]!.first}..${ranges.at(-1)!.last}, no gaps`
            : `seq gaps across files: ${
              gaps.map((g) => `${g.from}..${g.to} (${g.count} missing)`).join(", ")
            }`,
        );
      }
    }
    return code;
  },
};
