/**
 * The metrics and status server (Deno.serve): `/metrics` (Prometheus text), `/health`, `/stats`
 * (JSON) and `/`, a live status page that polls `/stats` every second.
 */
import { log } from "../log.ts";
import { RateHistory, type RateSeries } from "./history.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from "./prometheus.ts";
import type { StatusChannel, StatusSource } from "./status_source.ts";
import { INITIAL_STATE_MARKER, STATUS_PAGE_HTML } from "./status_page.ts";

/** Options of `startMetricsServer`. */
export interface MetricsServerOptions {
  /** Address to listen on, e.g. "127.0.0.1". */
  readonly hostname: string;
  /** TCP port; 0 lets the system pick (read it from `url`). */
  readonly port: number;
  /** Where the numbers come from. */
  readonly source: StatusSource;
  /** Aborting it closes the server. */
  readonly signal?: AbortSignal;
  /** Rate sampling period for the status page. @default 1000 */
  readonly sampleMs?: number;
}

/** A running server. */
export interface MetricsServer {
  /** Its base URL, e.g. "http://127.0.0.1:9464/". */
  readonly url: string;
  /** Stops listening and waits for open requests (idempotent). */
  close(): Promise<void>;
}

/** The body of `/stats`. */
export interface StatsBody {
  readonly info: ReturnType<StatusSource["info"]>;
  readonly nowMs: number;
  readonly uptimeSeconds: number;
  readonly rssBytes: number;
  readonly health: ReturnType<StatusSource["health"]>;
  readonly channels: readonly (StatusChannel & {
    readonly rates: ReturnType<RateHistory["latest"]>;
    readonly disk: { path: string; usedBytes: number; availableBytes: number | null } | null;
  })[];
  /** Rate history per channel, newer than `?history=SINCE_MS` (only with that parameter). */
  readonly history?: Record<string, RateSeries>;
}

const ERRNO_OF: Record<string, string> = {
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
};

async function sha256Base64(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(d)));
}

/** The Content-Security-Policy of the page: only its own inline script and style, fetches to self. */
async function pageCsp(html: string): Promise<string> {
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (style === undefined || script === undefined) {
    throw new Error("Status page lacks its inline <style> or <script>");
  }
  return [
    "default-src 'none'",
    `script-src 'sha256-${await sha256Base64(script)}'`,
    `style-src 'sha256-${await sha256Base64(style)}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Starts the server; resolves once it listens.
 *
 * @throws {Error} `Cannot serve metrics on "127.0.0.1:9464": EADDRINUSE` and the like
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { source } = opts;
  const history = new RateHistory(300);
  const csp = await pageCsp(STATUS_PAGE_HTML);
  const where = `${opts.hostname}:${opts.port}`;

  const sample = () => {
    try {
      history.add(source.snapshots());
    } catch (e) {
      log.limited("metrics-sample", 60_000, "warn", "Cannot sample the channels", {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  };

  const stats = (sinceMs: number | null): StatsBody => {
    const info = source.info();
    const channels = source.snapshots();
    const disk = new Map((source.diskUsage?.() ?? []).map((d) => [d.channel, d]));
    const now = Date.now();
    const body: StatsBody = {
      info,
      nowMs: now,
      uptimeSeconds: Math.max(0, (now - info.startedMs) / 1000),
      rssBytes: Deno.memoryUsage().rss,
      health: source.health(),
      channels: channels.map((c) => {
        const d = disk.get(c.name);
        return {
          ...c,
          rates: history.latest(c.name),
          disk: d
            ? { path: d.path, usedBytes: d.usedBytes, availableBytes: d.availableBytes }
            : null,
        };
      }),
    };
    if (sinceMs === null) return body;
    const h: Record<string, RateSeries> = {};
    for (const c of channels) h[c.name] = history.series(c.name, sinceMs);
    return { ...body, history: h };
  };

  const metrics = (): Response => {
    const info = source.info();
    const now = Date.now();
    const disk = source.diskUsage?.();
    const text = renderPrometheus({
      version: info.version,
      channels: source.snapshots(),
      rssBytes: Deno.memoryUsage().rss,
      uptimeSeconds: Math.max(0, (now - info.startedMs) / 1000),
      startTimeSeconds: info.startedMs / 1000,
      ...(disk !== undefined ? { disk } : {}),
    });
    return new Response(text, {
      headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
    });
  };

  const page = (): Response => {
    // the initial state rides along so the page shows numbers before its first poll; "<" is
    // escaped so no value can close the <script> element
    const initial = JSON.stringify(stats(0)).replaceAll("<", "\\u003c");
    return new Response(STATUS_PAGE_HTML.replace(INITIAL_STATE_MARKER, () => initial), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      },
    });
  };

  const handler = (req: Request): Response => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const url = new URL(req.url);
    try {
      switch (url.pathname) {
        case "/metrics":
          return metrics();
        case "/health": {
          const h = source.health();
          return h.ok
            ? json({ status: "ok" })
            : json({ status: "unhealthy", reasons: h.reasons }, 503);
        }
        case "/stats": {
          const since = url.searchParams.get("history");
          const n = since === null ? null : Number(since);
          return json(stats(n === null || !Number.isFinite(n) ? null : n));
        }
        case "/":
        case "/index.html":
          return page();
        default:
          return new Response("Not found: try /, /metrics, /health or /stats\n", { status: 404 });
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log.limited("metrics-request", 60_000, "error", "Metrics request failed", {
        path: url.pathname,
        error: message,
      });
      return json({ status: "error", error: message }, 500);
    }
  };

  const listening = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: opts.hostname,
      port: opts.port,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      onListen: (addr) => listening.resolve(addr), // and no "Listening on" banner
      onError: (e) => {
        log.limited("metrics-error", 60_000, "error", "Metrics server error", {
          error: e instanceof Error ? e.message : String(e),
        });
        return new Response("Internal error\n", { status: 500 });
      },
    }, handler);
  } catch (e) {
    const code = e instanceof Error ? ERRNO_OF[e.name] ?? e.message : String(e);
    throw new Error(`Cannot serve metrics on "${where}": ${code}`, { cause: e });
  }
  const addr = await listening.promise;

  sample();
  const timer = setInterval(sample, opts.sampleMs ?? 1000);
  Deno.unrefTimer(timer);
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(timer);
      await server.shutdown().catch(() => {}); // already shut down by the signal
      await server.finished;
    })();
    return closing;
  };
  opts.signal?.addEventListener("abort", () => void close(), { once: true });
  void server.finished.then(() => clearInterval(timer));

  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${host}:${addr.port}/`;
  log.info("Metrics and status page", { url });
  return { url, close };
}
