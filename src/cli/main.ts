/** Entry point: dispatches `chanrelay <command> …` and turns errors into exit codes. */
import type { Command } from "./command.ts";
import { EXIT, ExitError, UsageError } from "./usage.ts";
import { VERSION } from "../version.ts";
import { ErrnoError } from "../../ffi/errno.ts";
import { CHILD_COMMAND } from "./config_child.ts";

/** Subcommands, loaded on demand so each only imports what it needs. */
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<Command>; hidden?: boolean }
> = {
  run: {
    summary: "Relay (and record) the configured channels",
    load: async () => (await import("./run.ts")).command,
  },
  demo: {
    summary: "Run the built-in demo on loopback (no root, no set-up)",
    load: async () => (await import("./demo.ts")).command,
  },
  rotate: {
    summary: "Rotate a running chanrelay's recordings now",
    load: async () => (await import("./rotate.ts")).command,
  },
  send: {
    summary: "Send numbered test datagrams",
    load: async () => (await import("./send.ts")).command,
  },
  listen: {
    summary: "Receive test datagrams and report loss and latency",
    load: async () => (await import("./listen.ts")).command,
  },
  check: {
    summary: "Validate the config (--probe: also try binds, joins, buffers and disk)",
    load: async () => (await import("./check.ts")).command,
  },
  schema: {
    summary: "Print the config file's JSON Schema (for editors)",
    load: async () => (await import("./schema.ts")).command,
  },
  service: {
    summary: "Print a systemd unit or launchd plist",
    load: async () => (await import("./service.ts")).command,
  },
  inspect: {
    summary: "Show what recordings hold (metadata, counts, seq/time ranges, damage)",
    load: async () => (await import("./inspect.ts")).command,
  },
  recover: {
    summary: "Validate and repair recordings (.avro.inprogress → .avro)",
    load: async () => (await import("./recover.ts")).command,
  },
  [CHILD_COMMAND]: {
    summary: "Internal: load a config for a running chanrelay",
    load: async () => (await import("./config_child.ts")).command,
    hidden: true,
  },
};

function usage(): string {
  const shown = Object.entries(COMMANDS).filter(([, v]) => v.hidden !== true);
  const width = Math.max(...shown.map(([k]) => k.length));
  const lines = shown.map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`);
  return [
    `chanrelay ${VERSION}: UDP relay and recorder`,
    "",
    "Usage: chanrelay <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    "  --version   Print the version",
    "  --help      Print this help (chanrelay <command> --help for a command's)",
  ].join("\n");
}

/** Runs chanrelay with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    if (name === "help" && rest[0] !== undefined && COMMANDS[rest[0]]) {
      console.log((await COMMANDS[rest[0]]!.load()).help);
      return EXIT.OK;
    }
    console.log(usage());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`chanrelay ${VERSION}`);
    return EXIT.OK;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`chanrelay: unknown command "${name}"\n\n${usage()}`);
    return EXIT.USAGE;
  }
  const cmd = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(cmd.help);
    return EXIT.OK;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`chanrelay ${e.command}: ${e.message}\nTry "chanrelay ${e.command} --help".`);
      return EXIT.USAGE;
    }
    if (e instanceof ExitError) {
      console.error(`chanrelay ${name}: ${e.message}`);
      return e.code;
    }
    if (e instanceof ErrnoError) {
      console.error(`chanrelay ${name}: ${e.message}`);
      return EXIT.OSERR;
    }
    if (e instanceof Error && e.name === "ConfigError") {
      console.error(e.message);
      return EXIT.CONFIG;
    }
    throw e;
  }
}
