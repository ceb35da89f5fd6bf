/**
 * The constant table of the running OS. Choosing a table touches no native code, so importing
 * this module needs no permission.
 */
import { DARWIN } from "./constants_darwin.ts";
import { LINUX } from "./constants_linux.ts";

/** Shape shared by every platform table. */
export type PlatformConstants = {
  readonly [K in keyof typeof LINUX]: (typeof LINUX)[K] extends string ? string
    : (typeof LINUX)[K] extends boolean ? boolean
    : number;
};

function choose(): PlatformConstants {
  switch (Deno.build.os) {
    case "linux":
      return LINUX;
    case "darwin":
      return DARWIN;
    default:
      throw new Error(`Unsupported OS "${Deno.build.os}": chanrelay runs on Linux and macOS`);
  }
}

/** Constants of the OS this process runs on. */
export const C: PlatformConstants = choose();
