/** File-descriptor leak checks (Deno's sanitizers do not see descriptors opened through FFI). */
import assert from "node:assert/strict";

/** The open descriptors of this process, from /proc/self/fd (Linux) or /dev/fd. */
export function openFds(): Set<number> {
  const dir = Deno.build.os === "linux" ? "/proc/self/fd" : "/dev/fd";
  const out = new Set<number>();
  for (const e of Deno.readDirSync(dir)) out.add(Number(e.name));
  return out;
}

function target(fd: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null; // closed while we looked (the listing's own descriptor), or no /proc
  }
}

/** Open descriptors and what each points at (Linux; elsewhere the targets are null). */
function snapshot(): Map<number, string | null> {
  const fds = openFds();
  const out = new Map<number, string | null>();
  for (const fd of fds) out.set(fd, Deno.build.os === "linux" ? target(fd) : null);
  return out;
}

/**
 * Runs `fn` and asserts it left no new descriptor open. A descriptor counts as new when its
 * number was not open before or now points elsewhere (the listing's own directory descriptor is
 * closed by the time we look, so the first descriptor `fn` opens often reuses its number).
 * Descriptors that belong to the runtime (opened lazily by Deno itself) are tolerated only when
 * they are not sockets or regular files the test created: a new descriptor for a socket that was
 * already open before (Deno dups the test runner's stdio socket for every Worker and closes the
 * dup only after the Worker is gone) is not a leak.
 */
export async function assertNoFdLeak(fn: () => void | Promise<void>): Promise<void> {
  const before = snapshot();
  const socketsBefore = new Set<string>();
  for (const t of before.values()) if (t !== null && t.startsWith("socket:")) socketsBefore.add(t);
  await fn();
  const leaked: string[] = [];
  for (const [fd, t] of snapshot()) {
    if (t === null || before.get(fd) === t || socketsBefore.has(t)) continue;
    if (t.startsWith("socket:") || t.startsWith("/")) leaked.push(`${fd} -> ${t}`);
  }
  assert.deepEqual(leaked, [], `File descriptors leaked: ${leaked.join(", ")}`);
}

/**
 * Registers a test that runs `fn` with a fresh temp dir (named `prefix…`, removed afterwards),
 * asserting that no descriptor leaks across it.
 */
export function dirTestWithoutFdLeak(
  prefix: string,
  name: string,
  fn: (dir: string) => void | Promise<void>,
  ignore = false,
): void {
  Deno.test({
    name,
    ignore,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix });
      try {
        await assertNoFdLeak(() => fn(dir));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
