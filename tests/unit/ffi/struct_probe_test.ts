/**
 * Checks the hand-written Linux tables of ffi/ against the C headers: a small C program, generated
 * from the tables themselves and compiled with gcc, prints every struct size and offset, every
 * constant and every errno value. A new field or constant is therefore checked automatically; one
 * with no C counterpart must be named in an allow-list below.
 */
import assert from "node:assert/strict";
import { LINUX } from "../../../ffi/constants_linux.ts";
import { errnoName, errnoNumber } from "../../../ffi/errno.ts";
import { LINUX_LAYOUT, type StructLayouts } from "../../../ffi/structs.ts";
import { canRun } from "../../helpers/env.ts";

const IS_LINUX = Deno.build.os === "linux";

/** Entries of LINUX with no C macro, and why. Every other entry must match the headers. */
const NO_C_COUNTERPART: Readonly<Record<string, string>> = {
  os: "a platform name",
  libc: "a library file name",
  errnoSymbol: "a symbol name, resolved by dlopen",
  hasMmsg: "a capability flag",
  hasRxqOvfl: "a capability flag",
  hasSockCloexec: "a capability flag",
  hasFallocate: "a capability flag",
};

/** Entries of LINUX that C defines as enum values, not macros (so `#ifdef` cannot test them). */
const C_ENUM_VALUES: ReadonlySet<string> = new Set(["SK_MEMINFO_DROPS"]);

const SA = "struct sockaddr_in";
const MH = "struct msghdr";

/**
 * The C expression of every LINUX_LAYOUT field, keyed `struct.field`. A field missing here fails
 * the test, so a field added to StructLayouts cannot go unchecked.
 */
const LAYOUT_EXPR: Readonly<Record<string, string>> = {
  "sockaddr_in.size": `sizeof(${SA})`,
  "sockaddr_in.len": "-1", // Linux has no sin_len (its absence is proven by family @0 below)
  "sockaddr_in.family": `offsetof(${SA}, sin_family)`,
  "sockaddr_in.familyBytes": `sizeof(((${SA} *)0)->sin_family)`,
  "sockaddr_in.port": `offsetof(${SA}, sin_port)`,
  "sockaddr_in.addr": `offsetof(${SA}, sin_addr)`,
  "ip_mreq.size": "sizeof(struct ip_mreq)",
  "ip_mreq.multiaddr": "offsetof(struct ip_mreq, imr_multiaddr)",
  "ip_mreq.interface": "offsetof(struct ip_mreq, imr_interface)",
  "ip_mreq_source.size": "sizeof(struct ip_mreq_source)",
  "ip_mreq_source.multiaddr": "offsetof(struct ip_mreq_source, imr_multiaddr)",
  "ip_mreq_source.interface": "offsetof(struct ip_mreq_source, imr_interface)",
  "ip_mreq_source.sourceaddr": "offsetof(struct ip_mreq_source, imr_sourceaddr)",
  "iovec.size": "sizeof(struct iovec)",
  "iovec.base": "offsetof(struct iovec, iov_base)",
  "iovec.len": "offsetof(struct iovec, iov_len)",
  "msghdr.size": `sizeof(${MH})`,
  "msghdr.name": `offsetof(${MH}, msg_name)`,
  "msghdr.namelen": `offsetof(${MH}, msg_namelen)`,
  "msghdr.iov": `offsetof(${MH}, msg_iov)`,
  "msghdr.iovlen": `offsetof(${MH}, msg_iovlen)`,
  "msghdr.iovlenBytes": `sizeof(((${MH} *)0)->msg_iovlen)`,
  "msghdr.control": `offsetof(${MH}, msg_control)`,
  "msghdr.controllen": `offsetof(${MH}, msg_controllen)`,
  "msghdr.controllenBytes": `sizeof(((${MH} *)0)->msg_controllen)`,
  "msghdr.flags": `offsetof(${MH}, msg_flags)`,
  "mmsghdr.size": "sizeof(struct mmsghdr)",
  "mmsghdr.hdr": "offsetof(struct mmsghdr, msg_hdr)",
  "mmsghdr.len": "offsetof(struct mmsghdr, msg_len)",
  "pollfd.size": "sizeof(struct pollfd)",
  "pollfd.fd": "offsetof(struct pollfd, fd)",
  "pollfd.events": "offsetof(struct pollfd, events)",
  "pollfd.revents": "offsetof(struct pollfd, revents)",
  "timeval.size": "sizeof(struct timeval)",
  "timeval.sec": "offsetof(struct timeval, tv_sec)",
  "timeval.usec": "offsetof(struct timeval, tv_usec)",
  "timeval.usecBytes": "sizeof(((struct timeval *)0)->tv_usec)",
  "cmsghdr.size": "sizeof(struct cmsghdr)",
  "cmsghdr.len": "offsetof(struct cmsghdr, cmsg_len)",
  "cmsghdr.level": "offsetof(struct cmsghdr, cmsg_level)",
  "cmsghdr.type": "offsetof(struct cmsghdr, cmsg_type)",
  "cmsghdr.data": "CMSG_LEN(0)",
  "cmsgSpaceU32": "CMSG_SPACE(sizeof(uint32_t))",
  "sched_attr.size": "SCHED_ATTR_SIZE_VER0",
  "sched_attr.policy": "offsetof(struct sched_attr, sched_policy)",
  "sched_attr.flags": "offsetof(struct sched_attr, sched_flags)",
  "sched_attr.nice": "offsetof(struct sched_attr, sched_nice)",
  "sched_attr.priority": "offsetof(struct sched_attr, sched_priority)",
  "sched_attr.runtime": "offsetof(struct sched_attr, sched_runtime)",
};

/**
 * Field widths the encoders in ffi/ assume without a table entry (they read/write these with
 * fixed-width DataView calls), checked too.
 */
const ASSUMED_WIDTHS: Readonly<Record<string, [string, number]>> = {
  "sockaddr_in port is u16": [`sizeof(((${SA} *)0)->sin_port)`, 2],
  "sockaddr_in addr is 4 bytes": [`sizeof(((${SA} *)0)->sin_addr)`, 4],
  "msghdr namelen is u32": [`sizeof(((${MH} *)0)->msg_namelen)`, 4],
  "msghdr flags is i32": [`sizeof(((${MH} *)0)->msg_flags)`, 4],
  "mmsghdr msg_len is u32": ["sizeof(((struct mmsghdr *)0)->msg_len)", 4],
  "iovec len is 8 bytes": ["sizeof(((struct iovec *)0)->iov_len)", 8],
  "pointers are 8 bytes": ["sizeof(void *)", 8],
  "timeval sec is 8 bytes": ["sizeof(((struct timeval *)0)->tv_sec)", 8],
  "cmsghdr level is i32": ["sizeof(((struct cmsghdr *)0)->cmsg_level)", 4],
  "cmsghdr type is i32": ["sizeof(((struct cmsghdr *)0)->cmsg_type)", 4],
  "pollfd events is i16": ["sizeof(((struct pollfd *)0)->events)", 2],
  "socklen_t is u32": ["sizeof(socklen_t)", 4],
  "off_t is 64-bit": ["sizeof(off_t)", 8],
  "sched_attr policy is u32": ["sizeof(((struct sched_attr *)0)->sched_policy)", 4],
  "sched_attr flags is u64": ["sizeof(((struct sched_attr *)0)->sched_flags)", 8],
  "sched_attr runtime is u64": ["sizeof(((struct sched_attr *)0)->sched_runtime)", 8],
};

const HEADERS = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/sock_diag.h>
#include <linux/sched/types.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
`;

/** Flattens a layout table to `struct.field` keys. */
function flattenLayout(layout: StructLayouts): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, value] of Object.entries(layout)) {
    if (typeof value === "number") out.set(name, value);
    else {
      for (const [field, n] of Object.entries(value as Record<string, number>)) {
        out.set(`${name}.${field}`, n);
      }
    }
  }
  return out;
}

/** The names of LINUX entries that must have a C macro. */
function numericConstants(): string[] {
  return Object.entries(LINUX)
    .filter(([k, v]) => typeof v === "number" && !(k in NO_C_COUNTERPART))
    .map(([k]) => k);
}

function cString(s: string): string {
  return JSON.stringify(s);
}

/** Generates the probe. Missing macros are left out of the JSON (so the test can name them). */
function probeSource(errnoNames: string[]): string {
  const lines: string[] = [
    HEADERS,
    "static int first = 1;",
    "static void p(const char *k, long long v) {",
    '  printf("%s\\"%s\\":%lld", first ? "" : ",", k, v);',
    "  first = 0;",
    "}",
    "int main(void) {",
    '  printf("{\\"layout\\":{");',
  ];
  for (const [key, expr] of Object.entries(LAYOUT_EXPR)) {
    lines.push(`  p(${cString(key)}, (long long)(${expr}));`);
  }
  lines.push('  printf("},\\"widths\\":{"); first = 1;');
  for (const [key, [expr]] of Object.entries(ASSUMED_WIDTHS)) {
    lines.push(`  p(${cString(key)}, (long long)(${expr}));`);
  }
  lines.push('  printf("},\\"constants\\":{"); first = 1;');
  for (const name of numericConstants()) {
    const print = `  p(${cString(name)}, (long long)(${name}));`;
    if (C_ENUM_VALUES.has(name)) lines.push(print);
    else lines.push(`#ifdef ${name}`, print, "#endif");
  }
  lines.push('  printf("},\\"errno\\":{"); first = 1;');
  for (const name of errnoNames) {
    lines.push(`#ifdef ${name}`, `  p(${cString(name)}, (long long)(${name}));`, "#endif");
  }
  lines.push('  printf("}}\\n");', "  return 0;", "}");
  return lines.join("\n") + "\n";
}

interface ProbeResult {
  layout: Record<string, number>;
  widths: Record<string, number>;
  constants: Record<string, number>;
  errno: Record<string, number>;
}

function hasGcc(): boolean {
  try {
    return new Deno.Command("gcc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const td = new TextDecoder();
  if (!out.success) {
    throw new Error(`"${cmd} ${args.join(" ")}" failed (${out.code}): ${td.decode(out.stderr)}`);
  }
  return td.decode(out.stdout);
}

let probe: Promise<ProbeResult> | undefined;

/** Compiles and runs the probe once per test file. */
function runProbe(): Promise<ProbeResult> {
  probe ??= (async () => {
    // every E* macro <errno.h> defines, straight from the preprocessor
    const macros = await run("gcc", ["-dM", "-E", "-x", "c", "-"], "#include <errno.h>\n");
    const errnoNames = [...macros.matchAll(/^#define (E[A-Z0-9]+) /gm)].map((m) => m[1]!);
    assert.ok(errnoNames.length > 100, `only ${errnoNames.length} errno macros found`);
    const dir = await Deno.makeTempDir({ prefix: "chanrelay_probe_" });
    try {
      await Deno.writeTextFile(`${dir}/probe.c`, probeSource(errnoNames));
      await run("gcc", ["-std=c11", "-Wall", "-Werror", "-o", `${dir}/probe`, `${dir}/probe.c`]);
      return JSON.parse(await run(`${dir}/probe`, [])) as ProbeResult;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return probe;
}

function gccReady(name: string): boolean {
  return canRun(name, hasGcc(), "gcc (apt-get install gcc)");
}

Deno.test({
  name: "every LINUX_LAYOUT size and offset matches the C headers",
  ignore: !IS_LINUX,
  async fn(t) {
    if (!gccReady(t.name)) return;
    const c = await runProbe();
    const ours = flattenLayout(LINUX_LAYOUT);
    const unchecked = [...ours.keys()].filter((k) => !(k in LAYOUT_EXPR));
    assert.deepEqual(unchecked, [], `Layout fields with no C expression in the test`);
    const wrong: string[] = [];
    for (const [key, value] of ours) {
      if (c.layout[key] !== value) wrong.push(`${key}: ours ${value}, C ${c.layout[key]}`);
    }
    assert.deepEqual(wrong, [], "Layout fields that differ from C");
    // no sin_len: the family is the first field and two bytes wide
    assert.equal(c.layout["sockaddr_in.family"], 0);
    assert.equal(c.layout["sockaddr_in.familyBytes"], 2);
  },
});

Deno.test({
  name: "field widths the struct encoders assume match the C headers",
  ignore: !IS_LINUX,
  async fn(t) {
    if (!gccReady(t.name)) return;
    const c = await runProbe();
    for (const [what, [, expected]] of Object.entries(ASSUMED_WIDTHS)) {
      assert.equal(c.widths[what], expected, what);
    }
  },
});

Deno.test({
  name: "every numeric LINUX constant equals its C macro",
  ignore: !IS_LINUX,
  async fn(t) {
    if (!gccReady(t.name)) return;
    const c = await runProbe();
    const nonNumericUnlisted = Object.entries(LINUX)
      .filter(([k, v]) => typeof v !== "number" && !(k in NO_C_COUNTERPART))
      .map(([k]) => k);
    assert.deepEqual(nonNumericUnlisted, [], "Non-numeric constants missing from NO_C_COUNTERPART");
    const wrong: string[] = [];
    for (const name of numericConstants()) {
      const ours = LINUX[name as keyof typeof LINUX];
      if (!(name in c.constants)) wrong.push(`${name}: no C macro (list it in NO_C_COUNTERPART)`);
      else if (c.constants[name] !== ours) {
        wrong.push(`${name}: ours ${ours}, C ${c.constants[name]}`);
      }
    }
    assert.deepEqual(wrong, [], "Constants that differ from C");
  },
});

Deno.test({
  name: "errno names agree with <errno.h>",
  ignore: !IS_LINUX,
  async fn(t) {
    if (!gccReady(t.name)) return;
    const c = await runProbe();
    const byValue = new Map<number, string[]>();
    for (const [name, v] of Object.entries(c.errno)) {
      byValue.set(v, [...(byValue.get(v) ?? []), name]);
    }
    const wrong: string[] = [];
    let named = 0;
    for (let v = 1; v < 4096; v++) {
      const name = errnoName(v);
      if (name === `errno ${v}`) continue;
      named++;
      if (c.errno[name] !== v) {
        wrong.push(`${v}: ours "${name}", C ${(byValue.get(v) ?? ["nothing"]).join("/")}`);
      }
      if (errnoNumber(name) !== v) wrong.push(`errnoNumber("${name}") is ${errnoNumber(name)}`);
    }
    assert.deepEqual(wrong, [], "errno names that differ from C");
    assert.ok(named >= 60, `only ${named} errno values named`);
    // the values the ffi layer tests for by number must have their names
    for (const name of ["EAGAIN", "EINTR", "EBADF", "ENOTCONN", "ENOSPC", "EADDRINUSE", "EINVAL"]) {
      assert.equal(errnoName(c.errno[name]!), name);
    }
  },
});
