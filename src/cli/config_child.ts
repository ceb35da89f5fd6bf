/**
 * Config loading in a short-lived child process. Parsing YAML and validating it against the schema
 * needs the `yaml` and `zod` packages and Deno's Node compatibility layer: about 12 MiB that a
 * daemon would keep for its whole life (V8 never unloads a module, and a throwaway Worker's memory
 * is not returned to the OS either). So `run` and its SIGHUP reload ask a child, another instance
 * of this executable, for the validated config as JSON. The child also bounds what a hostile or
 * broken config file can do to a running daemon: it has its own heap and a time limit.
 *
 * The child is `/proc/self/exe` on Linux, the very executable the daemon runs even after an upgrade
 * replaced the file, and `Deno.execPath()` elsewhere; a child of another version is refused.
 */
import type { Command } from "./command.ts";
import { EXIT, ExitError, UsageError } from "./usage.ts";
import { ConfigError, type ConfigProblem } from "../config/errors.ts";
import type { ChanrelayConfig } from "../config/schema.ts";
import type { RunConfig } from "./run_config.ts";
import { VERSION } from "../version.ts";

/** What the child is asked to load. */
export type ConfigRequest =
  /** `chanrelay run`'s arguments: --config/$CHANRELAY_CONFIG or the one-channel flags. */
  | { kind: "run"; args: string[] }
  /** A config file (the SIGHUP reload). */
  | { kind: "file"; path: string };

type Loaded<R extends ConfigRequest> = R extends { kind: "run" } ? RunConfig : ChanrelayConfig;

/** An error, as the child sends it. */
type WireError =
  | { name: "ConfigError"; problems: ConfigProblem[] }
  | { name: "UsageError"; command: string; message: string }
  | { name: "ExitError"; code: number; message: string }
  | { name: "Error"; message: string };

/** The child's one line of output. */
type Reply =
  | { ok: true; version: string; value: unknown }
  | { ok: false; version: string; error: WireError };

/** The hidden subcommand that runs in the child. */
export const CHILD_COMMAND = "__load-config";

/** How long the child may take (a first run from source may fetch and transpile modules). */
export const CHILD_TIMEOUT_MS = 60_000;

/** How to start the child: this executable, and under `deno run` also this source tree's main.ts. */
export function childCommand(): { cmd: string; args: string[] } {
  const exe = Deno.build.os === "linux" ? "/proc/self/exe" : Deno.execPath();
  if (Deno.build.standalone) return { cmd: exe, args: [CHILD_COMMAND] };
  const main = new URL("../../main.ts", import.meta.url);
  const config = new URL("../../deno.json", import.meta.url);
  if (main.protocol !== "file:") {
    throw new Error(`Cannot start the config loader: chanrelay runs from ${main.href}`);
  }
  return {
    cmd: exe,
    args: [
      "run",
      "--quiet",
      "--allow-all",
      "--frozen",
      "--config",
      decodeURIComponent(config.pathname),
      decodeURIComponent(main.pathname),
      CHILD_COMMAND,
    ],
  };
}

/** How `loadInChild` starts its child (tests replace it). */
export interface ChildOptions {
  /** The program and arguments (default: `childCommand()`). */
  command?: { cmd: string; args: string[] };
  /** Kill the child after this long (default `CHILD_TIMEOUT_MS`). */
  timeoutMs?: number;
}

/**
 * Loads and validates a config in a child process; throws what loading in-process would throw
 * (ConfigError, UsageError, ExitError), or an ExitError with code 70 (EXIT.SOFTWARE) when the
 * child itself fails.
 */
export async function loadInChild<R extends ConfigRequest>(
  request: R,
  options: ChildOptions = {},
): Promise<Loaded<R>> {
  const { cmd, args } = options.command ?? childCommand();
  const timeoutMs = options.timeoutMs ?? CHILD_TIMEOUT_MS;
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* it has just ended */ }
  }, timeoutMs);
  let out: Deno.CommandOutput;
  try {
    try {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify(request)));
      await w.close();
    } catch {
      // the child ended without reading its request: its exit status and stderr say why
    }
    out = await child.output();
  } finally {
    clearTimeout(timer);
  }
  const text = new TextDecoder().decode(out.stdout);
  const line = text.trimEnd().split("\n").at(-1) ?? "";
  let reply: Reply | undefined;
  try {
    reply = JSON.parse(line) as Reply;
  } catch {
    reply = undefined;
  }
  if (reply === undefined || typeof reply !== "object" || reply === null || !("ok" in reply)) {
    const why = timedOut
      ? `took longer than ${timeoutMs / 1000} s`
      : out.signal !== null
      ? `was killed by ${out.signal}`
      : `exited with code ${out.code}`;
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new ExitError(
      EXIT.SOFTWARE,
      `Cannot load the config: the loader process (${cmd}) ${why}${err === "" ? "" : `: ${err}`}`,
    );
  }
  if (reply.version !== VERSION) {
    throw new ExitError(
      EXIT.SOFTWARE,
      `Cannot load the config: the executable on disk is chanrelay ${reply.version}, this process is ${VERSION}: restart chanrelay to run the new version`,
    );
  }
  if (reply.ok) return reply.value as Loaded<R>;
  throw fromWire(reply.error);
}

function fromWire(e: WireError): Error {
  switch (e.name) {
    case "ConfigError":
      return new ConfigError(e.problems);
    case "UsageError":
      return new UsageError(e.command, e.message);
    case "ExitError":
      return new ExitError(e.code, e.message);
    case "Error":
      return new ExitError(EXIT.SOFTWARE, `Cannot load the config: ${e.message}`);
  }
}

function toWire(e: unknown): WireError {
  if (e instanceof ConfigError) return { name: "ConfigError", problems: e.problems };
  if (e instanceof UsageError) {
    return { name: "UsageError", command: e.command, message: e.message };
  }
  if (e instanceof ExitError) return { name: "ExitError", code: e.code, message: e.message };
  return { name: "Error", message: e instanceof Error ? e.message : String(e) };
}

/** Loads what `request` asks for, in this process. */
async function load(request: ConfigRequest): Promise<unknown> {
  switch (request.kind) {
    case "run":
      return (await import("./run_config.ts")).configFromFlags(request.args);
    case "file":
      return (await import("../config/load.ts")).loadConfigFile(request.path);
  }
}

function isRequest(v: unknown): v is ConfigRequest {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (r.kind === "run" && Array.isArray(r.args) &&
    r.args.every((a) => typeof a === "string")) ||
    (r.kind === "file" && typeof r.path === "string");
}

/** The child's side: reads one request from stdin, writes one reply line to stdout. */
async function serve(): Promise<number> {
  const input = await new Response(Deno.stdin.readable).text();
  let reply: Reply;
  try {
    const request: unknown = JSON.parse(input);
    if (!isRequest(request)) throw new Error(`Not a config request: ${input.slice(0, 200)}`);
    reply = { ok: true, version: VERSION, value: await load(request) };
  } catch (e) {
    reply = { ok: false, version: VERSION, error: toWire(e) };
  }
  console.log(JSON.stringify(reply));
  return 0;
}

/** The hidden `__load-config` command (not listed in the usage). */
export const command: Command = {
  name: CHILD_COMMAND,
  summary: "Internal: load a config for a running chanrelay",
  help: `Usage: chanrelay ${CHILD_COMMAND} < REQUEST.json\n\nInternal: used by "run".`,
  run: () => serve(),
};
