/**
 * Runs a Deno script inside fresh Linux namespaces (`unshare`), for tests that need a private
 * network (multicast on lo, veth pairs) or a private mount table (a small tmpfs). Root only.
 */
import { canRun, canUnshare, DENO, ROOT } from "./env.ts";

/** What a namespaced child did. */
export interface NsResult {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** Everything the child printed on stdout. */
  stdout: string;
  /** Everything the child printed on stderr. */
  stderr: string;
  /** True when the child was killed because it ran past `timeoutMs`. */
  timedOut: boolean;
}

/** Options of `runInNetns` and `runUnshared`. */
export interface NsOptions {
  /** Kill the child (SIGKILL) after this many milliseconds. @default 20000 */
  timeoutMs?: number;
  /** Extra environment variables for the child. */
  env?: Record<string, string>;
  /** Extra flags for `deno run` (before the script). @default ["-A", "--frozen"] */
  denoFlags?: string[];
}

/**
 * Shell commands that make the loopback interface of a new network namespace usable, multicast
 * included: `lo` up, multicast on, and a route for 224.0.0.0/4 through it.
 */
export const NETNS_LOOPBACK_SETUP = [
  "ip link set lo up",
  "ip link set lo multicast on",
  "ip route add 224.0.0.0/4 dev lo",
];

const td = new TextDecoder();

/**
 * Runs `deno run -A --frozen <script> <args…>` under `unshare <unshareFlags>` after the shell
 * commands `setup` (joined with `&&`; any failure stops the child before Deno starts). Arguments
 * reach the child as positional shell parameters, never through string quoting. The child's
 * working directory is the project root. On timeout the child is killed and `timedOut` is set.
 */
export async function runUnshared(
  unshareFlags: string[],
  setup: string[],
  script: string | URL,
  args: string[] = [],
  options: NsOptions = {},
): Promise<NsResult> {
  const path = script instanceof URL ? script.pathname : script;
  const denoFlags = options.denoFlags ?? ["-A", "--frozen"];
  // unshare execs sh (no --fork), and sh execs deno: the pid we hold is the Deno child itself
  const shell = [...setup, 'exec "$@"'].join(" && ");
  const child = new Deno.Command("unshare", {
    args: [...unshareFlags, "sh", "-c", shell, "sh", DENO, "run", ...denoFlags, path, ...args],
    cwd: ROOT,
    env: options.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, options.timeoutMs ?? 20_000);
  try {
    const out = await child.output();
    const code = out.signal === null ? out.code : 128 + signalNumber(out.signal);
    return { code, stdout: td.decode(out.stdout), stderr: td.decode(out.stderr), timedOut };
  } finally {
    clearTimeout(timer);
  }
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGBUS: 7,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}

/**
 * Runs a Deno script in a new network namespace whose `lo` is up and routes multicast
 * (NETNS_LOOPBACK_SETUP, then `extraSetup`). Every address in 127.0.0.0/8 is local there.
 */
export function runInNetns(
  script: string | URL,
  args: string[] = [],
  options: NsOptions & { extraSetup?: string[] } = {},
): Promise<NsResult> {
  return runUnshared(
    ["-n"],
    [...NETNS_LOOPBACK_SETUP, ...(options.extraSetup ?? [])],
    script,
    args,
    options,
  );
}

/** Quotes `text` as one word for `sh` (for paths in `setup` commands). */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function hasCommand(name: string, args: string[]): boolean {
  try {
    return new Deno.Command(name, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/**
 * Whether namespace tests can run (Linux, root, `unshare` works, `ip` installed): in CI a missing
 * piece fails the test; elsewhere it prints why the test is skipped and returns false.
 */
export function canRunInNamespace(testName: string, needsIp = true): boolean {
  const ok = Deno.build.os === "linux" && canUnshare() &&
    (!needsIp || hasCommand("ip", ["-V"]));
  return canRun(
    testName,
    ok,
    needsIp ? "Linux, root, unshare and iproute2 (ip)" : "Linux, root and unshare",
  );
}

/**
 * Parses the last non-empty line of a child's stdout as JSON; on failure throws an error that
 * shows the child's exit code, stdout and stderr.
 */
export function lastJsonLine<T>(r: NsResult): T {
  const lines = r.stdout.trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(
      `Child printed no JSON (code ${r.code}${r.timedOut ? ", timed out" : ""})\n` +
        `stdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
}
