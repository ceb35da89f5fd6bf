/** What /proc/self/smaps says of the mappings of one file (Linux). */

/** A mapping of a file, from smaps: its start address, permissions, file offset, dirty and resident kB. */
export interface FileMapping {
  addr: number;
  /** Length in bytes. */
  size: number;
  perms: string;
  offset: number;
  rss: number;
  dirty: number;
}

/** Dirty and resident kB of each mapping of `path`, by file offset, from smaps. */
export function mappingsOf(path: string): FileMapping[] {
  const out: FileMapping[] = [];
  let cur: FileMapping | null = null;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s+(.*)$/.exec(line);
    if (head !== null) {
      cur = head[5] === path
        ? {
          addr: parseInt(head[1]!, 16),
          size: parseInt(head[2]!, 16) - parseInt(head[1]!, 16),
          perms: head[3]!,
          offset: parseInt(head[4]!, 16),
          rss: 0,
          dirty: 0,
        }
        : null;
      if (cur !== null) out.push(cur);
      continue;
    }
    const kv = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (cur === null || kv === null) continue;
    if (kv[1] === "Rss") cur.rss = Number(kv[2]);
    if (kv[1] === "Shared_Dirty" || kv[1] === "Private_Dirty") cur.dirty += Number(kv[2]);
  }
  return out.sort((a, b) => a.offset - b.offset);
}
