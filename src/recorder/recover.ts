/**
 * Recovery of a recording after a crash: validate it from the header on (see `avro_scan.ts`),
 * commit the complete records of an uncommitted block, truncate after the last good data and
 * finalize (`NAME.avro.inprogress` → `NAME.avro`, fsync'd, directory fsync'd). It refuses to
 * truncate when valid blocks follow the damage, unless forced.
 */
import { MappedFile } from "../../ffi/mapped_file.ts";
import { SYNC_SIZE } from "./avro_schema.ts";
import { allZero, RESERVED_HEADER, scanRecording, type ScanResult } from "./avro_scan.ts";
import { AVRO_EXT, INPROGRESS_SUFFIX, uniqueRecordingPath } from "./file_names.ts";
import { PADDED_WIDTH, writePaddedLong } from "./varint.ts";

/** How to recover. */
export interface RecoverOptions {
  /** Only report what would be done. @default false */
  dryRun?: boolean;
  /** Truncate at the damage even when valid blocks follow it. @default false */
  force?: boolean;
  /** Called with the offset reached during the scan. */
  onProgress?: (offset: number, total: number) => void;
}

/** What recovery found and did (or would do, on a dry run). */
export interface RecoveryReport {
  path: string;
  /** Where the file ends up (renamed when it was `.inprogress`), or null when removed/refused. */
  finalPath: string | null;
  /**
   * `clean`: nothing to do; `repaired`: truncated and/or open block committed; `removed`: an
   * in-progress file without any data (no header yet); `refused`: damage followed by valid blocks
   * (no `force`); `invalid`: not a chanrelay recording.
   */
  action: "clean" | "repaired" | "removed" | "refused" | "invalid";
  /** One human-readable sentence. */
  message: string;
  /** The scan (null when the file is empty). */
  scan: ScanResult | null;
  /** Size before and after (after = before on a dry run or refusal). */
  sizeBefore: number;
  /** Logical end the file is (or would be) truncated to. */
  newSize: number;
  /** Records kept (committed + salvaged). */
  records: number;
  /** Records of the open block committed by recovery. */
  salvaged: number;
  /** Whether the file was (or would be) renamed from `.inprogress`. */
  renamed: boolean;
  dryRun: boolean;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** fsync a directory (so a rename in it is durable). */
export async function fsyncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

function finalNameOf(path: string): string | null {
  if (!path.endsWith(INPROGRESS_SUFFIX)) return null;
  const base = path.slice(0, -INPROGRESS_SUFFIX.length);
  const stem = base.endsWith(AVRO_EXT) ? base.slice(0, -AVRO_EXT.length) : base;
  const dir = dirOf(stem);
  const name = stem.slice(dir.length + 1);
  return uniqueRecordingPath(dir, name, new Set(), path);
}

function scanFile(path: string, size: number, options: RecoverOptions): ScanResult {
  const mf = MappedFile.open(path, { readOnly: true });
  try {
    const region = mf.map(0, size);
    try {
      return scanRecording(
        region.bytes,
        options.onProgress ? { onProgress: options.onProgress } : {},
      );
    } finally {
      region.unmap();
    }
  } finally {
    mf.close();
  }
}

function wholeFileZero(path: string, size: number): boolean {
  if (size === 0) return true;
  const mf = MappedFile.open(path, { readOnly: true });
  try {
    const region = mf.map(0, size);
    try {
      return allZero(region.bytes, 0);
    } finally {
      region.unmap();
    }
  } finally {
    mf.close();
  }
}

function fmtSeq(scan: ScanResult): string {
  return scan.firstSeq === null ? "no records" : `seq ${scan.firstSeq}..${scan.lastSeq}`;
}

/** Recovers one file. Throws ErrnoError / Deno errors only when the file cannot be read or written. */
export async function recoverFile(
  path: string,
  options: RecoverOptions = {},
): Promise<RecoveryReport> {
  const dryRun = options.dryRun ?? false;
  const size = (await Deno.stat(path)).size;
  const inprogress = path.endsWith(INPROGRESS_SUFFIX);
  const base = {
    path,
    sizeBefore: size,
    newSize: size,
    records: 0,
    salvaged: 0,
    renamed: false,
    dryRun,
  };
  if (size === 0 || (inprogress && wholeFileZero(path, size))) {
    if (!inprogress) {
      return {
        ...base,
        finalPath: null,
        action: "invalid",
        scan: null,
        message: "empty file: not a recording",
      };
    }
    if (!dryRun) {
      await Deno.remove(path);
      await fsyncDir(dirOf(path));
    }
    return {
      ...base,
      finalPath: null,
      action: "removed",
      scan: null,
      newSize: 0,
      message: `${
        dryRun ? "would remove" : "removed"
      }: in-progress file without a header (no data)`,
    };
  }
  const scan = scanFile(path, size, options);
  if (scan.headerError !== null) {
    return {
      ...base,
      finalPath: null,
      action: "invalid",
      scan,
      message: `not a chanrelay recording: ${scan.headerError}`,
    };
  }
  const open = scan.open;
  const newSize = open !== null ? open.end + SYNC_SIZE : scan.goodEnd;
  const records = scan.records + (open?.records ?? 0);
  const salvaged = open?.records ?? 0;
  if (scan.damage !== null && scan.validAfter !== null && !options.force) {
    return {
      ...base,
      finalPath: null,
      action: "refused",
      scan,
      records,
      salvaged,
      message: `damage at offset ${scan.damage.offset} (${scan.damage.reason}) is followed by a ` +
        `valid block at offset ${scan.validAfter}: truncating would lose it; use --force to ` +
        `truncate at ${newSize} anyway`,
    };
  }
  const changes = newSize !== size || open !== null;
  let finalPath: string | null = path;
  if (inprogress) finalPath = finalNameOf(path);
  if (!dryRun && (changes || inprogress)) {
    const f = await Deno.open(path, { read: true, write: true });
    try {
      if (open !== null) {
        const hdr = new Uint8Array(RESERVED_HEADER);
        writePaddedLong(hdr, 0, open.records);
        writePaddedLong(hdr, PADDED_WIDTH, open.end - open.offset - RESERVED_HEADER);
        await writeAt(f, open.end, scan.header!.sync);
        await writeAt(f, open.offset, hdr);
      }
      if (newSize !== size) await f.truncate(newSize);
      await f.sync();
    } finally {
      f.close();
    }
    if (finalPath !== path && finalPath !== null) {
      await Deno.rename(path, finalPath);
    }
    await fsyncDir(dirOf(path));
  }
  const parts: string[] = [];
  const verb = (done: string, would: string) => dryRun ? would : done;
  parts.push(`${scan.blocks} valid block(s), ${records} record(s), ${fmtSeq(scan)}`);
  if (open !== null) {
    parts.push(
      `${verb("committed", "would commit")} ${salvaged} record(s) of the open block`,
    );
  }
  if (scan.damage !== null) {
    parts.push(`damage at offset ${scan.damage.offset}: ${scan.damage.reason}`);
    if (scan.validAfter !== null) {
      parts.push(`valid block(s) from offset ${scan.validAfter} dropped (--force)`);
    }
  } else if (scan.tail === "zeros") {
    parts.push(`${size - Math.max(newSize, scan.goodEnd)} bytes of unused preallocated space`);
  }
  if (newSize !== size) {
    parts.push(`${verb("truncated", "would truncate")} ${size} → ${newSize} bytes`);
  }
  if (finalPath !== path && finalPath !== null) {
    parts.push(`${verb("renamed", "would rename")} to "${finalPath}"`);
  }
  return {
    ...base,
    finalPath,
    action: changes || inprogress ? "repaired" : "clean",
    scan,
    newSize,
    records,
    salvaged,
    renamed: finalPath !== path,
    message: parts.join("; "),
  };
}

async function writeAt(f: Deno.FsFile, offset: number, bytes: Uint8Array): Promise<void> {
  await f.seek(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < bytes.length) done += await f.write(bytes.subarray(done));
}
