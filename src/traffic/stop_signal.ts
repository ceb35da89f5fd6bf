/**
 * SIGINT/SIGTERM for a synchronous FFI loop on the main thread. Signal listeners run only when
 * their thread's event loop turns, and a blocking loop never lets the main one turn (yielding a
 * macrotask costs 1–3 ms and still notices signals late). So a tiny Worker holds the listeners and
 * sets a flag in a SharedArrayBuffer: the loop reads it with one Atomics.load, and `sleep()` waits
 * on the same cell, so a signal also ends a sleep at once.
 */

// A data: URL keeps the worker inside compiled binaries without an --include.
const WORKER_SOURCE = `
self.onmessage = (e) => {
  const flag = new Int32Array(e.data);
  const on = (code) => () => { Atomics.compareExchange(flag, 0, 0, code); Atomics.notify(flag, 0); };
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGINT", on(2));
    Deno.addSignalListener("SIGTERM", on(15));
  }
  self.postMessage("ready");
};`;

const SIGNALS: Record<number, Deno.Signal> = { 2: "SIGINT", 15: "SIGTERM" };

/** Catches SIGINT and SIGTERM (once `ready` resolved) until disposed. */
export class StopSignal implements Disposable {
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  readonly #worker: Worker;
  /** Resolves once the signal listeners are installed. */
  readonly ready: Promise<void>;

  constructor() {
    this.#worker = new Worker(
      `data:application/javascript,${encodeURIComponent(WORKER_SOURCE)}`,
      { type: "module" },
    );
    this.ready = new Promise((resolve, reject) => {
      this.#worker.onmessage = () => resolve();
      this.#worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`Cannot watch signals: ${e.message}`));
      };
    });
    this.#worker.postMessage(this.#flag.buffer);
  }

  /** Whether a signal (or `stop()`) asked the loop to end. */
  get stopped(): boolean {
    return Atomics.load(this.#flag, 0) !== 0;
  }

  /** The signal that stopped the loop, if one did. */
  get signal(): Deno.Signal | null {
    return SIGNALS[Atomics.load(this.#flag, 0)] ?? null;
  }

  /** Asks the loop to end. */
  stop(): void {
    Atomics.compareExchange(this.#flag, 0, 0, 1);
    Atomics.notify(this.#flag, 0);
  }

  /** Blocks the thread for up to `ms` milliseconds, or until a signal arrives. */
  sleep(ms: number): void {
    if (ms > 0) Atomics.wait(this.#flag, 0, 0, ms);
  }

  /** Stops the signal worker. */
  [Symbol.dispose](): void {
    this.#worker.terminate();
  }
}
