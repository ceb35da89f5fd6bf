/** `chanrelay service systemd|launchd`: prints a systemd unit or a launchd plist. */
import type { Command } from "./command.ts";
import { parseFlags, str } from "./flags.ts";
import { EXIT, UsageError } from "./usage.ts";
import { loadConfigText } from "../config/load.ts";
import { renderSystemdUnit, ServiceOptionError, STATE_DIR } from "../service/systemd.ts";
import { DEFAULT_LABEL, DEFAULT_LOG_DIR, renderLaunchdPlist } from "../service/launchd.ts";

/** Default executable path in the generated files. */
export const DEFAULT_BINARY = "/usr/local/bin/chanrelay";
/** Default config path in the generated files. */
export const DEFAULT_CONFIG = "/etc/chanrelay/chanrelay.yaml";

const HELP =
  `Usage: chanrelay service systemd [--config FILE] [--binary PATH] [--user USER] [--data-dir DIR]
       chanrelay service launchd [--config FILE] [--binary PATH] [--user USER] [--label LABEL] [--log-dir DIR]

Prints a service definition on stdout:
  systemd   a unit for /etc/systemd/system/chanrelay.service (Type=notify, hardened)
  launchd   a plist for /Library/LaunchDaemons/${DEFAULT_LABEL}.plist

Options:
  --config FILE    Config file the service runs with (default ${DEFAULT_CONFIG})
  --binary PATH    The chanrelay executable (default ${DEFAULT_BINARY})
  --user USER      Run as USER (default root)
  --data-dir DIR   systemd: the directory made writable (default: data_dir from the config
                   file when it can be read, relative to ${STATE_DIR}; else ${STATE_DIR})
  --label LABEL    launchd: the job label (default ${DEFAULT_LABEL})
  --log-dir DIR    launchd: where chanrelay.log goes (default ${DEFAULT_LOG_DIR})

Relative paths are made absolute against the current directory.`;

const SPEC = {
  config: { type: "string" },
  binary: { type: "string" },
  user: { type: "string" },
  "data-dir": { type: "string" },
  label: { type: "string" },
  "log-dir": { type: "string" },
} as const;

function absolute(path: string, base: string): string {
  if (path.startsWith("/")) return path;
  const joined = `${base.replace(/\/+$/, "")}/${path}`;
  // normalise "." and ".." so the unit shows a clean path
  const out: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** The data directory the config file names (relative to STATE_DIR), or null when unreadable. */
function dataDirFromConfig(config: string): string | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(config);
  } catch {
    return null;
  }
  try {
    return absolute(loadConfigText(text, config).data_dir, STATE_DIR);
  } catch (e) {
    console.error(
      `chanrelay service: "${config}" is not a valid config (${
        e instanceof Error ? e.message.split("\n")[0] : String(e)
      }); using data dir "${STATE_DIR}"`,
    );
    return null;
  }
}

function render(args: string[]): string {
  const f = parseFlags("service", args, SPEC, true);
  const [kind, ...extra] = f.positionals;
  if (kind === undefined) throw new UsageError("service", "Give systemd or launchd");
  if (extra.length > 0) throw new UsageError("service", `Unexpected argument "${extra[0]}"`);
  const cwd = Deno.cwd();
  const config = absolute(str(f, "config") ?? DEFAULT_CONFIG, cwd);
  const binary = absolute(str(f, "binary") ?? DEFAULT_BINARY, cwd);
  const user = str(f, "user");
  const only = (flag: string, where: string) => {
    if (str(f, flag) !== undefined) {
      throw new UsageError("service", `--${flag} applies to "service ${where}" only`);
    }
  };
  switch (kind) {
    case "systemd": {
      only("label", "launchd");
      only("log-dir", "launchd");
      const flagDir = str(f, "data-dir");
      const dataDir = flagDir !== undefined
        ? absolute(flagDir, cwd)
        : dataDirFromConfig(config) ?? STATE_DIR;
      return renderSystemdUnit({
        binary,
        config,
        dataDir,
        ...(user !== undefined ? { user } : {}),
      });
    }
    case "launchd": {
      only("data-dir", "systemd");
      const label = str(f, "label");
      const logDir = str(f, "log-dir");
      return renderLaunchdPlist({
        binary,
        config,
        ...(label !== undefined ? { label } : {}),
        ...(logDir !== undefined ? { logDir: absolute(logDir, cwd) } : {}),
        ...(user !== undefined ? { user } : {}),
      });
    }
    default:
      throw new UsageError(
        "service",
        `Unknown service kind "${kind}": expected systemd or launchd`,
      );
  }
}

/** The `service` subcommand. */
export const command: Command = {
  name: "service",
  summary: "Print a systemd unit or launchd plist",
  help: HELP,
  run(args: string[]): Promise<number> {
    let text: string;
    try {
      text = render(args);
    } catch (e) {
      if (e instanceof ServiceOptionError) throw new UsageError("service", e.message);
      throw e;
    }
    const bytes = new TextEncoder().encode(text);
    for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
    return Promise.resolve(EXIT.OK);
  },
};
