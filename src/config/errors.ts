/** Configuration errors: every problem with its file, line, column and key path. */

/** One problem in a configuration. */
export interface ConfigProblem {
  /** The file name as given ("" when the config did not come from a file). */
  file: string;
  /** 1-based line of the offending value (0 when unknown). */
  line: number;
  /** 1-based column (0 when unknown). */
  column: number;
  /** Dotted key path, list items as `[i]`: `channels.adc0.relay[1].to` ("" for the whole file). */
  keyPath: string;
  /** What is wrong, e.g. `Cannot parse "239.1.1.1:70000": port out of range`. */
  message: string;
  /** The command-line flag the value came from, when the config was built from flags. */
  flag?: string;
}

/**
 * Formats a problem on one line:
 * `chanrelay.yaml:12:5: channels.adc0.listen: Cannot parse "239.1.1.1:70000": port out of range`,
 * or `--listen: Cannot parse "…": …` for a flag.
 */
export function formatProblem(p: ConfigProblem): string {
  if (p.flag !== undefined) return `${p.flag}: ${p.message}`;
  let where = p.file;
  if (p.file !== "" && p.line > 0) where += `:${p.line}:${p.column}`;
  const parts = [where, p.keyPath, p.message].filter((s) => s !== "");
  return parts.join(": ");
}

/** An invalid configuration: `problems` lists every problem; `message` has one per line. */
export class ConfigError extends Error {
  /** The config file ("" when not from a file). */
  readonly path: string;
  /** Line of the first problem (0 when unknown). */
  readonly line: number;
  /** Column of the first problem (0 when unknown). */
  readonly column: number;
  /** Every problem, in source order. */
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    if (problems.length === 0) throw new RangeError("A ConfigError needs at least one problem");
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
    const first = problems[0]!;
    this.path = first.file;
    this.line = first.line;
    this.column = first.column;
  }
}
