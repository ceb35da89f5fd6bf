/**
 * Runs `chanrelay run` (or any chanrelay command) as a real child process and follows its log on
 * stderr: wait for "ready", for a given line, stop it with a signal and time the exit.
 */
import { DENO, ROOT } from "./env.ts";

/** A running chanrelay process. */
export class ChanrelayProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  readonly #done: Promise<Deno.CommandStatus>;
  #stdout = "";
  #exited = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#done = child.status.then((s) => {
      this.#exited = true;
      return s;
    });
    void this.#pump(child.stderr, true);
    void this.#pump(child.stdout, false);
  }

  /** Starts `deno run -A main.ts <args>` (or with `denoFlags` instead of -A) from the project root. */
  static spawn(
    args: string[],
    env: Record<string, string> = {},
    denoFlags: readonly string[] = ["-A"],
  ): ChanrelayProcess {
    const child = new Deno.Command(DENO, {
      args: ["run", ...denoFlags, "--frozen", `${ROOT}main.ts`, ...args],
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new ChanrelayProcess(child);
  }

  /** Starts `chanrelay run <args>` and waits for its "ready" line (throws with the log if it exits first). */
  static async run(
    args: string[],
    env: Record<string, string> = {},
    timeoutMs = 20_000,
    denoFlags: readonly string[] = ["-A"],
  ): Promise<ChanrelayProcess> {
    const p = ChanrelayProcess.spawn(["run", ...args], env, denoFlags);
    await p.waitFor(/msg=ready/, timeoutMs);
    return p;
  }

  async #pump(stream: ReadableStream<Uint8Array>, isErr: boolean): Promise<void> {
    const td = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      const text = td.decode(chunk, { stream: true });
      if (!isErr) {
        this.#stdout += text;
        continue;
      }
      buf += text;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.#lines.push(line);
        if (Deno.env.get("CHANRELAY_TEST_ECHO")) console.error(`[relay ${this.pid}] ${line}`);
        for (let w = this.#waiters.length - 1; w >= 0; w--) {
          if (this.#waiters[w]!.re.test(line)) {
            this.#waiters[w]!.resolve(line);
            this.#waiters.splice(w, 1);
          }
        }
      }
    }
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Every stderr line so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Everything on stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Whether it has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Resolves with the first stderr line (past or future) matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.#lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`Timed out waiting for ${re} from chanrelay:\n${this.#lines.join("\n")}`));
      }, timeoutMs);
      this.#waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      this.#done.then(async (s) => {
        await new Promise((r) => setTimeout(r, 50)); // let the last lines arrive
        clearTimeout(timer);
        reject(
          new Error(`chanrelay exited (code ${s.code}) before ${re}:\n${this.#lines.join("\n")}`),
        );
      });
    });
  }

  /** Sends `signal` and waits for the exit; returns the code and the milliseconds it took. */
  async stop(
    signal: Deno.Signal = "SIGTERM",
    timeoutMs = 10_000,
  ): Promise<{ code: number; ms: number }> {
    const t0 = performance.now();
    if (!this.#exited) this.#child.kill(signal);
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, timeoutMs);
    const s = await this.#done;
    clearTimeout(timer);
    return { code: s.code, ms: performance.now() - t0 };
  }

  /** Waits for the exit. */
  async status(): Promise<Deno.CommandStatus> {
    return await this.#done;
  }

  /** The last "stats" line of `channel`, parsed as key=value pairs. */
  lastStats(channel: string): Record<string, string> | null {
    for (let i = this.#lines.length - 1; i >= 0; i--) {
      const l = this.#lines[i]!;
      if (l.includes("msg=stats") && l.includes(` channel=${channel} `)) return parseLogfmt(l);
    }
    return null;
  }
}

/** Parses a logfmt line into key/value strings. */
export function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    out[m[1]!] = m[2]!.startsWith('"') ? JSON.parse(m[2]!) : m[2]!;
  }
  return out;
}

/** Writes `text` to a fresh temporary file and returns its path. */
export function tempFile(text: string, suffix = ".yaml"): string {
  const p = Deno.makeTempFileSync({ suffix });
  Deno.writeTextFileSync(p, text);
  return p;
}
