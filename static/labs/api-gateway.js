// API gateway lab visualiser: clients -> gateway -> replicas (in-flight bars, health), the 429
// counters, latency percentiles per load-balancing strategy, composition and availability.
// Plain ES module (DOM helpers from dom.js), no libraries; colours come from the site's CSS variables.

import { el, svg } from "./dom.js";

const W = 1000;
const STRATEGY_LABEL = { round_robin: "round robin", least_conn: "least connections", p2c: "power of two choices" };

const text = (x, y, str, cls = "", anchor = "start") =>
  svg("text", { x, y, class: cls, "text-anchor": anchor }, String(str));
const ms = (v) => (v === null || v === undefined ? "–" : `${v} ms`);
const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
const strategyLabel = (key) => {
  const [base, hedge] = key.split("+");
  return (STRATEGY_LABEL[base] || base) + (hedge ? " + hedging" : "");
};

export function createVisualiser(container, ctx) {
  container.classList.add("lab-api-gateway");
  container.replaceChildren();
  const st = { snap: null, flashes: new Map(), timers: new Set(), notice: "" };

  const head = el("div", { class: "gw-head" });
  const diagram = svg("svg", { class: "gw-diagram", role: "img",
    "aria-label": "Clients send requests to the gateway, which routes them to service replicas" });
  const latency = el("section", { class: "gw-panel gw-latency" });
  const side = el("section", { class: "gw-panel gw-side" });
  const composition = el("section", { class: "gw-panel gw-composition" });
  const log = el("section", { class: "gw-panel gw-log" });
  container.append(head, el("section", { class: "gw-panel" }, diagram),
    el("div", { class: "gw-row" }, latency, side), el("div", { class: "gw-row" }, composition, log));

  function chip(label, value, cls = "") {
    return el("span", { class: `gw-chip ${cls}` }, el("span", { class: "muted" }, `${label} `), String(value));
  }

  function drawHead(s) {
    const tot = s.totals;
    const last = s.last || {};
    head.replaceChildren(
      chip("t", `${(s.t / 1000).toFixed(0)} s`),
      chip("strategy", STRATEGY_LABEL[s.strategy] || s.strategy, "accent"),
      chip("hedging", s.hedging.enabled ? `on (${s.hedging.delay_ms ? s.hedging.delay_ms + " ms" : "after p95"})` : "off",
        s.hedging.enabled ? "ok" : ""),
      chip("rate limit", s.rate_limit.enabled ? `${s.rate_limit.rate_per_s}/s, burst ${s.rate_limit.burst}` : "off",
        s.rate_limit.enabled ? "ok" : ""),
      chip("requests", tot.requests),
      chip("429", tot.rate_limited, tot.rate_limited ? "warn" : ""),
      chip("5xx", tot.errors + tot.no_replica, tot.errors + tot.no_replica ? "bad" : ""),
      chip("504", tot.timeouts, tot.timeouts ? "bad" : ""),
      chip("hedges", `${tot.hedges} (won ${tot.hedge_wins})`),
      chip("last second p50/p95/p99", `${last.p50 ?? "–"} / ${last.p95 ?? "–"} / ${last.p99 ?? "–"} ms`),
      st.notice ? el("span", { class: "gw-notice" }, st.notice) : null,
    );
  }

  function drawDiagram(s) {
    const replicas = s.services.reduce((n, sv) => n + sv.replicas.length, 0);
    const rowH = 34;
    const gap = 14;
    const height = Math.max(s.clients.length * 70 + 40, replicas * rowH + s.services.length * (gap + 22) + 20);
    diagram.setAttribute("viewBox", `0 0 ${W} ${height}`);
    const nodes = [];
    const gwX = 320;
    const gwY = height / 2 - 70;
    const gw = { x: gwX, y: gwY, w: 240, h: 140 };
    const last = s.last || { clients: {}, replicas: {} };
    // clients
    s.clients.forEach((c, i) => {
      const y = 20 + i * 70;
      const limited = (last.clients && last.clients[c.id]) ? last.clients[c.id][1] : 0;
      nodes.push(svg("line", { x1: 190, y1: y + 28, x2: gw.x, y2: gw.y + gw.h / 2, class: "gw-link" }));
      const g = svg("g", { class: `gw-client${st.flashes.has(c.id) ? " flash" : ""}` },
        svg("rect", { x: 10, y, width: 180, height: 56, rx: 6, class: "gw-box" }),
        text(20, y + 18, c.id, "gw-title"),
        text(180, y + 18, `${c.rps} rps`, "gw-small", "end"),
        text(20, y + 36, `sent ${c.sent}`, "gw-small"),
        text(180, y + 36, `429 × ${c.rate_limited}`, c.rate_limited ? "gw-small gw-warn" : "gw-small", "end"));
      if (s.rate_limit.enabled) {
        const frac = Math.min(1, c.tokens / s.rate_limit.burst);
        g.append(svg("rect", { x: 20, y: y + 42, width: 160, height: 6, class: "gw-track" }),
          svg("rect", { x: 20, y: y + 42, width: 160 * frac, height: 6, class: "gw-tokens" }),
          svg("title", {}, `${c.tokens} of ${s.rate_limit.burst} tokens; ${limited} refused last second`));
      }
      nodes.push(g);
    });
    // services and replicas
    let y = 10;
    const repX = 670;
    for (const sv of s.services) {
      nodes.push(text(repX, y + 14, `${sv.name}  (${sv.latency_ms} ms, p95 ${sv.p95_ms} ms)`, "gw-title"));
      y += 22;
      for (const r of sv.replicas) {
        const cls = !r.in_pool ? "out" : r.state !== "up" ? "sick" : "ok";
        nodes.push(svg("line", { x1: gw.x + gw.w, y1: gw.y + gw.h / 2, x2: repX, y2: y + 14,
          class: `gw-link${r.in_pool ? "" : " gw-cut"}` }));
        const cap = sv.concurrency * 2;
        const frac = Math.min(1, r.in_flight / cap);
        const served = last.replicas && last.replicas[r.id] ? last.replicas[r.id][0] : 0;
        const group = svg("g", { class: `gw-replica ${cls}${st.flashes.has(r.id) ? " flash" : ""}`,
          "data-replica": r.id, tabindex: "0", role: "button" },
          svg("rect", { x: repX, y, width: 320, height: rowH - 6, rx: 5, class: "gw-box" }),
          text(repX + 8, y + 18, r.id, "gw-label"),
          text(repX + 150, y + 18, `×${r.speed}`, "gw-small"),
          svg("rect", { x: repX + 180, y: y + 8, width: 60, height: 12, class: "gw-track" }),
          svg("rect", { x: repX + 180, y: y + 8, width: 60 * frac, height: 12,
            class: r.in_flight > sv.concurrency ? "gw-bar over" : "gw-bar" }),
          text(repX + 244, y + 18, `${r.in_flight}`, "gw-small"),
          text(repX + 314, y + 18, r.in_pool ? (r.state === "up" ? `${served}/s` : r.state) : `out (${r.state})`,
            `gw-small gw-state ${cls}`, "end"),
          svg("title", {}, `${r.id}: ${r.in_flight} in flight (workers ${sv.concurrency}), state ${r.state}, ` +
            `${r.in_pool ? "in the pool" : "removed from the pool"}; probes passed ${r.passed_probes}, failed ${r.failed_probes}. ` +
            `Click to ${r.state === "up" ? "crash" : "restore"} it.`));
        // Clicking a replica crashes it (or brings it back): the quickest way to try health checks.
        const toggle = () => send({ type: "set_replica", replica: r.id, state: r.state === "up" ? "crash" : "up" });
        group.addEventListener("click", toggle);
        group.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
        nodes.push(group);
        y += rowH;
      }
      y += gap;
    }
    // gateway
    const routes = s.routes.flatMap((r) => r.service ? [`${r.prefix} → ${r.service}`]
      : [`${r.prefix} → fan out:`, `  ${r.compose.join(", ")}`]);
    const g = svg("g", { class: "gw-gateway" },
      svg("rect", { x: gw.x, y: gw.y, width: gw.w, height: gw.h, rx: 8, class: "gw-box gw-gw" }),
      text(gw.x + 10, gw.y + 20, "API gateway", "gw-title"),
      text(gw.x + 10, gw.y + 38, STRATEGY_LABEL[s.strategy] || s.strategy, "gw-small"));
    routes.slice(0, 5).forEach((r, i) => g.append(text(gw.x + 10, gw.y + 60 + i * 16, r.length > 30 ? r.slice(0, 29) + "…" : r, "gw-route")));
    nodes.push(g);
    diagram.replaceChildren(...nodes);
  }

  function drawLatency(s) {
    const keys = Object.keys(s.latency);
    const max = Math.max(1, ...keys.map((k) => s.latency[k].p99 || 0));
    const rows = keys.map((k) => {
      const v = s.latency[k];
      const current = k === s.strategy + (s.hedging.enabled ? "+hedge" : "");
      return el("tr", { class: current ? "current" : "" },
        el("th", {}, strategyLabel(k)), el("td", {}, String(v.count)),
        el("td", {}, ms(v.p50)), el("td", {}, ms(v.p95)), el("td", {}, ms(v.p99)),
        el("td", { class: "gw-cell-bar" }, el("span", { class: "gw-hbar", style: `width:${(100 * v.p99) / max}%` })));
    });
    latency.replaceChildren(el("h3", {}, `Latency per strategy (last ${s.samples_kept} proxied requests each)`),
      rows.length ? el("table", { class: "gw-table" },
        el("thead", {}, el("tr", {}, ...["strategy", "n", "p50", "p95", "p99", "p99 compared"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows))
        : el("p", { class: "muted" }, "No proxied requests yet."));
    latency.append(sparkline(s));
  }

  function sparkline(s) {
    const h = s.history;
    const box = svg("svg", { viewBox: "0 0 400 70", class: "gw-spark", role: "img", "aria-label": "p99 over the last minute" });
    if (!h.length) return box;
    const i99 = s.history_fields.indexOf("p99");
    const i429 = s.history_fields.indexOf("rate_limited");
    const max = Math.max(1, ...h.map((r) => r[i99] || 0));
    const step = 400 / Math.max(1, h.length - 1);
    const pts = h.map((r, i) => `${(i * step).toFixed(1)},${(64 - (58 * (r[i99] || 0)) / max).toFixed(1)}`).join(" ");
    const maxL = Math.max(1, ...h.map((r) => r[i429]));
    const pts429 = h.map((r, i) => `${(i * step).toFixed(1)},${(64 - (58 * r[i429]) / maxL).toFixed(1)}`).join(" ");
    box.append(svg("polyline", { points: pts429, class: "gw-line429" }), svg("polyline", { points: pts, class: "gw-line" }),
      text(4, 12, `p99 per second, last minute (max ${max} ms); dashed: 429s`, "gw-spark-label"));
    return box;
  }

  function drawSide(s) {
    const hc = s.health;
    side.replaceChildren(el("h3", {}, "Health checks and service discovery"),
      el("p", { class: "small" }, `Probe every ${hc.interval_ms} ms; removed after ${hc.unhealthy_after} failed probes, ` +
        `back after ${hc.healthy_after} passed. A slow replica still answers its probe and stays in the pool.`),
      el("p", { class: "small muted" }, `Gateway timeout ${s.timeout_ms} ms.`));
  }

  function drawComposition(s) {
    const route = s.routes.find((r) => r.compose);
    if (!route) { composition.replaceChildren(); composition.hidden = true; return; }
    composition.hidden = false;
    const a = s.availability;
    const d = s.dashboards;
    const last = (s.last && s.last.dashboards) || { full: 0, partial: 0, failed: 0, p99: null };
    const rows = route.compose.map((n) => el("tr", {},
      el("th", {}, n + (route.required.includes(n) ? " (required)" : " (optional)")), el("td", {}, pct(a.services[n]))));
    composition.replaceChildren(el("h3", {}, `Composition: ${route.prefix}`),
      el("p", { class: "small" }, `Per-call timeout ${s.composition.timeout_ms} ms; partial results ` +
        (s.composition.allow_partial ? "allowed" : "not allowed (any failed call fails the dashboard)")),
      el("p", {}, chip("full", d.full, "ok"), " ", chip("partial", d.partial, d.partial ? "warn" : ""), " ",
        chip("failed", d.failed, d.failed ? "bad" : ""), " ",
        chip("last second", `${last.full}/${last.partial}/${last.failed}, p99 ${ms(last.p99)}`)),
      el("table", { class: "gw-table" }, el("tbody", {}, ...rows,
        el("tr", {}, el("th", {}, "product of all (every part needed)"), el("td", {}, pct(a.all_needed))),
        el("tr", {}, el("th", {}, "product of required ones"), el("td", {}, pct(a.required_only))),
        el("tr", {}, el("th", {}, "measured: complete dashboards"), el("td", {}, pct(a.measured_full))),
        el("tr", {}, el("th", {}, "measured: answered (complete or partial)"), el("td", {}, pct(a.measured_answered))))));
  }

  function drawLog(s) {
    const items = [...s.pool_log].reverse().map((e) => el("li", { class: e.type === "replica_removed" ? "bad" : e.type === "replica_rejoined" ? "ok" : "" },
      `${(e.t / 1000).toFixed(1)} s  ${e.replica} ${e.type === "replica_state" ? "→ " + e.state : e.type === "replica_removed" ? "left the pool" : "rejoined the pool"}`));
    log.replaceChildren(el("h3", {}, "Pool changes"), items.length ? el("ul", { class: "gw-list" }, ...items) : el("p", { class: "muted" }, "None yet."));
  }

  function render(snapshot) {
    st.snap = snapshot;
    drawHead(snapshot);
    drawDiagram(snapshot);
    drawLatency(snapshot);
    drawSide(snapshot);
    drawComposition(snapshot);
    drawLog(snapshot);
  }

  function flash(id) {
    st.flashes.set(id, true);
    const timer = setTimeout(() => {
      st.timers.delete(timer);
      st.flashes.delete(id);
      if (st.snap) drawDiagram(st.snap);
    }, 1200);
    st.timers.add(timer);
  }

  async function send(command) {
    const result = await ctx.sendCommand(command);
    st.notice = result && !result.ok ? `Refused: ${result.error}` : "";
    if (st.snap) drawHead(st.snap);
  }

  return {
    render,
    event(ev) {
      if (ev.type === "replica_removed" || ev.type === "replica_rejoined" || ev.type === "replica_state") flash(ev.replica);
      if (ev.type === "stats") {
        for (const [id, [, limited]] of Object.entries(ev.clients || {})) if (limited) flash(id);
      }
      if (st.snap && ev.type !== "stats") drawDiagram(st.snap);
    },
    destroy() {
      for (const timer of st.timers) clearTimeout(timer);
      st.timers.clear();
      container.replaceChildren();
      container.classList.remove("lab-api-gateway");
    },
  };
}
