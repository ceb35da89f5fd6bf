/**
 * The live status page: one self-contained HTML document (inline CSS and JS, no build step),
 * kept as a string so `deno compile` embeds it. The server replaces INITIAL_STATE_MARKER with the
 * `/stats?history=0` JSON; the page then polls `/stats?history=<last sample>` every second.
 *
 * The server's Content-Security-Policy allows exactly this document's one inline <style> and one
 * executable <script> by hash: keep them single, and set no `style` attributes from the script.
 */

/** Replaced by the initial state (JSON) when the page is served. */
export const INITIAL_STATE_MARKER = "__CHANRELAY_INITIAL_STATE__";

/** The page. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>chanrelay status</title>
<style>
:root {
  --bg: #f4f6f8; --panel: #ffffff; --text: #17202a; --muted: #5d6875; --border: #dfe3e8;
  --head: #eef1f4; --ok: #177245; --ok-bg: #e3f5ea; --warn: #9a5b00; --warn-bg: #fff3d6;
  --bad: #b42318; --bad-bg: #fdecea; --info: #1d4ed8; --info-bg: #e5edff;
  --rx: #2563eb; --relay: #7c3aed; --loss: #dc2626;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1217; --panel: #161b22; --text: #e5e9ee; --muted: #8d97a3; --border: #29313b;
    --head: #1b222b; --ok: #4ade80; --ok-bg: #12301f; --warn: #fbbf24; --warn-bg: #3a2a07;
    --bad: #f87171; --bad-bg: #3d1414; --info: #93b4ff; --info-bg: #172447;
    --rx: #60a5fa; --relay: #a78bfa; --loss: #f87171;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.num, td, .tile b { font-variant-numeric: tabular-nums; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 24px; padding: 14px 24px;
  background: var(--panel); border-bottom: 1px solid var(--border); }
header h1 { margin: 0; font-size: 18px; font-weight: 650; letter-spacing: .2px; }
header h1 small { color: var(--muted); font-weight: 400; font-size: 13px; margin-left: 6px; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0; color: var(--muted); font-size: 13px; }
.facts div { display: flex; gap: 5px; }
.facts dt { margin: 0; }
.facts dd { margin: 0; color: var(--text); }
.spacer { flex: 1; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid transparent; }
.b-ok { color: var(--ok); background: var(--ok-bg); }
.b-warn { color: var(--warn); background: var(--warn-bg); }
.b-bad { color: var(--bad); background: var(--bad-bg); }
.b-info { color: var(--info); background: var(--info-bg); }
.b-mute { color: var(--muted); background: var(--head); }
.conn { font-size: 12px; color: var(--muted); display: flex; align-items: center; gap: 6px; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--ok); }
.conn.lost .dot { background: var(--bad); }
.conn.lost { color: var(--bad); }
main { padding: 18px 24px 28px; max-width: 1600px; margin: 0 auto; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 10px 14px; }
.tile span { display: block; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.tile b { display: block; font-size: 22px; font-weight: 650; margin-top: 2px; }
.tile i { display: block; font-style: normal; color: var(--muted); font-size: 12px; }
.tile.alert b { color: var(--bad); }
.reasons { background: var(--bad-bg); color: var(--bad); border: 1px solid var(--bad); border-radius: 10px;
  padding: 10px 14px; margin-bottom: 16px; }
.reasons ul { margin: 4px 0 0; padding-left: 20px; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; overflow-x: auto; }
table { width: 100%; border-collapse: collapse; min-width: 1080px; }
th { text-align: left; font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase;
  letter-spacing: .5px; background: var(--head); padding: 8px 12px; border-bottom: 1px solid var(--border); }
td { vertical-align: top; padding: 12px; border-bottom: 1px solid var(--border); }
tr:last-child td { border-bottom: 0; }
.name { font-weight: 650; font-size: 15px; }
.sub { color: var(--muted); font-size: 12px; }
.mono { font-family: var(--mono); font-size: 12px; }
.dests { margin: 6px 0 0; padding: 0; list-style: none; font-size: 12px; }
.dests li { display: flex; gap: 8px; color: var(--muted); white-space: nowrap; }
.dests .to { font-family: var(--mono); color: var(--text); }
.dests .err { color: var(--bad); }
.rate { display: flex; align-items: baseline; gap: 6px; }
.rate b { font-size: 17px; font-weight: 650; }
.rate em { font-style: normal; color: var(--muted); font-size: 12px; }
svg.spark { display: block; width: 100%; max-width: 240px; height: 38px; margin: 4px 0 2px; }
svg.spark .base { stroke: var(--border); stroke-width: 1; }
svg.spark .line { fill: none; stroke-width: 1.5; stroke-linejoin: round; }
svg.spark .area { stroke: none; opacity: .16; }
.s-rx .line { stroke: var(--rx); } .s-rx .area { fill: var(--rx); }
.s-relay .line { stroke: var(--relay); } .s-relay .area { fill: var(--relay); }
.s-loss .line { stroke: var(--loss); } .s-loss .area { fill: var(--loss); }
svg.spark.flat .line { stroke: var(--muted); opacity: .5; }
.losses { display: grid; grid-template-columns: max-content max-content; gap: 1px 14px; font-size: 12px; }
.rate b.bad { color: var(--bad); }
.losses span { color: var(--muted); }
.losses b { font-weight: 600; text-align: right; }
.losses b.nz { color: var(--warn); }
.losses b.rising { color: var(--bad); }
.file { font-family: var(--mono); font-size: 12px; word-break: break-all; }
td.state .sub { white-space: nowrap; }
.err-text { color: var(--bad); font-size: 12px; margin-top: 4px; max-width: 260px; word-break: break-word; }
.empty { color: var(--muted); padding: 24px; text-align: center; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 24px 24px; }
</style>
</head>
<body>
<header>
  <h1>chanrelay<small id="version"></small></h1>
  <span id="health" class="badge b-mute">…</span>
  <dl class="facts">
    <div><dt>host</dt><dd id="host">–</dd></div>
    <div><dt>pid</dt><dd id="pid" class="num">–</dd></div>
    <div><dt>up</dt><dd id="uptime" class="num">–</dd></div>
    <div><dt>memory</dt><dd id="rss" class="num">–</dd></div>
    <div><dt>config</dt><dd id="config" class="mono">–</dd></div>
  </dl>
  <div class="spacer"></div>
  <div id="conn" class="conn"><span class="dot"></span><span id="conn-text">connecting…</span></div>
</header>
<main>
  <section class="tiles">
    <div class="tile"><span>Channels up</span><b id="t-up">–</b><i id="t-up-sub">&nbsp;</i></div>
    <div class="tile"><span>Received</span><b id="t-rx">–</b><i id="t-rx-sub">&nbsp;</i></div>
    <div class="tile"><span>Relayed</span><b id="t-relay">–</b><i id="t-relay-sub">&nbsp;</i></div>
    <div class="tile" id="t-loss-tile"><span>Losses</span><b id="t-loss">–</b><i id="t-loss-sub">&nbsp;</i></div>
    <div class="tile"><span>Recorded</span><b id="t-rec">–</b><i id="t-rec-sub">&nbsp;</i></div>
  </section>
  <section id="reasons" class="reasons" hidden><b>Unhealthy</b><ul id="reason-list"></ul></section>
  <section class="panel">
    <table>
      <thead><tr>
        <th>Channel</th><th>State</th><th>Received</th><th>Relayed</th><th>Losses</th><th>Recording</th>
      </tr></thead>
      <tbody id="rows"><tr><td colspan="6" class="empty">Loading…</td></tr></tbody>
    </table>
  </section>
  <noscript><p class="empty">This page needs JavaScript; the numbers are also at /stats and /metrics.</p></noscript>
</main>
<footer>Rates over the last 5 minutes, sampled every second · <a href="/metrics">/metrics</a> · <a href="/stats">/stats</a> · <a href="/health">/health</a></footer>
<script id="initial-state" type="application/json">${INITIAL_STATE_MARKER}</script>
<script>
"use strict";
(() => {
  const WINDOW_MS = 5 * 60 * 1000;
  const POLL_MS = 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const LOSSES = [
    ["kernelDrops", "kernel drops"],
    ["relayErrors", "relay errors"],
    ["decimateOverruns", "ring overruns"],
    ["recordErrors", "record errors"],
    ["unrecorded", "unrecorded"],
    ["truncated", "truncated"],
  ];
  const STATE_BADGE = {
    running: ["running", "b-ok"], starting: ["starting", "b-info"], backoff: ["restarting", "b-warn"],
    failed: ["failed", "b-bad"], stopped: ["stopped", "b-mute"],
  };

  const $ = (id) => document.getElementById(id);
  const nf = new Intl.NumberFormat("en-US");
  const int = (v) => nf.format(Math.round(v));
  function compact(v) {
    const a = Math.abs(v);
    for (const [f, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
      if (a >= f && a >= 1e4) {
        const x = v / f;
        return x.toFixed(Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2) + u;
      }
    }
    return int(v);
  }
  const rate = (v) => (v < 10 && v > 0 ? v.toFixed(1) : compact(v));
  const mbit = (bps) => (bps / 1e6).toFixed(bps >= 1e8 ? 0 : bps >= 1e7 ? 1 : 2) + " Mbit/s";
  function bytes(b) {
    const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i === 0 ? String(Math.round(b)) : b.toFixed(b >= 100 ? 0 : 1)) + " " + u[i];
  }
  function duration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + (s % 60) + "s";
    return s + "s";
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, text, value) {
    if (e.textContent !== text) e.textContent = text;
    if (value !== undefined) e.dataset.value = String(value);
  }

  // ---- rate history (per channel, columns) ----
  const hist = new Map();
  let lastT = 0;
  function ingest(history, now) {
    if (!history) return;
    for (const [name, s] of Object.entries(history)) {
      let h = hist.get(name);
      if (!h) { h = { t: [], rxPps: [], rxBitsPerSec: [], relayPps: [], lossPerSec: [] }; hist.set(name, h); }
      const last = h.t.length ? h.t[h.t.length - 1] : 0;
      for (let i = 0; i < s.t.length; i++) {
        if (s.t[i] <= last) continue;
        for (const k of Object.keys(h)) h[k].push(s[k][i]);
        if (s.t[i] > lastT) lastT = s.t[i];
      }
      let cut = 0;
      while (cut < h.t.length && h.t[cut] < now - WINDOW_MS) cut++;
      if (cut > 0) for (const k of Object.keys(h)) h[k].splice(0, cut);
    }
  }

  // ---- sparklines (inline SVG, x by time so gaps show) ----
  function spark(kind) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark s-" + kind);
    svg.setAttribute("viewBox", "0 0 300 40");
    svg.setAttribute("preserveAspectRatio", "none");
    const base = document.createElementNS(SVG, "line");
    base.setAttribute("class", "base");
    base.setAttribute("x1", "0"); base.setAttribute("x2", "300");
    base.setAttribute("y1", "39.5"); base.setAttribute("y2", "39.5");
    const area = document.createElementNS(SVG, "path");
    area.setAttribute("class", "area");
    const line = document.createElementNS(SVG, "path");
    line.setAttribute("class", "line");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    const title = document.createElementNS(SVG, "title");
    svg.append(title, base, area, line);
    return { svg, area, line, title };
  }
  function drawSpark(sp, t, v, now, unit) {
    let max = 0;
    for (const x of v) if (x > max) max = x;
    const scale = max > 0 ? 34 / max : 0;
    let d = "", a = "", runStart = -1, prevT = 0, prevX = 0;
    const close = () => { if (runStart >= 0) a += "L" + prevX.toFixed(1) + ",40L" + runStart.toFixed(1) + ",40Z"; };
    for (let i = 0; i < t.length; i++) {
      const x = Math.max(0, 300 - (now - t[i]) / WINDOW_MS * 300);
      const y = 38 - v[i] * scale;
      const gap = i === 0 || t[i] - prevT > POLL_MS * 3.5;
      if (gap) { close(); d += "M" + x.toFixed(1) + "," + y.toFixed(1); a += "M" + x.toFixed(1) + ",40L" + x.toFixed(1) + "," + y.toFixed(1); runStart = x; }
      else { d += "L" + x.toFixed(1) + "," + y.toFixed(1); a += "L" + x.toFixed(1) + "," + y.toFixed(1); }
      prevT = t[i]; prevX = x;
    }
    close();
    sp.line.setAttribute("d", d);
    sp.area.setAttribute("d", a);
    sp.svg.classList.toggle("flat", max === 0);
    sp.title.textContent = "last 5 min, peak " + rate(max) + " " + unit;
  }

  // ---- rows ----
  const rows = new Map();
  let rowKey = "";
  function buildRow(c) {
    const tr = el("tr");
    tr.dataset.channel = c.name;
    const r = { tr, prevLoss: {} };
    // channel
    const td1 = el("td");
    td1.append(el("div", "name", c.name));
    r.listen = el("div", "sub mono");
    r.dests = el("ul", "dests");
    td1.append(r.listen, r.dests);
    // state
    const td2 = el("td", "state");
    r.badge = el("span", "badge");
    r.restarts = el("div", "sub");
    r.rcvbuf = el("div", "sub");
    r.error = el("div", "err-text");
    td2.append(r.badge, r.restarts, r.rcvbuf, r.error);
    // received
    const td3 = el("td");
    const rr = el("div", "rate");
    r.rxPps = el("b"); r.rxPps.dataset.field = "rx-pps";
    rr.append(r.rxPps, el("em", null, "pkt/s"));
    r.rxSpark = spark("rx");
    r.rxBits = el("div", "sub");
    r.rxTotal = el("div", "sub"); r.rxTotal.dataset.field = "received";
    td3.append(rr, r.rxSpark.svg, r.rxBits, r.rxTotal);
    // relayed
    const td4 = el("td");
    const rl = el("div", "rate");
    r.relayPps = el("b"); r.relayPps.dataset.field = "relay-pps";
    rl.append(r.relayPps, el("em", null, "pkt/s"));
    r.relaySpark = spark("relay");
    r.relayTotal = el("div", "sub"); r.relayTotal.dataset.field = "relayed";
    td4.append(rl, r.relaySpark.svg, r.relayTotal);
    // losses
    const td5 = el("td");
    const lr = el("div", "rate");
    r.lossRate = el("b"); r.lossRate.dataset.field = "loss-rate";
    lr.append(r.lossRate, el("em", null, "losses/s"));
    r.lossSpark = spark("loss");
    const grid = el("div", "losses");
    r.loss = {};
    for (const [k, label] of LOSSES) {
      const b = el("b", null, "0");
      b.dataset.field = k;
      r.loss[k] = b;
      grid.append(el("span", null, label), b);
    }
    td5.append(lr, r.lossSpark.svg, grid);
    // recording
    const td6 = el("td");
    r.file = el("div", "file"); r.file.dataset.field = "file";
    r.records = el("div", "sub");
    r.disk = el("div", "sub"); r.disk.dataset.field = "disk";
    td6.append(r.file, r.records, r.disk);
    tr.append(td1, td2, td3, td4, td5, td6);
    return r;
  }

  function updateRow(r, c, now) {
    setText(r.listen, c.listen ? "listen " + c.listen : "");
    // destinations
    const want = c.destinations.length;
    while (r.dests.children.length > want) r.dests.lastChild.remove();
    while (r.dests.children.length < want) {
      const li = el("li");
      li.append(el("span", "to"), el("span", "sent"), el("span", "err"));
      r.dests.append(li);
    }
    c.destinations.forEach((d, i) => {
      const [to, sent, err] = r.dests.children[i].children;
      setText(to, "→ " + d.to);
      setText(sent, compact(d.sent) + " sent", d.sent);
      setText(err, d.errors > 0 ? int(d.errors) + " errors" + (d.lastError ? " (" + d.lastError + ")" : "") : "", d.errors);
    });
    // state
    const [label, cls] = STATE_BADGE[c.state] || [c.state, "b-mute"];
    setText(r.badge, label);
    r.badge.className = "badge " + cls;
    setText(r.restarts, c.restarts > 0 ? int(c.restarts) + (c.restarts === 1 ? " restart" : " restarts") : "no restarts", c.restarts);
    setText(r.rcvbuf, c.rcvbufEffective > 0 ? "rcvbuf " + bytes(c.rcvbufEffective) : "");
    setText(r.error, c.state !== "running" && c.lastError ? c.lastError : "");
    // rates
    const h = hist.get(c.name);
    const p = c.rates;
    setText(r.rxPps, p ? rate(p.rxPps) : "–", p ? p.rxPps : "");
    setText(r.rxBits, p ? mbit(p.rxBitsPerSec) : "–");
    setText(r.rxTotal, int(c.received) + " datagrams · " + bytes(c.receivedBytes), c.received);
    setText(r.relayPps, p ? rate(p.relayPps) : "–", p ? p.relayPps : "");
    setText(r.relayTotal, int(c.relayed) + " sent", c.relayed);
    setText(r.lossRate, p ? rate(p.lossPerSec) : "–", p ? p.lossPerSec : "");
    r.lossRate.className = p && p.lossPerSec > 0 ? "bad" : "";
    if (h) {
      drawSpark(r.rxSpark, h.t, h.rxPps, now, "pkt/s");
      drawSpark(r.relaySpark, h.t, h.relayPps, now, "pkt/s");
      drawSpark(r.lossSpark, h.t, h.lossPerSec, now, "losses/s");
    }
    for (const [k] of LOSSES) {
      const v = c[k] || 0;
      const b = r.loss[k];
      setText(b, int(v), v);
      const rising = r.prevLoss[k] !== undefined && v > r.prevLoss[k];
      b.className = rising ? "rising" : v > 0 ? "nz" : "";
      r.prevLoss[k] = v;
    }
    // recording
    if (c.currentFile || c.recordFiles > 0 || c.disk) {
      const base = c.currentFile ? c.currentFile.split("/").pop() : "no open file";
      setText(r.file, base);
      r.file.className = "file";
      r.file.title = c.currentFile || "";
      setText(r.records, int(c.recorded) + " records · " + bytes(c.recordedBytes) + " · " + int(c.recordFiles) + " files", c.recorded);
      if (c.disk) {
        const free = c.disk.availableBytes === null ? "" : " · " + bytes(c.disk.availableBytes) + " free";
        setText(r.disk, bytes(c.disk.usedBytes) + " on disk" + free, c.disk.usedBytes);
        r.disk.title = c.disk.path;
      } else setText(r.disk, "");
    } else {
      setText(r.file, "not recording");
      r.file.className = "sub";
      setText(r.records, "");
      setText(r.disk, "");
    }
  }

  function render(s) {
    const now = s.nowMs;
    ingest(s.history, now);
    const info = s.info;
    setText($("version"), "v" + info.version);
    setText($("host"), info.hostname || location.hostname);
    setText($("pid"), String(info.pid));
    setText($("uptime"), duration(s.uptimeSeconds));
    setText($("rss"), bytes(s.rssBytes));
    setText($("config"), info.configFile || "(flags)");
    document.title = (s.health.ok ? "" : "⚠ ") + "chanrelay · " + (info.hostname || location.hostname);
    const hb = $("health");
    setText(hb, s.health.ok ? "healthy" : "unhealthy");
    hb.className = "badge " + (s.health.ok ? "b-ok" : "b-bad");
    const reasons = $("reasons");
    reasons.hidden = s.health.ok;
    const list = $("reason-list");
    list.replaceChildren(...s.health.reasons.map((x) => el("li", null, x)));

    const key = s.channels.map((c) => c.name).join("\\n");
    const body = $("rows");
    if (key !== rowKey) {
      rowKey = key;
      const next = new Map();
      for (const c of s.channels) next.set(c.name, rows.get(c.name) || buildRow(c));
      rows.clear();
      for (const [k, v] of next) rows.set(k, v);
      if (s.channels.length === 0) {
        const tr = el("tr");
        const td = el("td", "empty", "No channels");
        td.colSpan = 6;
        tr.append(td);
        body.replaceChildren(tr);
      } else body.replaceChildren(...[...rows.values()].map((r) => r.tr));
    }
    let up = 0, rx = 0, bits = 0, relay = 0, lossRate = 0, lossTotal = 0, rec = 0, recBytes = 0;
    for (const c of s.channels) {
      updateRow(rows.get(c.name), c, now);
      if (c.state === "running") up++;
      if (c.rates) { rx += c.rates.rxPps; bits += c.rates.rxBitsPerSec; relay += c.rates.relayPps; lossRate += c.rates.lossPerSec; }
      for (const [k] of LOSSES) lossTotal += c[k] || 0;
      rec += c.recorded; recBytes += c.recordedBytes;
    }
    setText($("t-up"), up + " / " + s.channels.length, up);
    setText($("t-up-sub"), s.health.ok ? "all running" : s.health.reasons.length + " problem" + (s.health.reasons.length === 1 ? "" : "s"));
    setText($("t-rx"), rate(rx) + " pkt/s", rx);
    setText($("t-rx-sub"), mbit(bits));
    setText($("t-relay"), rate(relay) + " pkt/s", relay);
    setText($("t-relay-sub"), "all destinations");
    setText($("t-loss"), rate(lossRate) + " /s", lossRate);
    setText($("t-loss-sub"), int(lossTotal) + " since start", lossTotal);
    $("t-loss-tile").className = "tile" + (lossRate > 0 ? " alert" : "");
    setText($("t-rec"), compact(rec) + " records", rec);
    setText($("t-rec-sub"), bytes(recBytes));
  }

  function connection(ok, text) {
    $("conn").className = "conn" + (ok ? "" : " lost");
    setText($("conn-text"), text);
  }

  async function poll() {
    try {
      const res = await fetch("/stats?history=" + lastT, { cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const s = await res.json();
      render(s);
      connection(true, "live · " + new Date(s.nowMs).toLocaleTimeString());
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    } catch (e) {
      connection(false, "connection lost, retrying…");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  const initial = $("initial-state").textContent;
  if (initial && initial.charAt(0) === "{") {
    try {
      const s = JSON.parse(initial);
      render(s);
      connection(true, "live · " + new Date(s.nowMs).toLocaleTimeString());
    } catch (e) {
      connection(false, "bad initial state");
    }
  }
  setTimeout(poll, POLL_MS);
})();
</script>
</body>
</html>
`;
