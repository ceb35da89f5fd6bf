/** Command-line errors and the sysexits codes chanrelay exits with. */

/** sysexits(3) codes. */
export const EXIT = {
  OK: 0,
  /** Bad flags or arguments. */
  USAGE: 64,
  /** Bad input data (e.g. a damaged file that cannot be recovered). */
  DATAERR: 65,
  /** A file named on the command line cannot be opened. */
  NOINPUT: 66,
  /** Internal error. */
  SOFTWARE: 70,
  /** An OS error (socket, file). */
  OSERR: 71,
  /** I/O error. */
  IOERR: 74,
  /** Configuration error (bad config, a channel that cannot bind at start). */
  CONFIG: 78,
} as const;

/** A bad flag or argument: printed with a hint to `--help`, exit 64. */
export class UsageError extends Error {
  /** The subcommand it concerns. */
  readonly command: string;
  constructor(command: string, message: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** An error that carries its own exit code and message, printed as is. */
export class ExitError extends Error {
  /** Process exit code. */
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "ExitError";
    this.code = code;
  }
}
