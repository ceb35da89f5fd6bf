/** chanrelay: a UDP relay and recorder. See README.md. */
import { main } from "./src/cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
