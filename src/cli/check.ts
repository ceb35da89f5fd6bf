/** `chanrelay check [--config F] [--probe]`: validates the config (and probes the host). */
import type { Command } from "./command.ts";
import { bool, parseFlags, str } from "./flags.ts";
import { EXIT, UsageError } from "./usage.ts";
import { ConfigError, formatProblem } from "../config/errors.ts";
import { loadConfigFileWithPositions, resolveConfigPath } from "../config/load.ts";
import type { ChannelConfig, ChanrelayConfig } from "../config/schema.ts";

const HELP = `Usage: chanrelay check [--config FILE] [--probe]

Validates the configuration and prints a summary of the channels. Every problem is listed with
its file, line, column and key path; the exit code is 0 when valid, 78 otherwise.

Options:
  -c, --config FILE   The config file (default: $CHANRELAY_CONFIG)
      --probe         Also try each bind and join (with SO_REUSEPORT, so a running chanrelay
                      does not make it fail) and each receive buffer (reporting a clamp and the
                      sysctl that raises it), check interface addresses, and check the data
                      directories are writable with room for the retention settings.
                      Nothing is sent.
  -h, --help          Print this help`;

function describeChannel(ch: ChannelConfig): string {
  let s = `  ${ch.name}: ${ch.listen.text}`;
  if (ch.source) s += ` (source ${ch.source.text})`;
  s += ` -> ${ch.relay.map((r) => r.to.text).join(", ")}`;
  if (ch.record?.enabled) s += `; record into ${ch.record.path}`;
  const d = ch.decimate;
  if (d) {
    const how = d.mode === "rate" ? `rate ${d.max_rate}/s` : `${d.mode} 1/${d.factor}`;
    s += `; decimate ${how} -> ${d.to.text}`;
  }
  return s;
}

/** The summary printed for a valid config. */
export function summarize(file: string, config: ChanrelayConfig): string {
  const channels = Object.values(config.channels);
  const n = channels.length;
  return [
    `${file}: OK, ${n} channel${n === 1 ? "" : "s"}`,
    ...channels.map(describeChannel),
  ].join("\n");
}

async function run(args: string[]): Promise<number> {
  const f = parseFlags("check", args, {
    config: { type: "string", short: "c" },
    probe: { type: "boolean" },
  });
  const path = resolveConfigPath(str(f, "config"));
  if (path === undefined) {
    throw new UsageError("check", "No config file: pass --config FILE or set CHANRELAY_CONFIG");
  }
  let loaded;
  try {
    loaded = loadConfigFileWithPositions(path);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(e.message);
    const n = e.problems.length;
    console.error(`${path}: ${n} problem${n === 1 ? "" : "s"}`);
    return EXIT.CONFIG;
  }
  console.log(summarize(path, loaded.config));
  if (!bool(f, "probe")) return EXIT.OK;

  const { probeConfig } = await import("../config/probe.ts");
  const r = await probeConfig(loaded);
  for (const note of r.notes) console.log(`  ${note}`);
  for (const w of r.warnings) console.error(`warning: ${formatProblem(w)}`);
  for (const p of r.problems) console.error(formatProblem(p));
  if (r.problems.length > 0) {
    const n = r.problems.length;
    console.error(`${path}: ${n} problem${n === 1 ? "" : "s"} found by --probe`);
    return EXIT.CONFIG;
  }
  console.log(`${path}: probe OK`);
  return EXIT.OK;
}

/** The `check` subcommand. */
export const command: Command = {
  name: "check",
  summary: "Validate the config (--probe: also try binds, joins, buffers and disk)",
  help: HELP,
  run,
};
