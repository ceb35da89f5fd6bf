/** libc constants for macOS (from the system headers; macOS has no recvmmsg/sendmmsg). */
export const DARWIN = {
  os: "darwin",
  libc: "/usr/lib/libSystem.B.dylib",
  errnoSymbol: "__error",
  hasMmsg: false,
  hasRxqOvfl: false,
  hasSockCloexec: false,
  hasFallocate: false,

  AF_INET: 2,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0,
  IPPROTO_IP: 0,
  IPPROTO_UDP: 17,

  SOL_SOCKET: 0xffff,
  SO_REUSEADDR: 0x4,
  SO_REUSEPORT: 0x200,
  SO_SNDBUF: 0x1001,
  SO_RCVBUF: 0x1002,
  SO_RCVBUFFORCE: -1,
  SO_RCVTIMEO: 0x1006,
  SO_RXQ_OVFL: -1,

  IP_MULTICAST_IF: 9,
  IP_MULTICAST_TTL: 10,
  IP_MULTICAST_LOOP: 11,
  IP_ADD_MEMBERSHIP: 12,
  IP_DROP_MEMBERSHIP: 13,
  IP_ADD_SOURCE_MEMBERSHIP: 70,
  IP_DROP_SOURCE_MEMBERSHIP: 71,
  IP_RECVTTL: -1,
  IP_TTL: 4,

  MSG_DONTWAIT: 0x80,
  MSG_TRUNC: 0x10,
  MSG_WAITFORONE: 0,

  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,

  POLLIN: 1,

  EAGAIN: 35,
  EINTR: 4,
  ENOTCONN: 57,
  EBADF: 9,
  ENOBUFS: 55,

  O_RDONLY: 0,
  O_RDWR: 2,
  O_CREAT: 0x200,
  O_TRUNC: 0x400,
  O_CLOEXEC: 0x1000000,
  O_DIRECTORY: 0x100000,

  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  MAP_POPULATE: 0,
  MS_ASYNC: 1,
  MS_SYNC: 0x10,
  MADV_NORMAL: 0,
  MADV_RANDOM: 1,
  MADV_SEQUENTIAL: 2,
  MADV_WILLNEED: 3,
  MADV_DONTNEED: 4,
  MADV_POPULATE_WRITE: -1,
  SEEK_END: 2,

  SIGUSR1: 30,

  CLOCK_MONOTONIC: 6,
  CLOCK_REALTIME: 0,

  // macOS has no sched_setattr: thread time slices stay the kernel's
  SYS_sched_setattr: -1,
  SYS_sched_getattr: -1,
  SCHED_NORMAL: -1,
  SCHED_BATCH: -1,
  SCHED_FLAG_RESET_ON_FORK: -1,
} as const;
