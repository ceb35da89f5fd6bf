/** Free space of a file system, from df (no config machinery: cheap to import). */

/** Free space of the file system holding a path, from `df -Pk`. */
export interface DiskSpace {
  /** Bytes available to unprivileged users. */
  available: number;
  /** Mount point. */
  mount: string;
}

/** Parses the output of `df -Pk PATH` (POSIX format, 1024-byte blocks). */
export function parseDf(output: string): DiskSpace | null {
  const lines = output.trim().split("\n");
  const line = lines[lines.length - 1];
  if (lines.length < 2 || line === undefined) return null;
  const m = /^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.*)$/.exec(line);
  if (!m) return null;
  return { available: Number(m[4]) * 1024, mount: m[6]! };
}

/** Free space of the file system holding `dir` (an existing path), or null when df fails. */
export async function diskSpace(dir: string): Promise<DiskSpace | null> {
  try {
    const out = await new Deno.Command("df", {
      args: ["-Pk", dir],
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C" },
    }).output();
    if (!out.success) return null;
    return parseDf(new TextDecoder().decode(out.stdout));
  } catch {
    return null;
  }
}
