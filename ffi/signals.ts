/** Signal dispositions set through libc (for what Deno's signal API cannot do). */
import { C } from "./constants.ts";
import { libc } from "./libc.ts";

/**
 * Sets SIGUSR1 to "ignore". Deno (since 2.9.2) opens the V8 inspector on 127.0.0.1:9229 when a
 * process gets SIGUSR1, whatever listeners it has: for a daemon that is a way for any local user
 * to run code as the daemon's user. Deno installs that handler about 500 ms after start, so call
 * this after that (and again later, to be sure). SIGUSR1 listeners stop working too.
 */
export function ignoreSigusr1(): void {
  libc().signal(C.SIGUSR1, Deno.UnsafePointer.create(1n)); // SIG_IGN is (sighandler_t) 1
}
