/** The shape of a subcommand module. */

/** A chanrelay subcommand: `run(args)` returns the process exit code. */
export interface Command {
  /** The word after `chanrelay`. */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** Runs the command with the arguments after its name. */
  run(args: string[]): Promise<number>;
}
