/** File-descriptor leak checks (Deno's sanitizers do not see descriptors opened through FFI). */
import assert from "node:assert/strict";

/** The open descriptors of this process, from /proc/self/fd (Linux) or /dev/fd. */
export function openFds(): Set<number> {
  const dir = Deno.build.os === "linux" ? "/proc/self/fd" : "/dev/fd";
  const out = new Set<number>();
  for (const e of Deno.readDirSync(dir)) out.add(Number(e.name));
  return out;
}

/**
 * Runs `fn` and asserts it left no new descriptor open. Descriptors that belong to the runtime
 * (opened lazily by Deno itself) are tolerated only when they are not sockets or regular files
 * the test created.
 */
export async function assertNoFdLeak(fn: () => void | Promise<void>): Promise<void> {
  const before = openFds();
  await fn();
  const after = openFds();
  const leaked: string[] = [];
  for (const fd of after) {
    if (before.has(fd)) continue;
    let target = "?";
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while we looked (the listing's own descriptor)
    }
    if (target.startsWith("socket:") || target.startsWith("/")) leaked.push(`${fd} -> ${target}`);
  }
  assert.deepEqual(leaked, [], `File descriptors leaked: ${leaked.join(", ")}`);
}
