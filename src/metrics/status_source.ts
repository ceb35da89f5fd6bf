/**
 * What the metrics server shows, as an interface (`StatusSource`), and its implementation over a
 * running Supervisor (`supervisorStatusSource`).
 */
import { type ChannelSnapshot, snapshot } from "../channel/stats.ts";
import type { Supervisor } from "../channel/supervisor.ts";
import type { DiskUsage } from "./prometheus.ts";

/** A channel as the server shows it: its counters plus what the supervisor knows. */
export interface StatusChannel extends ChannelSnapshot {
  /** The listen address as written in the config. */
  readonly listen?: string;
  /** Why the channel is not running, if it is not. */
  readonly lastError?: string | null;
}

/** Whether the service is healthy, and if not, why. */
export interface Health {
  readonly ok: boolean;
  readonly reasons: readonly string[];
}

/** Facts about the process. */
export interface StatusInfo {
  readonly version: string;
  readonly pid: number;
  /** When the process started, ms since the epoch. */
  readonly startedMs: number;
  /** The config file, or null when the channels came from flags. */
  readonly configFile: string | null;
  /** The host name, when known. */
  readonly hostname?: string;
}

/** Where the metrics server reads from. Every method is called per request: keep them cheap. */
export interface StatusSource {
  /** Every channel's counters now. */
  snapshots(): readonly StatusChannel[];
  /** Healthy when every channel is up. */
  health(): Health;
  /** Facts about the process. */
  info(): StatusInfo;
  /** Disk use of the recording directories (a cached measurement), if any. */
  diskUsage?(): readonly DiskUsage[];
}

/** The health of a set of channels: ok when there is at least one and every one is running. */
export function channelsHealth(channels: readonly StatusChannel[]): Health {
  if (channels.length === 0) return { ok: false, reasons: ["No channels are configured"] };
  const reasons: string[] = [];
  for (const c of channels) {
    if (c.state === "running") continue;
    const why = c.lastError ? `: ${c.lastError}` : "";
    reasons.push(
      c.state === "backoff"
        ? `Channel "${c.name}" is restarting${why}`
        : `Channel "${c.name}" is ${c.state}${why}`,
    );
  }
  return { ok: reasons.length === 0, reasons };
}

/** Options of `supervisorStatusSource`. */
export interface SupervisorSourceOptions {
  readonly version: string;
  /** The config file, or null when the channels came from flags. */
  readonly configFile: string | null;
  /** When the process started. @default the time of the call */
  readonly startedMs?: number;
  /** Disk use of the recording directories, e.g. `() => diskMonitor.usage()`. */
  readonly diskUsage?: () => readonly DiskUsage[];
}

/** A StatusSource reading the Supervisor's channels (their shared counters: no messages). */
export function supervisorStatusSource(
  supervisor: Supervisor,
  options: SupervisorSourceOptions,
): StatusSource {
  const startedMs = options.startedMs ?? Date.now();
  let hostname: string | undefined;
  try {
    hostname = Deno.hostname();
  } catch {
    hostname = undefined; // no --allow-sys
  }
  const snapshots = (): StatusChannel[] =>
    [...supervisor.channels.values()].map((rt) => ({
      ...snapshot(rt.plan, rt.shared, rt.state, rt.ring),
      listen: rt.plan.listenText,
      lastError: rt.up ? null : rt.lastError,
    }));
  const source: StatusSource = {
    snapshots,
    health: () => channelsHealth(snapshots()),
    info: () => ({
      version: options.version,
      pid: Deno.pid,
      startedMs,
      configFile: options.configFile,
      ...(hostname !== undefined ? { hostname } : {}),
    }),
  };
  if (options.diskUsage !== undefined) source.diskUsage = options.diskUsage;
  return source;
}
