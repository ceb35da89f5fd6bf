/**
 * `check --probe`: tries what `run` would do without sending anything: bind and join each
 * channel's listen address (with SO_REUSEPORT, so a running instance does not make it fail), set
 * the receive buffer, check interface addresses, and check the data directories are writable and
 * have room for the retention settings.
 */
import { ErrnoError } from "../../ffi/errno.ts";
import { isMulticast } from "../../ffi/inet.ts";
import { UdpSocket } from "../../ffi/udp_socket.ts";
import type { ConfigProblem } from "./errors.ts";
import type { LoadedConfig } from "./load.ts";
import { formatKeyPath } from "./load.ts";
import type { ChannelConfig } from "./schema.ts";
import { formatSize, humanSize } from "./units.ts";
import { type DiskSpace, diskSpace } from "./disk_space.ts";

export { type DiskSpace, diskSpace, parseDf } from "./disk_space.ts";
import type { KeyPath } from "./yaml.ts";

/** What a probe found: problems (exit 78), warnings and notes (informational). */
export interface ProbeResult {
  /** Things that would stop `run` or recording. */
  problems: ConfigProblem[];
  /** Things that work but not as configured (a clamped receive buffer, little free space). */
  warnings: ConfigProblem[];
  /** Facts worth printing (free space, directories to be created). */
  notes: string[];
}

/** The nearest existing ancestor of `path` (itself when it exists), and whether it is a dir. */
function nearestExisting(path: string): { path: string; isDir: boolean } {
  let p = path.replace(/\/+$/, "") || "/";
  for (let i = 0; i < 4096; i++) {
    try {
      const st = Deno.statSync(p);
      return { path: p, isDir: st.isDirectory };
    } catch {
      const cut = p.lastIndexOf("/");
      if (cut < 0) p = ".";
      else if (cut === 0) p = "/";
      else p = p.slice(0, cut);
    }
  }
  return { path: ".", isDir: true };
}

function errCode(e: unknown): string {
  return (e as { code?: string })?.code ?? (e instanceof Error ? e.message : String(e));
}

function bytesUnder(dir: string, limit = 100_000): number {
  let total = 0;
  let seen = 0;
  const walk = (d: string) => {
    let entries: Iterable<Deno.DirEntry>;
    try {
      entries = Deno.readDirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      if (++seen > limit) return;
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.isFile) {
        try {
          total += Deno.statSync(p).size;
        } catch {
          // vanished meanwhile
        }
      }
    }
  };
  walk(dir);
  return total;
}

/** Runs every probe of a loaded config. */
export async function probeConfig(loaded: LoadedConfig): Promise<ProbeResult> {
  const result: ProbeResult = { problems: [], warnings: [], notes: [] };
  const at = (path: KeyPath, message: string): ConfigProblem => {
    const p = loaded.locate(path);
    return {
      file: loaded.file,
      line: p.line,
      column: p.column,
      keyPath: formatKeyPath(path),
      message,
    };
  };
  for (const ch of Object.values(loaded.config.channels)) probeChannel(ch, result, at);
  await probeDirectories(loaded, result, at);
  return result;
}

type At = (path: KeyPath, message: string) => ConfigProblem;

function rmemSysctl(bytes: number): string {
  return Deno.build.os === "darwin"
    ? `sysctl -w kern.ipc.maxsockbuf=${Math.ceil((bytes * 8) / 7)}`
    : `sysctl -w net.core.rmem_max=${bytes}`;
}

function probeChannel(ch: ChannelConfig, out: ProbeResult, at: At): void {
  const base = ["channels", ch.name];
  const { listen } = ch;
  let sock: UdpSocket | undefined;
  try {
    sock = UdpSocket.create({ reuseAddr: true, reusePort: true });
    try {
      sock.bind({ ip: listen.ip, port: listen.port });
    } catch (e) {
      out.problems.push(at([...base, "listen"], `Channel "${ch.name}": ${messageOf(e)}`));
      return;
    }
    if (isMulticast(listen.ip)) {
      const iface = ch.interface?.ip ?? 0;
      try {
        if (ch.source) sock.joinSourceGroup(listen.ip, ch.source.ip, iface);
        else sock.joinGroup(listen.ip, iface);
      } catch (e) {
        const key = ch.interface ? "interface" : ch.source ? "source" : "listen";
        out.problems.push(at([...base, key], `Channel "${ch.name}": ${messageOf(e)}`));
      }
    }
    try {
      const r = sock.setRecvBuffer(ch.rcvbuf);
      if (r.clamped) {
        const got = r.effective;
        out.warnings.push(at(
          [...base, "rcvbuf"],
          `Channel "${ch.name}": the kernel clamped the receive buffer to ${
            humanSize(got)
          } (asked ${formatSize(ch.rcvbuf)}); raise the limit with "${rmemSysctl(ch.rcvbuf)}"`,
        ));
      }
    } catch (e) {
      out.problems.push(at([...base, "rcvbuf"], `Channel "${ch.name}": ${messageOf(e)}`));
    }
  } catch (e) {
    out.problems.push(at([...base, "listen"], `Channel "${ch.name}": ${messageOf(e)}`));
  } finally {
    sock?.close();
  }
  const ifaces: { path: KeyPath; ip: number; text: string }[] = [];
  if (ch.interface) ifaces.push({ path: [...base, "interface"], ...ch.interface });
  ch.relay.forEach((r, i) => {
    if (r.interface) ifaces.push({ path: [...base, "relay", i, "interface"], ...r.interface });
  });
  if (ch.decimate?.interface) {
    ifaces.push({ path: [...base, "decimate", "interface"], ...ch.decimate.interface });
  }
  for (const f of ifaces) {
    if (f.ip === 0) continue;
    const s = UdpSocket.create({ reuseAddr: true, reusePort: false });
    try {
      s.bind({ ip: f.ip, port: 0 });
    } catch (e) {
      const why = e instanceof ErrnoError ? e.code : messageOf(e);
      out.problems.push(at(
        f.path,
        `Channel "${ch.name}": "${f.text}" is not an address of this host (${why})`,
      ));
    } finally {
      s.close();
    }
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface DirNeed {
  dir: string;
  path: KeyPath;
  channel?: ChannelConfig;
}

async function probeDirectories(loaded: LoadedConfig, out: ProbeResult, at: At): Promise<void> {
  const cfg = loaded.config;
  const needs: DirNeed[] = [{ dir: cfg.data_dir, path: ["data_dir"] }];
  for (const ch of Object.values(cfg.channels)) {
    if (ch.record?.enabled) {
      needs.push({
        dir: ch.record.path,
        path: ["channels", ch.name, "record", "dir"],
        channel: ch,
      });
    }
  }
  // file system (mount point) -> what is stored there
  const byMount = new Map<
    string,
    { space: DiskSpace; keep: number; used: number; channels: string[] }
  >();
  for (const need of needs) {
    const existing = nearestExisting(need.dir);
    if (!existing.isDir) {
      out.problems.push(at(need.path, `"${existing.path}" is not a directory`));
      continue;
    }
    try {
      const probe = Deno.makeTempFileSync({ dir: existing.path, prefix: ".chanrelay-check-" });
      Deno.removeSync(probe);
    } catch (e) {
      const what = existing.path === need.dir.replace(/\/+$/, "")
        ? `Cannot write to "${need.dir}"`
        : `Cannot create "${need.dir}" in "${existing.path}"`;
      out.problems.push(at(need.path, `${what}: ${errCode(e)}`));
      continue;
    }
    if (existing.path !== need.dir.replace(/\/+$/, "")) {
      out.notes.push(`"${need.dir}" does not exist yet; it will be created`);
    }
    const ch = need.channel;
    if (!ch?.record) continue;
    const space = await diskSpace(existing.path);
    if (!space) {
      out.warnings.push(
        at(need.path, `Cannot measure the free space of "${need.dir}" (df failed)`),
      );
      continue;
    }
    const entry = byMount.get(space.mount) ??
      { space, keep: 0, used: 0, channels: [] as string[] };
    byMount.set(space.mount, entry);
    entry.channels.push(ch.name);
    const used = existing.path === need.dir.replace(/\/+$/, "") ? bytesUnder(need.dir) : 0;
    if (ch.record.keep_size !== undefined) {
      entry.keep += ch.record.keep_size;
      entry.used += Math.min(used, ch.record.keep_size);
    } else if (space.available < ch.record.rotate_size * 2) {
      out.warnings.push(at(
        [...need.path.slice(0, -1), "rotate_size"],
        `Channel "${ch.name}": only ${humanSize(space.available)} free on "${space.mount}", ` +
          `less than two files of rotate_size (${formatSize(ch.record.rotate_size)})`,
      ));
    }
  }
  for (const [mount, e] of byMount) {
    out.notes.push(
      `${humanSize(e.space.available)} free on "${mount}" (recording: ${e.channels.join(", ")})`,
    );
    if (e.keep > 0 && e.keep > e.space.available + e.used) {
      const first = e.channels.find((n) => cfg.channels[n]?.record?.keep_size !== undefined)!;
      out.problems.push(at(
        ["channels", first, "record", "keep_size"],
        `keep_size totals ${humanSize(e.keep)} on "${mount}" but only ${
          humanSize(e.space.available)
        } is free (plus ${humanSize(e.used)} already recorded)`,
      ));
    }
  }
}
