/** `chanrelay rotate`: asks a running chanrelay to finish its recording files and start new ones. */
import type { Command } from "./command.ts";
import { num, parseFlags } from "./flags.ts";
import { EXIT, ExitError, UsageError } from "./usage.ts";

const HELP = `Usage: chanrelay rotate --pid PID

Asks the chanrelay with process id PID to rotate every recording now: each channel finishes its
file (commit, truncate, fsync, rename to .avro) and starts a new one. It sends SIGWINCH, which is
what "systemctl kill -s WINCH chanrelay" does too; "chanrelay run --rotate" also rotates on SIGHUP.

Options:
  --pid PID   The running chanrelay's process id (required)`;

async function run(args: string[]): Promise<number> {
  const f = parseFlags("rotate", args, { pid: { type: "string" } });
  const pid = num("rotate", f, "pid", { min: 1 });
  if (pid === undefined) throw new UsageError("rotate", "--pid is required");
  try {
    Deno.kill(pid, "SIGWINCH");
  } catch (e) {
    throw new ExitError(
      EXIT.NOINPUT,
      `Cannot signal process ${pid}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  await Promise.resolve();
  console.error(`Asked process ${pid} to rotate its recordings`);
  return EXIT.OK;
}

/** The `rotate` command. */
export const command: Command = {
  name: "rotate",
  summary: "Rotate a running chanrelay's recordings",
  help: HELP,
  run,
};
