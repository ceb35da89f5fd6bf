/** Messages between the supervisor and a channel Worker: discriminated unions. */
import type { ChannelPlan } from "./plan.ts";
import type { RingHandle } from "../decimate/ring.ts";

/** Supervisor → Worker. */
export type ToWorker = {
  type: "start";
  plan: ChannelPlan;
  sab: SharedArrayBuffer;
  ring: RingHandle | null;
};

/** Worker → supervisor. */
export type FromWorker =
  | {
    type: "ready";
    rcvbufRequested: number;
    rcvbufEffective: number;
    rcvbufClamped: boolean;
    dropCounter: boolean;
  }
  | {
    type: "fatal";
    stage: "socket" | "bind" | "join" | "destination";
    message: string;
    code: string | null;
  }
  | { type: "crashed"; message: string; stack: string }
  | { type: "stopped" };

/** Returns the message if it is a well-formed FromWorker, else null. */
export function parseFromWorker(data: unknown): FromWorker | null {
  if (typeof data !== "object" || data === null) return null;
  const m = data as Record<string, unknown>;
  switch (m.type) {
    case "ready":
      return typeof m.rcvbufEffective === "number" ? (m as unknown as FromWorker) : null;
    case "fatal":
    case "crashed":
      return typeof m.message === "string" ? (m as unknown as FromWorker) : null;
    case "stopped":
      return { type: "stopped" };
    default:
      return null;
  }
}

/** Returns the message if it is a well-formed ToWorker, else null. */
export function parseToWorker(data: unknown): ToWorker | null {
  if (typeof data !== "object" || data === null) return null;
  const m = data as Record<string, unknown>;
  switch (m.type) {
    case "start":
      return m.sab instanceof SharedArrayBuffer && typeof m.plan === "object" && m.plan !== null
        ? (m as unknown as ToWorker)
        : null;
    default:
      return null;
  }
}
