/**
 * Recording file names: the template (`{channel}` and UTC time tokens), unique names, and listing a
 * channel's directory.
 */

/** Tokens a template may use. */
export const TEMPLATE_TOKENS = ["channel", "yyyy", "MM", "dd", "HH", "mm", "ss", "seq"] as const;
/** Extension of a finished recording. */
export const AVRO_EXT = ".avro";
/** Suffix of the file being written. */
export const INPROGRESS_SUFFIX = ".inprogress";
/** Suffix given to a file recovery refused to truncate. */
export const DAMAGED_SUFFIX = ".damaged";
/** Prefix of preallocated spare files (hidden; removed at open). */
export const SPARE_PREFIX = ".chanrelay-spare-";

/**
 * Why a template is unusable, or null: unknown tokens, an absolute path, `..` or empty segments,
 * or no token that changes between files (`{seq}` or a time token) … the last is allowed: names
 * get a `-N` suffix when taken.
 */
export function templateError(template: string): string | null {
  if (template.trim() === "") return "the template is empty";
  if (template.startsWith("/") || /^[A-Za-z]:[\\/]/.test(template)) {
    return "an absolute path would leave the data directory";
  }
  if (template.includes("\\")) return "backslashes are not allowed";
  if (template.includes("\0")) return "NUL is not allowed";
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(TEMPLATE_TOKENS as readonly string[]).includes(m[1]!)) {
      return `unknown token "{${m[1]}}" (known: ${TEMPLATE_TOKENS.map((t) => `{${t}}`).join(" ")})`;
    }
  }
  const segments = template.split("/");
  for (const s of segments) {
    if (s === "..") return `".." would leave the data directory`;
    if (s === "" || s === ".") return 'empty or "." path segments are not allowed';
  }
  if (segments.at(-1)!.startsWith(".")) return 'the file name must not start with "."';
  return null;
}

/** Makes a channel name safe as one path segment. */
export function safeSegment(s: string): string {
  const r = s.replace(/[/\\\0]/g, "_");
  return r === "." || r === ".." ? r.replace(/\./g, "_") : r;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, "0");
}

/**
 * Renders a template for a file starting at `timeMs` (UTC) with first seq `seq`; the result is a
 * relative path without the `.avro` extension (a template's own `.avro` is dropped).
 */
export function renderTemplate(
  template: string,
  channel: string,
  timeMs: number,
  seq: number,
): string {
  const d = new Date(timeMs);
  const values: Record<string, string> = {
    channel: safeSegment(channel),
    yyyy: pad(d.getUTCFullYear(), 4),
    MM: pad(d.getUTCMonth() + 1, 2),
    dd: pad(d.getUTCDate(), 2),
    HH: pad(d.getUTCHours(), 2),
    mm: pad(d.getUTCMinutes(), 2),
    ss: pad(d.getUTCSeconds(), 2),
    seq: String(seq),
  };
  const out = template.replace(/\{([^}]*)\}/g, (_, k: string) => values[k] ?? `{${k}}`);
  return out.endsWith(AVRO_EXT) ? out.slice(0, -AVRO_EXT.length) : out;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A finished-file path under `dir` for the rendered `base`, with `-1`, `-2`… added when the name
 * (or its `.inprogress`, unless that is `self`) exists or is in `taken`.
 */
export function uniqueRecordingPath(
  dir: string,
  base: string,
  taken: Set<string>,
  self?: string,
): string {
  for (let n = 0;; n++) {
    const p = `${dir}/${base}${n === 0 ? "" : `-${n}`}${AVRO_EXT}`;
    const ip = p + INPROGRESS_SUFFIX;
    if (!taken.has(p) && !exists(p) && (ip === self || !exists(ip))) return p;
  }
}

/** Files found under a recording directory. */
export interface RecordingListing {
  finished: string[];
  inprogress: string[];
  damaged: string[];
  spares: string[];
}

/** Lists recordings under `dir` (recursively: templates may create subdirectories). */
export async function listRecordings(dir: string): Promise<RecordingListing> {
  const out: RecordingListing = { finished: [], inprogress: [], damaged: [], spares: [] };
  async function walk(d: string, depth: number): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory && depth < 8) await walk(p, depth + 1);
      else if (!e.isFile) continue;
      else if (e.name.startsWith(SPARE_PREFIX)) out.spares.push(p);
      else if (e.name.endsWith(AVRO_EXT)) out.finished.push(p);
      else if (e.name.endsWith(AVRO_EXT + INPROGRESS_SUFFIX)) out.inprogress.push(p);
      else if (e.name.endsWith(DAMAGED_SUFFIX)) out.damaged.push(p);
    }
  }
  await walk(dir.replace(/\/+$/, "") || "/", 0);
  for (const l of Object.values(out)) l.sort();
  return out;
}
