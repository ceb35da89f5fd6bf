/** `chanrelay schema`: prints the config file's JSON Schema (for editors). */
import type { Command } from "./command.ts";
import { parseFlags } from "./flags.ts";
import { EXIT } from "./usage.ts";
import { configJsonSchema } from "../config/json_schema.ts";

const HELP = `Usage: chanrelay schema

Prints the JSON Schema (draft 2020-12) of the config file, generated from the same schema that
validates it. Point your editor at it, e.g. for the YAML language server add this first line to
chanrelay.yaml:

  # yaml-language-server: $schema=./chanrelay.schema.json

after "chanrelay schema > chanrelay.schema.json".`;

/** The `schema` subcommand. */
export const command: Command = {
  name: "schema",
  summary: "Print the config file's JSON Schema (for editors)",
  help: HELP,
  run(args: string[]): Promise<number> {
    parseFlags("schema", args, {});
    console.log(JSON.stringify(configJsonSchema(), null, 2));
    return Promise.resolve(EXIT.OK);
  },
};
