import { deepEqual, equal, ok } from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse as parseYamlText } from "yaml";
import { configJsonSchema } from "../../../src/config/json_schema.ts";
import { loadConfigText } from "../../../src/config/load.ts";
import { DENO, ROOT } from "../../helpers/env.ts";

const GOOD = new URL("../../fixtures/config/good/", import.meta.url).pathname;
const BAD = new URL("../../fixtures/config/bad/", import.meta.url).pathname;

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  return ajv.compile(configJsonSchema());
}

function yamlObject(path: string): unknown {
  return parseYamlText(Deno.readTextFileSync(path), { merge: true });
}

Deno.test("every good config validates against the generated JSON Schema", () => {
  const validate = validator();
  const names = [...Deno.readDirSync(GOOD)].map((e) => e.name).filter((n) => n.endsWith(".yaml"));
  ok(names.length >= 3);
  for (const name of names) {
    const obj = yamlObject(GOOD + name);
    loadConfigText(Deno.readTextFileSync(GOOD + name), name); // chanrelay accepts it too
    ok(validate(obj), `${name}: ${JSON.stringify(validate.errors)}`);
  }
});

Deno.test("bad configs are rejected by the JSON Schema too, for the same reason", () => {
  const validate = validator();
  const cases: [string, string, string][] = [
    ["02_unknown_key_did_you_mean.yaml", "additionalProperties", "/channels/adc0"],
    ["03_missing_listen.yaml", "required", "/channels/adc0"],
    ["06_bad_channel_name.yaml", "pattern", "/channels"],
    ["12_relay_empty.yaml", "minItems", "/channels/adc0/relay"],
    ["14_ttl_out_of_range.yaml", "maximum", "/channels/adc0/relay/0/ttl"],
    ["15_loop_not_boolean.yaml", "type", "/channels/adc0/relay/0/loop"],
    ["24_decimate_unknown_format.yaml", "enum", "/channels/adc0/decimate/samples/format"],
    ["29_log_level_unknown.yaml", "enum", "/log/level"],
    ["36_unknown_top_key.yaml", "required", ""],
    ["07_bad_size.yaml", "pattern", "/channels/adc0/rcvbuf"],
  ];
  for (const [name, keyword, at] of cases) {
    equal(validate(yamlObject(BAD + name)), false, `${name} passed the JSON Schema`);
    const hit = validate.errors?.some((e) => e.keyword === keyword && e.instancePath === at);
    ok(hit, `${name}: expected ${keyword} at "${at}", got ${JSON.stringify(validate.errors)}`);
  }
});

Deno.test("the JSON Schema carries defaults, descriptions and no machine-dependent default", () => {
  const s = configJsonSchema() as {
    $schema: string;
    properties: Record<string, { default?: unknown; description?: string }>;
  };
  equal(s.$schema, "https://json-schema.org/draft/2020-12/schema");
  equal(s.properties.data_dir!.default, "./data");
  equal(s.properties.metrics!.default, "127.0.0.1:9464");
  equal(s.properties.stats_interval!.default, "10s");
  equal(s.properties.decimate_workers!.default, undefined);
  ok(s.properties.decimate_workers!.description?.includes("cores"));
  const channel = (s.properties.channels as unknown as {
    additionalProperties: { properties: Record<string, { default?: unknown }> };
  }).additionalProperties;
  equal(channel.properties.rcvbuf!.default, "8MiB");
});

Deno.test("chanrelay schema prints the same JSON Schema", async () => {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", "--frozen", "--config", `${ROOT}deno.json`, `${ROOT}main.ts`, "schema"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), configJsonSchema());
});
