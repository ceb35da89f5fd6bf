/**
 * The `run` lifecycle: start every channel, report ready, log stats, reload on SIGHUP, dump stats
 * on SIGUSR1, stop on SIGINT/SIGTERM.
 */
import { log } from "../log.ts";
import { configureLog } from "../log.ts";
import { loadConfigFile } from "../config/load.ts";
import type { ChanrelayConfig } from "../config/schema.ts";
import { planAll, type PlanOptions } from "./plan_from_config.ts";
import type { ChannelPlan } from "./plan.ts";
import { type ChannelSnapshot, snapshot, statsFields } from "./stats.ts";
import { type StartFailure, Supervisor } from "./supervisor.ts";
import { EXIT, ExitError } from "../cli/usage.ts";
import { VERSION } from "../version.ts";

/** How the daemon runs. */
export interface DaemonOptions {
  /** The config file, for SIGHUP reloads (null: built from flags, SIGHUP does not reload). */
  configPath: string | null;
  /** Run the channels that start even if some cannot. */
  keepGoing: boolean;
  /** SIGHUP also rotates recordings. */
  rotateOnHup: boolean;
  /** Fault injection and other plan options. */
  planOptions?: PlanOptions;
  /** Called once every channel is ready. */
  onReady?: (d: Daemon) => void | Promise<void>;
  /** Called when a stop begins (before the channels stop). */
  onStopping?: (d: Daemon) => void | Promise<void>;
  /** Stop after this many milliseconds (the demo's --duration). */
  stopAfterMs?: number;
}

/** Plans compare equal when a Worker would run the same (JSON of the plan). */
function samePlan(a: ChannelPlan, b: ChannelPlan): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A running chanrelay: the supervisor plus signals, stats and reloads. */
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
  readonly #signals: [Deno.Signal, () => void][] = [];

  constructor(config: ChanrelayConfig, options: DaemonOptions) {
    this.config = config;
    this.#options = options;
  }

  /** The config file path, if any. */
  get configPath(): string | null {
    return this.#options.configPath;
  }

  /** Snapshots of every channel. */
  snapshots(): ChannelSnapshot[] {
    return [...this.supervisor.channels.values()].map((rt) =>
      snapshot(rt.plan, rt.shared, rt.state)
    );
  }

  #listen(sig: Deno.Signal, fn: () => void): void {
    try {
      Deno.addSignalListener(sig, fn);
      this.#signals.push([sig, fn]);
    } catch {
      // not supported on this OS (e.g. SIGUSR1 on Windows): ignore
    }
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
    this.#listen("SIGHUP", () => void this.reload());
    this.#listen("SIGUSR1", () => this.dumpStats());

    const plans = planAll(cfg, this.#options.planOptions ?? {});
    const failures = await this.supervisor.startAll(plans);
    for (const f of failures) {
      log.error(`Channel "${f.channel}" cannot start: ${f.message}`, {
        channel: f.channel,
        stage: f.stage,
      });
    }
    if (failures.length > 0 && (!this.#options.keepGoing || failures.length === plans.length)) {
      await this.supervisor.stopAll(250);
      this.#removeSignals();
      throw new ExitError(
        EXIT.CONFIG,
        failures.map((f) => `Channel "${f.channel}" cannot start: ${f.message}`).join("\n"),
      );
    }
    if (!this.#stopping) {
      log.info("ready", { channels: this.supervisor.channels.size, failed: failures.length });
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

  #startStats(): void {
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    this.#statsTimer = setInterval(() => this.logStats(), this.config.stats_interval);
  }

  /** Logs one stats line per channel. */
  logStats(): void {
    for (const rt of this.supervisor.channels.values()) {
      const cur = snapshot(rt.plan, rt.shared, rt.state);
      log.info("stats", statsFields(cur, this.#prev.get(rt.name) ?? null));
      this.#prev.set(rt.name, cur);
    }
  }

  /** SIGUSR1: every counter of every channel, one JSON-valued line each. */
  dumpStats(): void {
    for (const s of this.snapshots()) {
      log.info("full stats", { channel: s.name, stats: JSON.stringify(s) });
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

  /**
   * SIGHUP: re-reads the config file. New channels start, removed ones stop, changed ones restart,
   * untouched ones go on. An invalid config is rejected with its errors logged; the running one stays.
   */
  reload(): Promise<void> {
    if (this.#reloading) return this.#reloading;
    this.#reloading = this.#reload().finally(() => (this.#reloading = null));
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
      next = loadConfigFile(path);
    } catch (e) {
      log.error("Reload rejected: the new config is invalid; the running config stays", {
        file: path,
        errors: e instanceof Error ? e.message : String(e),
      });
      return;
    }
    log.info("Reloading", { file: path });
    const plans = new Map(planAll(next).map((p) => [p.name, p]));
    const running = this.supervisor.channels;
    const removed = [...running.keys()].filter((n) => !plans.has(n));
    const changed = [...plans.values()].filter((p) =>
      running.has(p.name) && !samePlan(running.get(p.name)!.plan, p)
    );
    const added = [...plans.values()].filter((p) => !running.has(p.name));
    await Promise.all(
      [...removed, ...changed.map((p) => p.name)].map((n) => this.supervisor.remove(n, 2000)),
    );
    const failures: StartFailure[] = [];
    for (const p of [...changed, ...added]) {
      const f = await this.supervisor.add(p);
      if (f) failures.push(f);
    }
    for (const f of failures) {
      log.error(`Channel "${f.channel}" cannot start: ${f.message}`, {
        channel: f.channel,
        stage: f.stage,
      });
    }
    const statsChanged = next.stats_interval !== this.config.stats_interval;
    this.config = next;
    configureLog({ level: next.log.level, format: next.log.format });
    if (statsChanged) this.#startStats();
    log.info("Reloaded", {
      added: added.map((p) => p.name).join(","),
      removed: removed.join(","),
      changed: changed.map((p) => p.name).join(","),
      failed: failures.length,
    });
  }

  /** Stops every channel and resolves `run()` with exit code 0. */
  async stop(reason: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const t0 = performance.now();
    log.info("Stopping", { signal: reason });
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    await this.#options.onStopping?.(this);
    if (this.#reloading) await this.#reloading.catch(() => {});
    await this.supervisor.stopAll(250);
    log.info("Stopped", { ms: Math.round(performance.now() - t0) });
    this.#stopped.resolve(EXIT.OK);
  }
}
