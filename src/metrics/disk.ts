/**
 * Disk use of the recording directories, measured in the background (a directory walk and `df`
 * every `intervalMs`) so that `/metrics` and `/stats` only read a cached value.
 */
import { diskSpace } from "../config/disk_space.ts";
import type { ChanrelayConfig } from "../config/schema.ts";
import { log } from "../log.ts";
import type { DiskUsage } from "./prometheus.ts";

/** A channel's recording directory. */
export interface RecordDir {
  readonly channel: string;
  readonly path: string;
}

/** The recording directories of the channels that record. */
export function recordDirs(config: ChanrelayConfig): RecordDir[] {
  return Object.values(config.channels)
    .filter((c) => c.record !== undefined && c.record.enabled)
    .map((c) => ({ channel: c.name, path: c.record!.path }));
}

/** Total bytes of the regular files under `dir` (0 when it does not exist). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  let entries: AsyncIterable<Deno.DirEntry>;
  try {
    entries = Deno.readDir(dir);
    for await (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) total += await directoryBytes(p);
      else if (e.isFile) {
        try {
          total += (await Deno.stat(p)).size;
        } catch {
          // removed by retention while we looked
        }
      }
    }
  } catch {
    return total;
  }
  return total;
}

/** Measures the recording directories in the background; `usage()` returns the last result. */
export class DiskMonitor {
  readonly #dirs: () => readonly RecordDir[];
  readonly #intervalMs: number;
  #usage: DiskUsage[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #running: Promise<void> | null = null;
  #closed = false;

  /** `dirs` is called before each measurement (so a reload may change it). */
  constructor(dirs: () => readonly RecordDir[], intervalMs = 10_000) {
    this.#dirs = dirs;
    this.#intervalMs = intervalMs;
  }

  /** Measures now, then every `intervalMs` (the timer does not keep the process alive). */
  start(): Promise<void> {
    if (this.#timer === null && !this.#closed) {
      const timer = setInterval(() => void this.refresh(), this.#intervalMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
    return this.refresh();
  }

  /** Measures every directory once (concurrent calls share one measurement). */
  refresh(): Promise<void> {
    this.#running ??= this.#measure().finally(() => (this.#running = null));
    return this.#running;
  }

  async #measure(): Promise<void> {
    try {
      const dirs = this.#dirs();
      this.#usage = await Promise.all(dirs.map(async (d): Promise<DiskUsage> => {
        const used = await directoryBytes(d.path);
        const space = await diskSpace(await nearestExisting(d.path));
        return {
          channel: d.channel,
          path: d.path,
          usedBytes: used,
          availableBytes: space?.available ?? null,
        };
      }));
    } catch (e) {
      log.limited("disk-monitor", 60_000, "warn", "Cannot measure the recording directories", {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /** The last measurement. */
  usage(): readonly DiskUsage[] {
    return this.#usage;
  }

  /** Stops measuring (idempotent). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}

async function nearestExisting(path: string): Promise<string> {
  let p = path;
  for (let i = 0; i < 256; i++) {
    try {
      await Deno.stat(p);
      return p;
    } catch {
      const cut = p.replace(/\/+$/, "").lastIndexOf("/");
      if (cut < 0) return ".";
      if (cut === 0) return "/";
      p = p.slice(0, cut);
    }
  }
  return ".";
}
