/**
 * The `run` lifecycle: start every channel (with its decimation ring), serve metrics and the status
 * page, report ready (log and sd_notify), log stats, reload on SIGHUP, dump stats on SIGUSR2,
 * rotate recordings on SIGWINCH, ignore SIGUSR1 (Deno would open a debugger on it), stop
 * on SIGINT/SIGTERM with every recording finished.
 */
import { configureLog, log } from "../log.ts";
import type { ChanrelayConfig } from "../config/schema.ts";
import { planAll, type PlanOptions } from "./plan_from_config.ts";
import type { ChannelPlan } from "./plan.ts";
import { type ChannelSnapshot, snapshot, statsFields } from "./stats.ts";
import { type StartFailure, Supervisor } from "./supervisor.ts";
import { CTL } from "./counters.ts";
import { EXIT, ExitError } from "../cli/usage.ts";
import { loadInChild } from "../cli/config_child.ts";
import { VERSION } from "../version.ts";
import { formatIPv4 } from "../../ffi/inet.ts";
import { ignoreSigusr1 } from "../../ffi/signals.ts";
import { lowerHelperThreads, lowerNewHelperThreads } from "../../ffi/threads.ts";
import { DecimatorPool } from "../decimate/pool.ts";
import type { RingHandle } from "../decimate/ring.ts";
import { DiskMonitor, recordDirs } from "../metrics/disk.ts";
import { type MetricsServer, startMetricsServer } from "../metrics/server.ts";
import { supervisorStatusSource } from "../metrics/status_source.ts";
import {
  closeNotifySocket,
  notifyReady,
  notifyReloading,
  notifyStatus,
  notifyStopping,
} from "../service/sd_notify.ts";

/** How the daemon runs. */
export interface DaemonOptions {
  /** The config file, for SIGHUP reloads (null: built from flags, SIGHUP does not reload). */
  configPath: string | null;
  /** Run the channels that start even if some cannot. */
  keepGoing: boolean;
  /** SIGHUP also rotates every recording. */
  rotateOnHup: boolean;
  /** Fault injection and other plan options. */
  planOptions?: PlanOptions;
  /** Called once every channel is ready. */
  onReady?: (d: Daemon) => void | Promise<void>;
  /** Called when a stop begins (before the channels stop). */
  onStopping?: (d: Daemon) => void | Promise<void>;
  /** Called once the channels have stopped (their counters are final). */
  onStopped?: (d: Daemon) => void;
  /** Stop after this many milliseconds (the demo's --duration). */
  stopAfterMs?: number;
}

/** Plans compare equal when a Worker would run the same (JSON of the plan). */
function samePlan(a: ChannelPlan, b: ChannelPlan): boolean {
  return JSON.stringify({ ...a, faultAfter: null }) === JSON.stringify({ ...b, faultAfter: null });
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A running chanrelay: the supervisor plus signals, stats, metrics and reloads. */
export class Daemon {
  /** The channels. */
  readonly supervisor = new Supervisor();
  /** The config in force. */
  config: ChanrelayConfig;
  /** When the daemon started (ms since epoch). */
  readonly startedMs = Date.now();
  readonly #options: DaemonOptions;
  readonly #prev = new Map<string, ChannelSnapshot>();
  readonly #stopped = Promise.withResolvers<number>();
  #stopping = false;
  #statsTimer: ReturnType<typeof setInterval> | null = null;
  #reloading: Promise<void> | null = null;
  #reloadAgain = false;
  readonly #signals: [Deno.Signal, () => void][] = [];
  #pool: DecimatorPool | null = null;
  #metrics: MetricsServer | null = null;
  #disk: DiskMonitor | null = null;
  #helperTimer: ReturnType<typeof setInterval> | null = null;

  constructor(config: ChanrelayConfig, options: DaemonOptions) {
    this.config = config;
    this.#options = options;
  }

  /** The config file path, if any. */
  get configPath(): string | null {
    return this.#options.configPath;
  }

  /** The URL of the status page, or null when it is not served. */
  get metricsUrl(): string | null {
    return this.#metrics?.url ?? null;
  }

  /** Snapshots of every channel. */
  snapshots(): ChannelSnapshot[] {
    return [...this.supervisor.channels.values()].map((rt) =>
      snapshot(rt.plan, rt.shared, rt.state, rt.ring)
    );
  }

  #listen(sig: Deno.Signal, fn: () => void): void {
    try {
      Deno.addSignalListener(sig, fn);
      this.#signals.push([sig, fn]);
    } catch {
      // not supported on this OS: ignore
    }
  }

  #removeSignals(): void {
    for (const [sig, fn] of this.#signals) {
      try {
        Deno.removeSignalListener(sig, fn);
      } catch { /* ignore */ }
    }
    this.#signals.length = 0;
  }

  /** Starts everything, waits for a stop signal, stops; returns the exit code. */
  async run(): Promise<number> {
    const cfg = this.config;
    configureLog({ level: cfg.log.level, format: cfg.log.format });
    log.info("Starting chanrelay", {
      version: VERSION,
      pid: Deno.pid,
      channels: Object.keys(cfg.channels).length,
    });
    this.#listen("SIGINT", () => void this.stop("SIGINT"));
    this.#listen("SIGTERM", () => void this.stop("SIGTERM"));
    this.#listen("SIGHUP", () => {
      if (this.#options.rotateOnHup) this.rotateAll();
      void this.reload();
    });
    this.#listen("SIGUSR2", () => this.dumpStats());
    this.#listen("SIGWINCH", () => this.rotateAll());
    // Deno opens the V8 inspector on SIGUSR1 (a local code-execution hole in a daemon): ignore
    // it once Deno's own handler is in place (it installs it ~500 ms after start)
    for (const ms of [600, 1500, 5000]) {
      const t = setTimeout(() => ignoreSigusr1(), ms);
      Deno.unrefTimer(t);
    }
    const failures = await this.#startChannels(planAll(cfg, this.#options.planOptions ?? {}));
    const total = Object.keys(cfg.channels).length;
    if (failures.length > 0 && (!this.#options.keepGoing || failures.length === total)) {
      await this.supervisor.stopAll(this.#stopDeadline());
      await this.#pool?.close();
      this.#removeSignals();
      throw new ExitError(
        EXIT.CONFIG,
        failures.map((f) => `Channel "${f.channel}" cannot start: ${f.message}`).join("\n"),
      );
    }
    if (!this.#stopping) {
      await this.#startMetrics();
      // background work (the recorder's chunk preparation, V8's compilers and GC) must never
      // preempt a relay thread; V8's threads only now, after every channel's warm-up
      lowerHelperThreads();
      this.#helperTimer = setInterval(() => lowerNewHelperThreads(), 100);
      Deno.unrefTimer(this.#helperTimer);
      log.info("ready", { channels: this.supervisor.channels.size, failed: failures.length });
      notifyReady(this.#statusLine());
      this.#startStats();
      await this.#options.onReady?.(this);
      if (this.#options.stopAfterMs !== undefined) {
        setTimeout(() => void this.stop("duration"), this.#options.stopAfterMs);
      }
    }
    const code = await this.#stopped.promise;
    this.#removeSignals();
    return code;
  }

  /** Starts channels (attaching decimation first); returns and logs the failures. */
  async #startChannels(plans: readonly ChannelPlan[]): Promise<StartFailure[]> {
    const failures: StartFailure[] = [];
    const rings = new Map<string, RingHandle>();
    const startable: ChannelPlan[] = [];
    for (const p of plans) {
      const r = await this.#attachDecimation(p);
      if (typeof r === "string") failures.push({ channel: p.name, stage: "decimate", message: r });
      else {
        if (r !== null) rings.set(p.name, r);
        startable.push(p);
      }
    }
    const started = await this.supervisor.startAll(startable, (name) => rings.get(name) ?? null);
    for (const f of started) if (rings.has(f.channel)) await this.#pool?.detach(f.channel);
    failures.push(...started);
    for (const f of failures) {
      log.error(`Channel "${f.channel}" cannot start: ${f.message}`, {
        channel: f.channel,
        stage: f.stage,
      });
    }
    return failures;
  }

  /** Attaches a channel's decimation: its ring, null without decimation, or the error. */
  async #attachDecimation(p: ChannelPlan): Promise<RingHandle | null | string> {
    if (p.decimate === null) return null;
    this.#pool ??= new DecimatorPool({ workers: this.config.decimate_workers });
    try {
      return await this.#pool.attach(p.name, p.decimate);
    } catch (e) {
      return message(e);
    }
  }

  /** Stop deadline: recording channels get time to commit and finish their files. */
  #stopDeadline(): number {
    return [...this.supervisor.channels.values()].some((rt) => rt.plan.record !== null)
      ? 1800
      : 250;
  }

  async #startMetrics(): Promise<void> {
    this.#disk ??= new DiskMonitor(() => recordDirs(this.config));
    void this.#disk.start();
    const m = this.config.metrics;
    if (m === null || this.#metrics !== null) return;
    const disk = this.#disk;
    const source = supervisorStatusSource(this.supervisor, {
      version: VERSION,
      configFile: this.configPath,
      startedMs: this.startedMs,
      diskUsage: () => disk.usage(),
    });
    try {
      this.#metrics = await startMetricsServer({
        hostname: formatIPv4(m.ip),
        port: m.port,
        source,
      });
    } catch (e) {
      // the relay matters more than the status page: go on without it
      log.warn("Metrics server not started", { error: message(e) });
    }
  }

  #statusLine(): string {
    const snaps = this.snapshots();
    const up = snaps.filter((s) => s.state === "running").length;
    const rx = snaps.reduce((a, s) => a + s.received, 0);
    return `${up}/${snaps.length} channels up, ${rx} datagrams received`;
  }

  #startStats(): void {
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    this.#statsTimer = setInterval(() => this.logStats(), this.config.stats_interval);
  }

  /** Logs one stats line per channel. */
  logStats(): void {
    notifyStatus(this.#statusLine());
    for (const rt of this.supervisor.channels.values()) {
      const cur = snapshot(rt.plan, rt.shared, rt.state, rt.ring);
      log.info("stats", statsFields(cur, this.#prev.get(rt.name) ?? null));
      this.#prev.set(rt.name, cur);
    }
  }

  /** SIGUSR2: every counter of every channel, one line each. */
  dumpStats(): void {
    for (const s of this.snapshots()) {
      log.info("full stats", { channel: s.name, stats: JSON.stringify(s) });
    }
  }

  /** Asks every recording channel to start a new file. */
  rotateAll(): void {
    for (const rt of this.supervisor.channels.values()) {
      if (rt.plan.record !== null) Atomics.add(rt.shared.control, CTL.ROTATE, 1);
    }
  }

  /**
   * SIGHUP: re-reads the config file. New channels start, removed ones stop (their files
   * finished), changed ones restart, untouched ones go on. An invalid config is rejected with its
   * errors logged; the running one stays.
   */
  reload(): Promise<void> {
    if (this.#reloading) {
      // a SIGHUP during a reload: reload once more afterwards, so the newest file wins
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#reloadAgain = false;
        await this.#reload();
      } while (this.#reloadAgain && !this.#stopping);
    })().finally(() => (this.#reloading = null));
    return this.#reloading;
  }

  async #reload(): Promise<void> {
    if (this.#stopping) return;
    const path = this.#options.configPath;
    if (path === null) {
      log.warn("SIGHUP: no config file to reload (channels came from flags)");
      return;
    }
    let next: ChanrelayConfig;
    try {
      next = await loadInChild({ kind: "file", path });
    } catch (e) {
      log.error("Reload rejected: the new config is invalid; the running config stays", {
        file: path,
        errors: message(e),
      });
      return;
    }
    log.info("Reloading", { file: path });
    notifyReloading();
    const plans = new Map(planAll(next).map((p) => [p.name, p]));
    const running = this.supervisor.channels;
    const removed = [...running.keys()].filter((n) => !plans.has(n));
    const changed = [...plans.values()].filter((p) =>
      running.has(p.name) && !samePlan(running.get(p.name)!.plan, p)
    );
    const added = [...plans.values()].filter((p) => !running.has(p.name));
    await Promise.all([...removed, ...changed.map((p) => p.name)].map(async (n) => {
      const ring = running.get(n)?.ring ?? null;
      await this.supervisor.remove(n, 1800);
      if (ring !== null) await this.#pool?.detach(n);
    }));
    const oldInterval = this.config.stats_interval;
    this.config = next;
    configureLog({ level: next.log.level, format: next.log.format });
    const failures = await this.#startChannels([...changed, ...added]);
    if (next.stats_interval !== oldInterval) this.#startStats();
    notifyReady(this.#statusLine());
    log.info("Reloaded", {
      added: added.map((p) => p.name).join(","),
      removed: removed.join(","),
      changed: changed.map((p) => p.name).join(","),
      failed: failures.length,
    });
  }

  /** Stops every channel (recordings finished) and resolves `run()` with exit code 0. */
  async stop(reason: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const t0 = performance.now();
    log.info("Stopping", { signal: reason });
    notifyStopping();
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    await this.#options.onStopping?.(this);
    if (this.#reloading) await this.#reloading.catch(() => {});
    await this.supervisor.stopAll(this.#stopDeadline());
    log.info("Stopped", { ms: Math.round(performance.now() - t0) });
    this.#options.onStopped?.(this);
    await this.#pool?.close();
    await this.#metrics?.close();
    this.#disk?.close();
    closeNotifySocket();
    if (this.#helperTimer !== null) clearInterval(this.#helperTimer);
    this.#stopped.resolve(EXIT.OK);
  }
}
