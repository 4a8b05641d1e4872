// Circuit-breaker lab visualiser: a Hystrix-style dashboard drawn from engine snapshots.
// Plain ES module, no dependencies. Colours come from the site's CSS variables.

const SVG = "http://www.w3.org/2000/svg";
const STATES = ["CLOSED", "OPEN", "HALF_OPEN", "DISABLED", "FORCED_OPEN", "METRICS_ONLY"];
const COUNTS = [
  ["success", "Success", "ok"],
  ["short_circuited", "Short-circuited", "accent"],
  ["bulkhead_rejected", "Bulkhead rejected", "info"],
  ["timeout", "Timeout", "warn"],
  ["failure", "Failure", "bad"],
  ["fallback", "Fallback", "muted"],
];
// The state machine's nodes (centre x, y) and edges (path, label position) in a 360 x 215 box.
const NODES = {
  CLOSED: [70, 45],
  OPEN: [290, 45],
  HALF_OPEN: [180, 125],
  DISABLED: [60, 192],
  METRICS_ONLY: [180, 192],
  FORCED_OPEN: [300, 192],
};
const EDGES = [
  ["M114,45 L244,45", 180, 22, "failure or slow-call rate \u2265 threshold"],
  ["M300,67 Q300,118 224,124", 306, 108, "wait over", "start"],
  ["M200,103 Q236,70 258,67", 212, 84, "trial calls fail", "start"],
  ["M136,125 Q60,118 64,67", 4, 108, "trial calls pass", "start"],
];
const STATE_CLASS = {
  // OPEN and HALF_OPEN must differ at a glance: the site's warn and bad are close in hue.
  CLOSED: "ok", OPEN: "bad", HALF_OPEN: "info", DISABLED: "muted", FORCED_OPEN: "bad",
  METRICS_ONLY: "accent",
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function fmtPct(value) {
  return value < 0 ? "n/a" : `${value.toFixed(1)} %`;
}

function fmtMs(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value} ms`;
}

function fmtT(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function label(state) {
  return state.replace("_", " ");
}

export function createVisualiser(container, ctx) {
  container.classList.add("lab-circuit-breaker");
  container.replaceChildren();

  // --- health card: circle, sparkline, headline numbers
  const circle = svg("circle", { cx: 60, cy: 60, r: 10, class: "cb-health-circle ok" });
  const sparkReq = svg("polyline", { class: "cb-spark-req", points: "" });
  const sparkErr = svg("polyline", { class: "cb-spark-err", points: "" });
  const sparkOpen = svg("g", { class: "cb-spark-open" });
  const spark = svg("svg", { viewBox: "0 0 240 60", class: "cb-spark", role: "img", preserveAspectRatio: "none",
    "aria-label": "Requests (line) and errors (red) over the last two minutes" },
  sparkOpen, sparkReq, sparkErr);
  const healthSvg = svg("svg", { viewBox: "0 0 120 120", class: "cb-health", role: "img",
    "aria-label": "Health circle: size shows traffic, colour shows the error rate" }, circle);
  const rate = el("div", { class: "cb-big" }, "0");
  const errPct = el("div", { class: "cb-big" }, "0 %");
  const statePill = el("span", { class: "cb-pill ok" }, "CLOSED");
  const health = el("section", { class: "cb-card cb-health-card" },
    el("header", {}, el("h3", {}, "downstream call"), statePill),
    el("div", { class: "cb-health-row" }, healthSvg,
      el("div", { class: "cb-headline" },
        el("div", {}, rate, el("small", {}, "requests/s")),
        el("div", {}, errPct, el("small", {}, "errors seen by users")))),
    spark, el("p", { class: "cb-caption" }, "last 2 minutes: requests, user errors, breaker open"));

  // --- counts and latency
  const countCells = {};
  const countList = el("dl", { class: "cb-counts" });
  for (const [key, text, tone] of COUNTS) {
    const now = el("dd", { class: `cb-num ${tone}` }, "0");
    const total = el("dd", { class: "cb-total" }, "0");
    countCells[key] = [now, total];
    countList.append(el("div", {}, el("dt", {}, text), now, total));
  }
  const latency = {};
  const latencyRow = el("dl", { class: "cb-latency" });
  for (const key of ["p50", "p90", "p99", "max"]) {
    latency[key] = el("dd", {}, "–");
    latencyRow.append(el("div", {}, el("dt", {}, key === "max" ? "max" : key), latency[key]));
  }
  const counts = el("section", { class: "cb-card" },
    el("header", {}, el("h3", {}, "Calls in the last second"), el("span", { class: "cb-muted" }, "total below")),
    countList, el("h4", {}, "Latency seen by users"), latencyRow);

  // --- state machine
  const nodeEls = {};
  const diagram = svg("svg", { viewBox: "0 0 360 215", class: "cb-machine", role: "img",
    "aria-label": "Circuit breaker state machine; the current state is highlighted" });
  const defs = svg("defs", {}, svg("marker", { id: "cb-arrow", viewBox: "0 0 10 10", refX: 9,
    refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
  svg("path", { d: "M0,0 L10,5 L0,10 z", class: "cb-arrowhead" })));
  diagram.append(defs);
  for (const [d, lx, ly, text, anchor = "middle"] of EDGES) {
    diagram.append(svg("path", { d, class: "cb-edge", "marker-end": "url(#cb-arrow)" }));
    const caption = svg("text", { x: lx, y: ly, class: "cb-edge-label", "text-anchor": anchor });
    caption.textContent = text;
    diagram.append(caption);
  }
  for (const state of STATES) {
    const [x, y] = NODES[state];
    const small = !["CLOSED", "OPEN", "HALF_OPEN"].includes(state);
    const w = small ? 100 : 88, h = small ? 26 : 40;
    const rect = svg("rect", { x: x - w / 2, y: y - h / 2, width: w, height: h, rx: 10,
      class: `cb-node ${small ? "cb-node-small" : ""}` });
    const text = svg("text", { x, y: y + 4, "text-anchor": "middle", class: "cb-node-label" });
    text.textContent = label(state);
    const group = svg("g", { class: "cb-state" }, rect, text);
    nodeEls[state] = group;
    diagram.append(group);
  }
  const machineInfo = el("dl", { class: "cb-facts" });
  const facts = {};
  for (const [key, text] of [["failure", "failure rate"], ["slow", "slow-call rate"],
    ["window", "window"], ["extra", ""]]) {
    facts[key] = [el("dt", {}, text), el("dd", {}, "–")];
    machineInfo.append(el("div", {}, ...facts[key]));
  }
  const machine = el("section", { class: "cb-card cb-machine-card" },
    el("header", {}, el("h3", {}, "Breaker state machine"), el("span", { class: "cb-muted", "data-since": "" }, "")),
    diagram, el("p", { class: "cb-caption" },
      "Outside the cycle: DISABLED (always permits, records nothing), METRICS_ONLY (records, never opens), FORCED_OPEN (refuses everything)."),
    machineInfo);

  // --- timeline of states and transitions
  const band = svg("svg", { viewBox: "0 0 240 14", preserveAspectRatio: "none",
    class: "cb-band", role: "img", "aria-label": "Breaker state over the last two minutes" });
  const transitionList = el("ol", { class: "cb-transitions", reversed: "" });
  const timeline = el("section", { class: "cb-card cb-timeline-card" },
    el("header", {}, el("h3", {}, "Transitions"), el("span", { class: "cb-muted" }, "last 2 minutes")),
    band, transitionList);

  // --- downstream load
  const gaugeFill = el("span", { class: "cb-gauge-fill" });
  const gaugeCap = el("span", { class: "cb-gauge-cap" });
  const gaugeText = el("p", { class: "cb-caption" }, "");
  const ampText = el("div", { class: "cb-big" }, "1.0x");
  const outageBadge = el("span", { class: "cb-pill ok" }, "healthy");
  const loadSpark = svg("svg", { viewBox: "0 0 240 50", class: "cb-spark", role: "img", preserveAspectRatio: "none",
    "aria-label": "Calls reaching the downstream (solid) against user requests (dashed)" });
  const loadCalls = svg("polyline", { class: "cb-spark-calls", points: "" });
  const loadReq = svg("polyline", { class: "cb-spark-req cb-dashed", points: "" });
  loadSpark.append(loadReq, loadCalls);
  const clientText = el("p", { class: "cb-caption" }, "");
  const load = el("section", { class: "cb-card" },
    el("header", {}, el("h3", {}, "Downstream load"), outageBadge),
    el("div", { class: "cb-gauge", title: "calls in progress at the downstream" }, gaugeFill, gaugeCap),
    gaugeText,
    el("div", { class: "cb-headline cb-amp" }, el("div", {}, ampText,
      el("small", {}, "calls per user request (retries included)"))),
    loadSpark, clientText);

  container.append(el("div", { class: "cb-grid" }, health, machine, counts, load, timeline));

  function polyline(values, max, width, height) {
    if (!values.length) return "";
    const step = width / Math.max(1, 119);
    const offset = width - step * (values.length - 1);
    return values.map((v, i) => `${(offset + i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}`).join(" ");
  }

  function render(snap) {
    if (!snap) return;
    const fields = snap.history_fields || [];
    const col = (name) => { const i = fields.indexOf(name); return snap.history.map((row) => row[i]); };
    const last = snap.last || {};
    const b = snap.breaker;

    // health circle: radius ~ sqrt(traffic), colour ~ user-visible error share
    const requests = last.requests || 0;
    const done = (last.user_ok || 0) + (last.user_errors || 0) + (last.fallback || 0);
    const errShare = done ? (last.user_errors || 0) / done : 0;
    const tone = errShare < 0.05 ? "ok" : errShare < 0.3 ? "warn" : "bad";
    circle.setAttribute("r", (8 + Math.min(48, Math.sqrt(requests) * 4)).toFixed(1));
    circle.setAttribute("class", `cb-health-circle ${tone}`);
    rate.textContent = String(requests);
    errPct.textContent = `${(errShare * 100).toFixed(1)} %`;
    statePill.textContent = label(b.state);
    statePill.className = `cb-pill ${STATE_CLASS[b.state]}`;
    container.dataset.state = b.state;

    const req = col("requests"), err = col("user_errors"), calls = col("downstream_calls");
    const states = col("state");
    const maxUser = Math.max(10, ...req);
    const maxReq = Math.max(maxUser, ...calls);
    sparkReq.setAttribute("points", polyline(req, maxUser, 240, 60));
    sparkErr.setAttribute("points", polyline(err, maxUser, 240, 60));
    loadReq.setAttribute("points", polyline(req, maxReq, 240, 50));
    loadCalls.setAttribute("points", polyline(calls, maxReq, 240, 50));
    const step = 240 / 119;
    const offset = 240 - step * (states.length - 1);
    sparkOpen.replaceChildren();
    band.replaceChildren();
    states.forEach((state, i) => {
      const x = Math.max(0, offset + (i - 0.5) * step);
      band.append(svg("rect", { x, y: 0, width: step + 0.8, height: 14, class: `cb-band-${STATE_CLASS[state]}` }));
      if (state === "OPEN" || state === "FORCED_OPEN") {
        sparkOpen.append(svg("rect", { x, y: 0, width: step + 0.3, height: 60 }));
      }
    });

    for (const [key] of COUNTS) {
      countCells[key][0].textContent = String(last[key] ?? 0);
      countCells[key][1].textContent = String(snap.totals[key] ?? 0);
    }
    for (const key of Object.keys(latency)) latency[key].textContent = fmtMs(last[key]);

    for (const state of STATES) {
      nodeEls[state].setAttribute("class", `cb-state ${state === b.state ? `cb-current ${STATE_CLASS[state]}` : ""}`);
    }
    const m = b.metrics, c = b.config;
    facts.failure[1].textContent = `${fmtPct(m.failure_rate)} (trips at ${c.failure_rate_threshold} %)`;
    facts.slow[1].textContent = `${fmtPct(m.slow_call_rate)} (> ${fmtMs(c.slow_call_duration_threshold_ms)}; trips at ${c.slow_call_rate_threshold} %)`;
    const kind = c.sliding_window_type === "time" ? `${c.sliding_window_size} s` : `${c.sliding_window_size} calls`;
    facts.window[1].textContent = ["DISABLED", "FORCED_OPEN"].includes(b.state)
      ? "records nothing in this state"
      : b.state === "HALF_OPEN"
        ? `${m.buffered_calls} of ${m.minimum_calls} trial calls recorded`
        : `${m.buffered_calls} buffered of ${kind}, decides from ${m.minimum_calls}`;
    if (b.state === "OPEN" && b.open_until !== null) {
      facts.extra[0].textContent = "half-open after";
      facts.extra[1].textContent = fmtMs(Math.max(0, b.open_until - snap.t));
    } else if (b.state === "HALF_OPEN") {
      facts.extra[0].textContent = "trial calls left";
      facts.extra[1].textContent = `${b.half_open_permits} of ${c.permitted_calls_in_half_open}`;
    } else {
      facts.extra[0].textContent = "calls refused";
      facts.extra[1].textContent = String(m.not_permitted_calls);
    }
    machine.querySelector("[data-since]").textContent = `since ${fmtT(b.since)}`;

    transitionList.replaceChildren(...snap.transitions.slice(-8).reverse().map((tr) =>
      el("li", {}, el("time", {}, fmtT(tr.t)), " ",
        el("span", { class: `cb-pill ${STATE_CLASS[tr.from]}` }, label(tr.from)), " → ",
        el("span", { class: `cb-pill ${STATE_CLASS[tr.to]}` }, label(tr.to)), " ",
        el("span", { class: "cb-muted" }, tr.reason.replaceAll("_", " ")))));
    if (!snap.transitions.length) transitionList.append(el("li", { class: "cb-muted" }, "no transitions yet"));

    const ds = snap.downstream;
    const peak = Math.max(ds.capacity * 3, ds.in_flight);
    gaugeFill.style.width = `${Math.min(100, (ds.in_flight / peak) * 100)}%`;
    gaugeFill.className = `cb-gauge-fill ${ds.in_flight > ds.capacity ? "bad" : "ok"}`;
    gaugeCap.style.left = `${(ds.capacity / peak) * 100}%`;
    gaugeText.textContent = `in progress: ${ds.in_flight}; serves ${ds.capacity} at once at full speed`;
    const amp = requests ? (last.downstream_calls || 0) / requests : 0;
    ampText.textContent = `${amp.toFixed(1)}x`;
    ampText.className = `cb-big ${amp >= 2 ? "bad" : amp > 1.3 ? "warn" : ""}`;
    const overloaded = ds.in_flight > ds.capacity;
    outageBadge.textContent = ds.outage ? `outage: ${ds.outage.mode}` : overloaded ? "overloaded" : "healthy";
    outageBadge.className = `cb-pill ${ds.outage || overloaded ? "bad" : "ok"}`;
    const cl = snap.client, r = cl.retry;
    const retries = r.max_attempts > 1 ? `${r.max_attempts} attempts, backoff ${r.backoff}` : "no retries";
    clientText.textContent = `client: timeout ${fmtMs(cl.timeout_ms)}, ${retries}, bulkhead ${cl.bulkhead || "off"}, fallback ${cl.fallback ? "on" : "off"}`;
  }

  function event(ev) {
    if (ev.type === "breaker_transition" && nodeEls[ev.to]) {
      const node = nodeEls[ev.to];
      node.classList.remove("cb-flash");
      void node.getBoundingClientRect();
      node.classList.add("cb-flash");
    }
  }

  return {
    render,
    event,
    destroy() {
      container.replaceChildren();
      container.classList.remove("lab-circuit-breaker");
    },
  };
}
