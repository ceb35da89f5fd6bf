/**
 * SIGINT/SIGTERM for a synchronous FFI loop on the main thread: signal listeners run only when the
 * event loop turns, so the loop calls `yield()` now and then (a MessageChannel round trip, about
 * 50 µs, where `setTimeout(0)` costs 2–4 ms) and checks `stopped`.
 */

/** Catches SIGINT and SIGTERM until disposed. */
export class StopSignal implements Disposable {
  #stopped = false;
  #signal: Deno.Signal | null = null;
  readonly #channel = new MessageChannel();
  #resume: (() => void) | null = null;
  readonly #listeners: Array<[Deno.Signal, () => void]> = [];

  constructor() {
    this.#channel.port1.onmessage = () => {
      const r = this.#resume;
      this.#resume = null;
      r?.();
    };
    if (Deno.build.os !== "windows") {
      for (const sig of ["SIGINT", "SIGTERM"] as const) {
        const fn = () => this.stop(sig);
        Deno.addSignalListener(sig, fn);
        this.#listeners.push([sig, fn]);
      }
    }
  }

  /** Whether a signal (or `stop()`) asked the loop to end. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The signal that stopped the loop, if any. */
  get signal(): Deno.Signal | null {
    return this.#signal;
  }

  /** Asks the loop to end. */
  stop(signal: Deno.Signal | null = null): void {
    this.#stopped = true;
    this.#signal ??= signal;
  }

  /** Lets the event loop turn once, so pending signal listeners run. */
  yield(): Promise<void> {
    return new Promise((resolve) => {
      this.#resume = resolve;
      this.#channel.port2.postMessage(0);
    });
  }

  /** Removes the signal listeners and closes the channel. */
  [Symbol.dispose](): void {
    for (const [sig, fn] of this.#listeners) Deno.removeSignalListener(sig, fn);
    this.#listeners.length = 0;
    this.#channel.port1.close();
    this.#channel.port2.close();
  }
}
