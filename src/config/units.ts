/**
 * Sizes (`8MiB`, `10MB`, `4096`) and durations (`500ms`, `1h30m`, `10`) as written in the config,
 * parsed to bytes and milliseconds.
 */

/** The result of parsing a value: the number, or the reason it is not one. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  kB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** What a size looks like, for messages. */
export const SIZE_HINT = "not a size (use e.g. 512KiB, 8MiB)";
/** What a duration looks like, for messages. */
export const DURATION_HINT = "not a duration (use e.g. 500ms, 10s, 1h30m)";

/** A regular expression matching every size string `parseSize` accepts (for the JSON Schema). */
export const SIZE_PATTERN = "^[0-9]+(\\.[0-9]+)? ?(B|KiB|MiB|GiB|TiB|kB|MB|GB|TB)?$";
/** A regular expression matching every duration string `parseDuration` accepts. */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?)$|^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$";

function quote(v: unknown): string {
  return `"${typeof v === "string" ? v : String(v)}"`;
}

/**
 * Parses a size: a non-negative integer (bytes), or a number and a unit as written: `B`, `KiB`,
 * `MiB`, `GiB`, `TiB` (powers of 1024) or `kB`, `MB`, `GB`, `TB` (powers of 1000).
 *
 * @example parseSize("8MiB") // { ok: true, value: 8388608 }
 */
export function parseSize(input: string | number): Parsed<number> {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input < 0) {
      return { ok: false, reason: `Cannot parse ${quote(input)}: ${SIZE_HINT}` };
    }
    return { ok: true, value: input };
  }
  const m = /^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)$/.exec(input.trim());
  const unit = m ? SIZE_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) {
    return { ok: false, reason: `Cannot parse ${quote(input)}: ${SIZE_HINT}` };
  }
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value)) {
    const why = Number.isInteger(value) ? "too large" : "not a whole number of bytes";
    return { ok: false, reason: `Cannot parse ${quote(input)}: ${why}` };
  }
  return { ok: true, value };
}

/**
 * Parses a duration into milliseconds: a number (seconds), or one or more number-unit pairs with
 * units `ms`, `s`, `m`, `h`, `d` (`1h30m`). The result is rounded to a whole millisecond.
 *
 * @example parseDuration("1h30m") // { ok: true, value: 5400000 }
 */
export function parseDuration(input: string | number): Parsed<number> {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) {
      return { ok: false, reason: `Cannot parse ${quote(input)}: ${DURATION_HINT}` };
    }
    return finish(input, input * 1000);
  }
  const text = input.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return finish(input, Number(text) * 1000);
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return { ok: false, reason: `Cannot parse ${quote(input)}: ${DURATION_HINT}` };
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0) return { ok: false, reason: `Cannot parse ${quote(input)}: ${DURATION_HINT}` };
  return finish(input, total);
}

function finish(input: string | number, ms: number): Parsed<number> {
  const value = Math.round(ms);
  if (!Number.isSafeInteger(value)) {
    return { ok: false, reason: `Cannot parse ${quote(input)}: too large` };
  }
  return { ok: true, value };
}

/** Formats bytes with the largest binary unit that divides them (`8388608` → `"8MiB"`). */
export function formatSize(bytes: number): string {
  for (const u of ["TiB", "GiB", "MiB", "KiB"]) {
    const f = SIZE_UNITS[u]!;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${u}`;
  }
  return `${bytes}B`;
}

/** Formats milliseconds compactly (`5400000` → `"1h30m"`, `500` → `"500ms"`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const u of ["d", "h", "m", "s", "ms"]) {
    const f = DURATION_UNITS[u]!;
    const n = Math.floor(rest / f);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * f;
    }
  }
  return out;
}

/** Formats bytes for people, rounded to one decimal (`85603614720` → `"79.7GiB"`). */
export function humanSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = i === 0 || v >= 100 ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, "");
  return `${text}${units[i]}`;
}
