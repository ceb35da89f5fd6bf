/** libc constants for Linux (x86_64 and aarch64; checked against a C probe in the tests). */
export const LINUX = {
  os: "linux",
  libc: "libc.so.6",
  errnoSymbol: "__errno_location",
  hasMmsg: true,
  hasRxqOvfl: true,
  hasSockCloexec: true,
  hasFallocate: true,

  AF_INET: 2,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0x80000,
  IPPROTO_IP: 0,
  IPPROTO_UDP: 17,

  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_REUSEPORT: 15,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_RCVBUFFORCE: 33,
  SO_RCVTIMEO: 20,
  SO_RXQ_OVFL: 40,

  IP_MULTICAST_IF: 32,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IP_DROP_MEMBERSHIP: 36,
  IP_ADD_SOURCE_MEMBERSHIP: 39,
  IP_DROP_SOURCE_MEMBERSHIP: 40,
  IP_RECVTTL: 12,
  IP_TTL: 2,

  MSG_DONTWAIT: 0x40,
  MSG_TRUNC: 0x20,
  MSG_WAITFORONE: 0x10000,

  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,

  POLLIN: 1,

  EAGAIN: 11,
  EINTR: 4,
  ENOTCONN: 107,
  EBADF: 9,
  ENOBUFS: 105,

  O_RDONLY: 0,
  O_RDWR: 2,
  O_CREAT: 0x40,
  O_TRUNC: 0x200,
  O_CLOEXEC: 0x80000,
  O_DIRECTORY: 0x10000,

  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  MAP_POPULATE: 0x8000,
  MS_ASYNC: 1,
  MS_SYNC: 4,
  MADV_NORMAL: 0,
  MADV_RANDOM: 1,
  MADV_SEQUENTIAL: 2,
  MADV_WILLNEED: 3,
  MADV_DONTNEED: 4,
  MADV_POPULATE_WRITE: 23,
  SEEK_END: 2,

  SIGUSR1: 10,

  CLOCK_MONOTONIC: 1,
  CLOCK_REALTIME: 0,

  // syscall numbers (no glibc wrapper before 2.41): x86_64 and aarch64 differ
  SYS_sched_setattr: Deno.build.arch === "aarch64" ? 274 : 314,
  SYS_sched_getattr: Deno.build.arch === "aarch64" ? 275 : 315,
  SCHED_NORMAL: 0,
  SCHED_BATCH: 3,
  SCHED_FLAG_RESET_ON_FORK: 1,
} as const;
