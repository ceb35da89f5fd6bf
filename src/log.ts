/**
 * Logging on stderr: logfmt text (default) or JSON lines, with levels, structured fields (a
 * `channel` field on channel messages) and rate limiting of repeated errors.
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Output formats. */
export type LogFormat = "text" | "json";
/** Extra key/values of a log line. */
export type LogFields = Record<string, string | number | boolean | bigint | null | undefined>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const encoder = new TextEncoder();

let minRank = RANK.info;
let format: LogFormat = "text";
let sink: (line: string) => void = (line) => {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
};

/** Sets the level and format (per thread: each Worker calls it with the supervisor's settings). */
export function configureLog(
  options: { level?: LogLevel; format?: LogFormat; sink?: (line: string) => void },
): void {
  if (options.level) minRank = RANK[options.level];
  if (options.format) format = options.format;
  if (options.sink) sink = options.sink;
}

/** The current settings, to pass on to Workers. */
export function logSettings(): { level: LogLevel; format: LogFormat } {
  const level = (Object.entries(RANK).find(([, r]) => r === minRank)?.[0] ?? "info") as LogLevel;
  return { level, format };
}

function logfmtValue(v: unknown): string {
  const s = typeof v === "string" ? v : String(v);
  return /^[^\s"=\\]+$/.test(s) ? s : JSON.stringify(s);
}

/** Formats one line (exported for tests). */
export function formatLine(
  level: LogLevel,
  msg: string,
  fields: LogFields = {},
  now = new Date(),
): string {
  if (format === "json") {
    const o: Record<string, unknown> = { ts: now.toISOString(), level, msg };
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) {
        o[k] = typeof v === "bigint" ? Number(v) : v;
      }
    }
    return JSON.stringify(o);
  }
  let line = `ts=${now.toISOString()} level=${level} msg=${logfmtValue(msg)}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) line += ` ${k}=${logfmtValue(v)}`;
  }
  return line;
}

function write(level: LogLevel, msg: string, fields?: LogFields): void {
  if (RANK[level] < minRank) return;
  try {
    sink(formatLine(level, msg, fields));
  } catch {
    // stderr gone (closed pipe): logging must never take the process down
  }
}

const limited = new Map<string, { next: number; suppressed: number }>();

/** The logger. `limited` logs a repeated message at most once per `intervalMs` per key. */
export const log = {
  debug: (msg: string, fields?: LogFields): void => write("debug", msg, fields),
  info: (msg: string, fields?: LogFields): void => write("info", msg, fields),
  warn: (msg: string, fields?: LogFields): void => write("warn", msg, fields),
  error: (msg: string, fields?: LogFields): void => write("error", msg, fields),
  limited(
    key: string,
    intervalMs: number,
    level: LogLevel,
    msg: string,
    fields: LogFields = {},
  ): void {
    const now = Date.now();
    const e = limited.get(key);
    if (e && now < e.next) {
      e.suppressed++;
      return;
    }
    const suppressed = e?.suppressed ?? 0;
    limited.set(key, { next: now + intervalMs, suppressed: 0 });
    write(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  },
};
