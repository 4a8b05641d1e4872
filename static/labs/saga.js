// Saga lab visualiser: a live sequence diagram of the messages between the services, the saga
// state machine, each service's tables, the orchestration/choreography comparison and the 2PC
// view. Plain ES module (DOM helpers from dom.js), no libraries; colours come from the site's CSS variables.

import { el, fmtT, svg } from "./dom.js";

const LANES = ["client", "orchestrator", "order", "inventory", "payment", "shipping"];
const LANE_LABEL = {
  client: "Client", orchestrator: "Orchestrator", order: "Order", inventory: "Inventory",
  payment: "Payment", shipping: "Shipping",
};
const SERVICES = ["order", "inventory", "payment", "shipping"];
const WINDOW_MS = 3000; // the sequence diagram shows the last three simulated seconds
const SEQ_W = 1000;
const SEQ_H = 330;
const SEQ_TOP = 42;
const MAX_MSGS = 400;
const RANK = { pending: 0, running: 1, done: 2, failed: 3, compensating: 3, compensated: 4 };
const OUTCOME_CLASS = {
  processed: "ok", duplicate_ignored: "muted", stale_ignored: "muted", reprocessed: "bad",
  failed: "bad", endpoint_down: "bad", waiting_for_lock: "warn", ignored: "muted",
};

const laneX = (lane) => 70 + LANES.indexOf(lane) * ((SEQ_W - 140) / (LANES.length - 1));

export function createVisualiser(container, ctx) {
  container.classList.add("lab-saga");
  container.replaceChildren();
  const st = {
    snap: null,
    clock: 0,
    msgs: [], // {id, src, dst, kind, order, sent, arrive, dup, retry, outcome}
    sagas: new Map(), // saga id -> {id, order_id, status, steps}, updated by events too
    focus: null,
    pinned: null,
    notice: "",
    frame: 0,
    deferred: null,
    deferTimer: 0,
  };

  const head = el("div", { class: "saga-head" });
  const seqSvg = svg("svg", {
    viewBox: `0 0 ${SEQ_W} ${SEQ_H}`, class: "saga-seq-svg", role: "img",
    "aria-label": "Sequence diagram: messages between the services over the last seconds",
  });
  const seq = el("section", { class: "saga-panel saga-seq" },
    el("h3", {}, "Messages (live sequence diagram, newest at the bottom)"), seqSvg,
    el("p", { class: "saga-legend" },
      el("span", { class: "k ok" }, "processed"), el("span", { class: "k muted" }, "duplicate ignored"),
      el("span", { class: "k bad" }, "reprocessed / failed / endpoint down"),
      el("span", { class: "k warn" }, "retry with backoff"), el("span", { class: "k dup" }, "duplicate copy")));
  const machine = el("section", { class: "saga-panel saga-machine" });
  const compare = el("section", { class: "saga-panel saga-compare" });
  const tables = el("section", { class: "saga-tables" });
  const tpc = el("section", { class: "saga-panel saga-tpc" });
  const log = el("section", { class: "saga-panel saga-log" });
  container.append(head, seq, machine, tables, el("div", { class: "saga-row" }, compare, log), tpc);

  function schedule() {
    if (st.frame) return;
    const raf = window.requestAnimationFrame || ((fn) => setTimeout(fn, 16));
    st.frame = raf(() => {
      st.frame = 0;
      draw();
    });
  }

  function draw() {
    drawHead();
    drawSequence();
    drawMachine();
    if (st.snap) {
      drawCompare();
      drawTables();
      drawTpc();
      drawLog();
    }
  }

  // -- head ----------------------------------------------------------------------------------

  function drawHead() {
    const s = st.snap;
    if (!s) return;
    const orch = s.orchestrator;
    const stats = s.stats;
    const orchText = orch.up ? (orch.crash_armed ? "up, crash armed" : "up")
      : orch.restart_scheduled ? "restarting" : `DOWN since ${fmtT(orch.crashed_t)}`;
    const mode = s.mode.replaceAll("_", " ");
    head.replaceChildren(...[
      chip("mode", mode, "accent"),
      chip(s.mode === "two_phase_commit" ? "coordinator A" : "orchestrator", orchText, orch.up ? "ok" : "bad"),
      chip("idempotent consumers", s.idempotent_consumers ? "on" : "off", s.idempotent_consumers ? "ok" : "warn"),
      chip("t", fmtT(Math.max(st.clock, 0)), ""),
      chip("messages", stats.messages, ""),
      chip("duplicates", stats.duplicates_sent, stats.duplicates_sent ? "warn" : ""),
      chip("retries", stats.retries, stats.retries ? "warn" : ""),
      chip("timeouts", stats.timeouts, stats.timeouts ? "warn" : ""),
      chip("double charges", stats.double_charges, stats.double_charges ? "bad" : "ok"),
      s.dead_letters ? chip("dead letters", s.dead_letters, "bad") : null,
      st.notice ? el("span", { class: "saga-notice", role: "status" }, st.notice) : null,
    ].filter(Boolean));
  }

  function chip(label, value, tone) {
    return el("span", { class: `saga-chip ${tone}` }, el("b", {}, `${label}: `), String(value));
  }

  // -- sequence diagram ----------------------------------------------------------------------

  function drawSequence() {
    const down = new Set();
    if (st.snap) {
      for (const svc of SERVICES) if (!st.snap.services[svc].up) down.add(svc);
      if (!st.snap.orchestrator.up) down.add("orchestrator");
    }
    const start = st.clock - WINDOW_MS;
    const y = (t) => SEQ_TOP + ((t - start) / WINDOW_MS) * (SEQ_H - SEQ_TOP - 8);
    const nodes = [];
    for (const lane of LANES) {
      const x = laneX(lane);
      const isDown = down.has(lane);
      const label = lane === "orchestrator" && st.snap && st.snap.mode === "two_phase_commit"
        ? (isDown ? "Coord. A down · B up" : "Coordinators A · B") : LANE_LABEL[lane];
      nodes.push(svg("rect", { x: x - 62, y: 4, width: 124, height: 26, rx: 5,
        class: `lane-head${isDown ? " down" : ""}` }));
      nodes.push(svg("text", { x, y: 22, class: "lane-label", "text-anchor": "middle" },
        isDown && !label.includes("down") ? `${label} (down)` : label));
      nodes.push(svg("line", { x1: x, y1: 30, x2: x, y2: SEQ_H, class: `lane-line${isDown ? " down" : ""}` }));
    }
    const visible = st.msgs.filter((m) => m.arrive >= start && m.sent <= st.clock);
    const labelFrom = Math.max(0, visible.length - 6);
    visible.forEach((m, i) => {
      const x1 = laneX(m.src);
      const x2 = laneX(m.dst);
      const y1 = Math.max(SEQ_TOP, y(m.sent));
      const done = m.arrive <= st.clock;
      const frac = done ? 1 : (st.clock - m.sent) / Math.max(1, m.arrive - m.sent);
      const hx = x1 + (x2 - x1) * frac;
      const hy = y1 + (y(Math.min(m.arrive, st.clock)) - y1);
      const tone = m.outcome ? OUTCOME_CLASS[m.outcome] || "ok" : "flight";
      const cls = `msg ${tone}${m.dup ? " dup" : ""}${m.retry ? " retry" : ""}`;
      nodes.push(svg("line", { x1, y1, x2: hx, y2: hy, class: cls, "data-kind": m.kind }));
      if (done) {
        const dir = x2 >= x1 ? -1 : 1;
        nodes.push(svg("path", {
          d: `M${x2},${hy} l${dir * 8},-4 l0,8 z`, class: `head ${tone}`,
        }));
      } else {
        nodes.push(svg("circle", { cx: hx, cy: hy, r: 4, class: `dot${m.dup ? " dup" : ""}` }));
      }
      if (i >= labelFrom) {
        const text = `${m.kind} ${m.order}${m.dup ? " (dup)" : ""}${m.retry ? ` (retry ${m.retry})` : ""}`;
        nodes.push(svg("text", { x: (x1 + hx) / 2, y: (y1 + hy) / 2 - 3, class: "msg-label",
          "text-anchor": "middle" }, text));
      }
    });
    seqSvg.replaceChildren(...nodes);
  }

  // -- state machine -------------------------------------------------------------------------

  function focusSaga() {
    const id = st.pinned || st.focus;
    if (id && st.sagas.has(id)) return st.sagas.get(id);
    let last = null;
    for (const saga of st.sagas.values()) last = saga;
    return last;
  }

  function drawMachine() {
    const steps = st.snap ? st.snap.steps : null;
    const saga = focusSaga();
    const list = [...st.sagas.values()].slice(-8);
    machine.replaceChildren(el("h3", {}, "Saga state machine"));
    if (!steps || !saga) {
      const text = st.snap && st.snap.mode === "two_phase_commit"
        ? "Two-phase commit runs no saga: see the transactions and locks in the two-phase commit panel."
        : "No saga yet: every order starts one.";
      machine.append(el("p", { class: "muted" }, text));
      return;
    }
    const dirText = saga.status === "running"
      ? (saga.steps.some((s) => s.status === "failed") ? "compensating (backward)" : "forward") : saga.status;
    machine.append(el("p", { class: "saga-focus", "data-saga": saga.id },
      el("b", {}, `${saga.id}`), ` for ${saga.order_id}: `,
      el("span", { class: `status ${saga.status}` }, dirText),
      st.pinned ? el("button", { type: "button", class: "saga-unpin", onclick: () => { st.pinned = null; schedule(); } }, "follow latest") : null));
    const W = 1000;
    const boxW = 140;
    const gap = (W - 40 - steps.length * boxW) / (steps.length - 1);
    const nodes = [svg("defs", {}, svg("marker", { id: "saga-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" })))];
    steps.forEach((spec, i) => {
      const x = 20 + i * (boxW + gap);
      const status = saga.steps[i].status;
      nodes.push(svg("rect", { x, y: 14, width: boxW, height: 58, rx: 8,
        class: `step ${status}${spec.kind === "pivot" ? " pivot" : ""}`, "data-step": spec.name, "data-status": status }));
      nodes.push(svg("text", { x: x + boxW / 2, y: 33, "text-anchor": "middle", class: "step-name" }, spec.name));
      nodes.push(svg("text", { x: x + boxW / 2, y: 48, "text-anchor": "middle", class: "step-kind" }, spec.kind));
      nodes.push(svg("text", { x: x + boxW / 2, y: 64, "text-anchor": "middle", class: `step-status ${status}` }, status));
      if (i < steps.length - 1) {
        nodes.push(svg("line", { x1: x + boxW, y1: 43, x2: x + boxW + gap - 2, y2: 43, class: "edge",
          "marker-end": "url(#saga-arrow)" }));
      }
      if (spec.compensation) {
        const comp = status === "compensated" ? "compensated" : status === "compensating" ? "compensating" : "idle";
        nodes.push(svg("rect", { x, y: 104, width: boxW, height: 36, rx: 8, class: `comp ${comp}`,
          "data-compensation": spec.compensation }));
        nodes.push(svg("text", { x: x + boxW / 2, y: 126, "text-anchor": "middle", class: "step-name" }, spec.compensation));
        nodes.push(svg("line", { x1: x + boxW / 2, y1: 72, x2: x + boxW / 2, y2: 102, class: "edge dashed",
          "marker-end": "url(#saga-arrow)" }));
      }
    });
    nodes.push(svg("text", { x: 20, y: 160, class: "step-kind" },
      "Compensations run right to left: newest completed step first. After the pivot (charge_payment) the saga only moves forward, retrying."));
    machine.append(svg("svg", { viewBox: `0 0 ${W} 170`, class: "saga-machine-svg", role: "img",
      "aria-label": `State machine of saga ${saga.id}` }, ...nodes));
    const rows = list.map((s) => el("tr", { class: `saga-row-item${s.id === saga.id ? " focus" : ""}`,
      onclick: () => { st.pinned = s.id; schedule(); }, title: "Show this saga" },
      el("td", {}, s.id), el("td", {}, s.order_id),
      el("td", { class: "cells" }, ...s.steps.map((step) => el("span", { class: `cell ${step.status}`, title: `${step.name}: ${step.status}` }))),
      el("td", {}, el("span", { class: `status ${s.status}` }, s.status))));
    machine.append(el("table", { class: "saga-list" },
      el("thead", {}, el("tr", {}, el("th", {}, "saga"), el("th", {}, "order"), el("th", {}, "steps"), el("th", {}, "status"))),
      el("tbody", {}, ...rows.reverse())));
  }

  // -- comparison ----------------------------------------------------------------------------

  function drawCompare() {
    const c = st.snap.comparison;
    const modes = ["orchestration", "choreography"];
    if (c.two_phase_commit.started) modes.push("two_phase_commit");
    const row = (label, fn) => el("tr", {}, el("th", {}, label), ...modes.map((m) => el("td", {}, fn(c[m]))));
    const through = (m) => m.links.filter((l) => l.includes("orchestrator")).length;
    compare.replaceChildren(
      el("h3", {}, "Orchestration vs choreography"),
      el("table", { class: "saga-compare-table" },
        el("thead", {}, el("tr", {}, el("th", {}, ""), ...modes.map((m) => el("th", {}, m.replaceAll("_", " "))))),
        el("tbody", {},
          row("sagas started", (m) => m.started),
          row("completed", (m) => m.completed),
          row("compensated / aborted", (m) => m.compensated),
          row("messages", (m) => m.messages),
          row("messages per saga", (m) => m.messages_per_saga ?? "–"),
          row("links between parties", (m) => m.links.length),
          row("… through the orchestrator / coordinator", through),
          row("service ↔ service links", (m) => m.service_to_service_links.length
            ? el("span", { class: "coupled" }, `${m.service_to_service_links.length}: ${m.service_to_service_links.join(", ")}`)
            : "0"))),
      el("p", { class: "muted small" },
        "Coupling: with an orchestrator every service talks only to it; with choreography each service subscribes to other services' events."));
  }

  // -- service tables ------------------------------------------------------------------------

  async function send(cmd) {
    const result = await ctx.sendCommand(cmd);
    st.notice = result && !result.ok ? `Refused: ${result.error}` : `Sent ${cmd.type} ${cmd.order_id || ""}`;
    schedule();
  }

  function card(svc, title, body) {
    const info = st.snap.services[svc];
    const idem = st.snap.idempotent_consumers;
    return el("div", { class: `saga-card${info.up ? "" : " down"}`, "data-service": svc },
      el("h4", {}, title, el("span", { class: `saga-badge ${info.up ? "ok" : "bad"}` }, info.up ? "up" : "down")),
      body,
      el("p", { class: "muted small" }, `processed-message table: ${info.processed} ids${idem ? "" : " (not checked)"}`));
  }

  function drawTables() {
    const s = st.snap;
    const orderIds = Object.keys(s.orders).slice(-8).reverse();
    const orders = el("table", {}, el("tbody", {}, ...orderIds.map((id) => {
      const o = s.orders[id];
      return el("tr", { class: o.status },
        el("td", {}, id), el("td", {}, el("span", { class: `status ${o.status}` }, o.status === "pending" ? "pending (locked)" : o.status)),
        el("td", { class: "num" }, `$${o.amount}`),
        el("td", {}, el("button", { type: "button", class: "mini", onclick: () => send({ type: "cancel_order", order_id: id }) }, "cancel")));
    })));
    const inv = s.inventory;
    const stock = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "sku"), el("th", {}, "on hand"), el("th", {}, "reserved"))),
      el("tbody", {}, ...Object.keys(inv.on_hand).map((sku) => el("tr", {},
        el("td", {}, sku), el("td", { class: "num" }, inv.on_hand[sku]),
        el("td", { class: `num${inv.reserved[sku] ? " warn" : ""}` }, inv.reserved[sku])))));
    const resv = Object.entries(s.reservations).slice(-6).map(([o, q]) => `${o}: ${q}`).join(", ");
    const payIds = Object.keys(s.payments).slice(-8).reverse();
    const pay = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "order"), el("th", {}, "charged"), el("th", {}, "refunded"), el("th", {}, ""))),
      el("tbody", {}, ...payIds.map((id) => {
        const p = s.payments[id];
        const o = s.orders[id];
        const due = o && o.status === "approved" ? o.amount : 0;
        const over = o && o.status !== "pending" && p.charged - p.refunded > due;
        return el("tr", { class: over ? "over" : "" }, el("td", {}, id), el("td", { class: "num" }, `$${p.charged}`),
          el("td", { class: "num" }, `$${p.refunded}`),
          el("td", {}, over ? el("button", { type: "button", class: "mini bad", onclick: () => send({ type: "refund_overcharge", order_id: id }) }, "refund overcharge") : ""));
      })));
    const ship = Object.entries(s.shipments).slice(-8).reverse();
    const ships = el("table", {}, el("tbody", {}, ...ship.map(([id, n]) => el("tr", { class: n > 1 ? "over" : "" },
      el("td", {}, id), el("td", {}, n > 1 ? `${n} shipments!` : "1 shipment")))));
    tables.replaceChildren(
      card("order", "Order service · orders", orders),
      card("inventory", "Inventory service · stock", el("div", {}, stock, el("p", { class: "small" }, resv ? `reservations: ${resv}` : "no reservations"))),
      card("payment", "Payment service · payments", pay),
      card("shipping", "Shipping service · shipments", ships));
  }

  // -- 2PC -----------------------------------------------------------------------------------

  function drawTpc() {
    const t = st.snap.two_pc;
    if (!t.transactions.length) {
      tpc.hidden = true;
      return;
    }
    tpc.hidden = false;
    const locks = Object.entries(t.locks);
    const waiting = Object.entries(t.waiting);
    const blocked = !st.snap.orchestrator.up && t.in_doubt.length;
    tpc.replaceChildren(
      el("h3", {}, "Two-phase commit"),
      blocked ? el("p", { class: "saga-alert" }, `Coordinator A is down: its participants are in doubt, holding locks; they cannot commit or abort on their own. Coordinator B's transactions on the same products queue behind those locks.`) : null,
      el("div", { class: "saga-tpc-grid" },
        el("div", {}, el("h4", {}, "Locks held"), locks.length
          ? el("ul", {}, ...locks.map(([sku, tx]) => el("li", { class: "warn" }, `${sku}: ${tx}`))) : el("p", { class: "muted" }, "none")),
        el("div", {}, el("h4", {}, "Waiting for a lock"), waiting.length
          ? el("ul", {}, ...waiting.map(([sku, txs]) => el("li", {}, `${sku}: ${txs.join(", ")}`))) : el("p", { class: "muted" }, "none")),
        el("div", {}, el("h4", {}, "Prepared, awaiting decision"), t.in_doubt.length
          ? el("ul", {}, ...t.in_doubt.slice(0, 8).map((r) => el("li", { class: blocked ? "bad" : "" },
            `${r.participant} · ${r.txn} since ${fmtT(r.since_ms)}`))) : el("p", { class: "muted" }, "none"))),
      el("table", { class: "saga-txns" }, el("tbody", {}, ...t.transactions.slice(-6).reverse().map((x) => el("tr", {},
        el("td", {}, x.id), el("td", {}, `coordinator ${x.coord}`), el("td", {}, x.order_id), el("td", {}, el("span", { class: `status ${x.state}` }, x.state)),
        el("td", { class: "small" }, Object.entries(x.votes).map(([p, v]) => `${p} ${v}`).join(", ") || "no votes yet"))))));
  }

  function drawLog() {
    const entries = st.snap.saga_log.slice(-12).reverse();
    log.replaceChildren(el("h3", {}, st.snap.mode === "choreography" ? "Saga trace" : "Saga log (persisted)"),
      el("ol", { class: "saga-log-list" }, ...entries.map((e) => el("li", {},
        el("span", { class: "t" }, fmtT(e.t)), el("span", { class: "who" }, e.who), e.order_id ? ` ${e.order_id}: ` : " ", e.text))));
  }

  // -- events --------------------------------------------------------------------------------

  function pushMsg(m) {
    st.msgs.push(m);
    if (st.msgs.length > MAX_MSGS) st.msgs.splice(0, st.msgs.length - MAX_MSGS);
  }

  function sagaFromEvent(ev) {
    const saga = st.sagas.get(ev.saga_id);
    if (saga) return saga;
    if (!st.snap) return null;
    const created = {
      id: ev.saga_id, order_id: ev.order_id, status: "running",
      steps: st.snap.steps.map((s) => ({ name: s.name, status: "pending" })),
    };
    st.sagas.set(ev.saga_id, created);
    return created;
  }

  // Follow the newest saga, except while a failed one is compensating: that is the story.
  function follow(saga) {
    const current = st.focus && st.sagas.get(st.focus);
    const compensating = current && current.status === "running" && current.steps.some((s) => s.status === "failed");
    if (!compensating || current === saga) st.focus = saga.id;
  }

  function setStep(ev, status) {
    const saga = sagaFromEvent(ev);
    if (!saga) return;
    const step = saga.steps.find((s) => s.name === ev.step);
    if (step && RANK[status] >= RANK[step.status]) step.status = status; // never move backwards
    follow(saga);
  }

  // A snapshot arrives after each engine tick, while the tick's events are still being played
  // back on the simulated clock: hold it until the clock reaches it (or 1.5 s have passed), so
  // the diagram never runs ahead of the animation.
  function applySnapshot(snapshot) {
    st.deferred = null;
    clearTimeout(st.deferTimer);
    st.snap = snapshot;
    if (!st.clock) st.clock = snapshot.now_ms;
    if (!st.msgs.length) {
      for (const m of snapshot.in_flight) {
        pushMsg({ id: m.id, src: m.src, dst: m.dst, kind: m.kind, order: m.order_id, sent: m.sent_t, arrive: m.arrive_t });
      }
    }
    for (const saga of snapshot.sagas) st.sagas.set(saga.id, saga);
    if (st.sagas.size > 300) {
      const keep = [...st.sagas.entries()].slice(-300);
      st.sagas = new Map(keep);
    }
    schedule();
  }

  return {
    render(snapshot) {
      if (!st.snap || snapshot.now_ms <= st.clock) {
        applySnapshot(snapshot);
        return;
      }
      if (st.deferred) applySnapshot(st.deferred); // the previous slice's playback is over
      st.deferred = snapshot;
      st.deferTimer = setTimeout(() => st.deferred && applySnapshot(st.deferred), 1500);
    },
    event(ev) {
      st.clock = Math.max(st.clock, ev.t);
      if (st.deferred && st.clock >= st.deferred.now_ms) applySnapshot(st.deferred);
      switch (ev.type) {
        case "message_sent":
          pushMsg({ id: ev.id, src: ev.src, dst: ev.dst, kind: ev.kind, order: ev.order_id, sent: ev.t, arrive: ev.arrive_t, dup: ev.duplicate });
          break;
        case "retry":
          pushMsg({ id: ev.id, src: ev.src, dst: ev.dst, kind: ev.kind, order: ev.order_id, sent: ev.t, arrive: ev.t + ev.backoff_ms, retry: ev.attempt });
          break;
        case "message_received": {
          for (let i = st.msgs.length - 1; i >= 0; i--) {
            const m = st.msgs[i];
            if (m.id === ev.id && m.dst === ev.dst && !m.outcome && m.arrive <= ev.t) {
              m.outcome = ev.outcome;
              break;
            }
          }
          break;
        }
        case "saga_started": {
          const saga = sagaFromEvent(ev);
          if (saga) follow(saga);
          break;
        }
        case "step_done": setStep(ev, "done"); break;
        case "step_failed": setStep(ev, "failed"); break;
        case "step_compensated": setStep(ev, "compensated"); break;
        case "saga_completed":
        case "saga_compensated":
        case "saga_failed": {
          const saga = sagaFromEvent(ev);
          if (saga) saga.status = ev.type.slice(5);
          break;
        }
        case "orchestrator_crashed": st.notice = "The orchestrator crashed: its timers are gone, its log survives."; break;
        case "orchestrator_restarted": st.notice = `Restarted: resumed ${ev.resumed_sagas} sagas from the log.`; break;
        case "double_charge": st.notice = `Double charge on ${ev.order_id}: charged $${ev.charged} for a $${ev.amount} order.`; break;
        case "participants_blocked": st.notice = `${ev.in_doubt} participants blocked in doubt, ${ev.locks} locks held.`; break;
        default: break;
      }
      schedule();
    },
    destroy() {
      clearTimeout(st.deferTimer);
      container.replaceChildren();
      container.classList.remove("lab-saga");
    },
  };
}
