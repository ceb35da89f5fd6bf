/** Retention of finished recordings: `keepFiles`, `keepSize`, `keepAge`, oldest first. */

/** A finished recording of a channel. */
export interface FinishedFile {
  path: string;
  size: number;
  /** Modification time (when it was finished), ms since the epoch. */
  mtimeMs: number;
  /** Its first seq (orders files oldest first). */
  firstSeq: number;
}

/** Retention limits (0: no limit). */
export interface RetentionLimits {
  keepFiles: number;
  keepSize: number;
  keepAge: number;
}

/**
 * The finished files to delete, oldest first: files beyond `keepFiles`, then beyond `keepSize`
 * bytes in total, and any older than `keepAge`. In-progress files are never in `files`.
 */
export function planRetention(
  files: readonly FinishedFile[],
  limits: RetentionLimits,
  nowMs: number,
): FinishedFile[] {
  const sorted = [...files].sort((a, b) => a.firstSeq - b.firstSeq || a.mtimeMs - b.mtimeMs);
  let count = sorted.length;
  let total = sorted.reduce((s, f) => s + f.size, 0);
  const doomed: FinishedFile[] = [];
  for (const f of sorted) {
    const tooMany = limits.keepFiles > 0 && count > limits.keepFiles;
    const tooBig = limits.keepSize > 0 && total > limits.keepSize;
    const tooOld = limits.keepAge > 0 && nowMs - f.mtimeMs > limits.keepAge;
    if (!tooMany && !tooBig && !tooOld) continue;
    doomed.push(f);
    count--;
    total -= f.size;
  }
  return doomed;
}
