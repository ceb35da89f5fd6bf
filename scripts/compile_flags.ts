/**
 * What `deno task compile` bakes into the binary: its permissions and V8 flags. A test runs
 * `chanrelay run` under exactly these, so a missing permission shows up here and not in the field.
 */

/**
 * Permissions of the compiled binary: all. `--allow-ffi` (libc) already grants everything, so
 * finer flags would protect nothing, and Deno asks for `--allow-all` before it lets a program read
 * /proc/self/task, which the thread-priority code (ffi/threads.ts) does. Besides FFI, files and
 * the network, chanrelay runs `df` (disk space) and itself (the config loader,
 * src/cli/config_child.ts).
 */
export const PERMISSIONS: readonly string[] = ["--allow-all"];

/** Small V8 heaps: chanrelay's hot paths allocate nothing, and every Worker is an isolate. */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=1,--max-old-space-size=128";
