/** The JSON Schema of the config file, generated from the one zod schema (what users write). */
import { z } from "zod";
import { configSchema } from "./schema.ts";

/** Where editors can find the schema (the `$id`); `chanrelay schema` prints it. */
export const CONFIG_SCHEMA_ID = "https://chanrelay.invalid/schema/config.json";

/**
 * A JSON Schema (draft 2020-12) for `chanrelay.yaml`: types, defaults, titles and descriptions
 * for editors. Cross-field rules (mode-specific keys, loops, sizes that must agree) are checked
 * only by chanrelay itself.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: "input",
    target: "draft-2020-12",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
  const workers = props?.decimate_workers;
  // The default depends on the machine (cores - 1): leave it to the description.
  if (workers) delete workers.default;
  return {
    $schema: schema.$schema,
    $id: CONFIG_SCHEMA_ID,
    ...schema,
  };
}
