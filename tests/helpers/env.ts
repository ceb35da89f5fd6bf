/** Test environment helpers: privilege checks that fail in CI and skip (with a reason) elsewhere. */

/** Whether this run is CI (`CI=true`): a test that cannot run must then fail, not skip. */
export const IN_CI = Deno.env.get("CI") === "true";

/** Whether the process runs as root. */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * Returns true when `needs` is met. Otherwise, in CI, throws; outside CI, prints why the test is
 * skipped and returns false.
 */
export function canRun(testName: string, met: boolean, needs: string): boolean {
  if (met) return true;
  if (IN_CI) {
    throw new Error(`"${testName}" cannot run: it needs ${needs} (CI=true, so this fails)`);
  }
  console.error(`SKIP "${testName}": needs ${needs}`);
  return false;
}

let unshareOk: boolean | undefined;

/** Whether `unshare -n` works here (root, and the kernel allows it). */
export function canUnshare(): boolean {
  if (unshareOk !== undefined) return unshareOk;
  try {
    const r = new Deno.Command("unshare", {
      args: ["-n", "-m", "true"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    unshareOk = r.success;
  } catch {
    unshareOk = false;
  }
  return unshareOk;
}

/** The path of the deno executable running the tests. */
export const DENO = Deno.execPath();

/** The project root. */
export const ROOT = new URL("../../", import.meta.url).pathname;
