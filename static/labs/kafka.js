// Kafka lab visualiser: brokers as columns, each partition replica as a log of offset cells
// coloured by key, leader / follower / ISR marks, the high-watermark line, producers and
// consumer groups with arrows to the partition leaders, lag bars and a short event log.
// Plain ES module (DOM helpers from dom.js), no libraries; colours come from the site's CSS variables.

import { el, fmtT, svg } from "./dom.js";

const LOG_EVENTS = new Set([
  "leader_elected", "partition_offline", "broker_fenced", "broker_unfenced", "isr_shrink",
  "isr_expand", "rebalance_started", "rebalance_done", "member_removed", "segments_deleted",
  "compacted", "objective_met", "record_result",
]);

// A stable colour per key: FNV-1a over the key, then murmur3's finaliser so that keys that
// differ in one character (order-1, order-2) still get far-apart hues.
function keyColour(key) {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  const u = h >>> 0;
  // 24 hues times 3 lightness levels, so neighbouring keys rarely look alike.
  return `--hue:${(u % 24) * 15};--light:${[42, 56, 70][Math.floor(u / 24) % 3]}%`;
}

function describe(ev) {
  switch (ev.type) {
    case "leader_elected":
      return [`${ev.topic}-${ev.p}: leader ${ev.old_leader} → ${ev.leader} (${ev.how})` +
        (ev.lost ? `, ${ev.lost} acknowledged records lost` : ""), ev.lost ? "bad" : "warn"];
    case "partition_offline":
      return [`${ev.topic}-${ev.p} offline: no in-sync replica left`, "bad"];
    case "broker_fenced": return [`controller fenced broker ${ev.broker}`, "bad"];
    case "broker_unfenced": return [`broker ${ev.broker} back in the cluster`, "ok"];
    case "isr_shrink": return [`${ev.topic}-${ev.p}: broker ${ev.broker} left the ISR`, "warn"];
    case "isr_expand": return [`${ev.topic}-${ev.p}: broker ${ev.broker} rejoined the ISR`, "ok"];
    case "rebalance_started": return [`${ev.group}: rebalance (${ev.reason})`, "warn"];
    case "rebalance_done":
      return [`${ev.group}: rebalance done, ${ev.stopped}/${ev.partitions} partitions stopped, ` +
        `${ev.generations} generation(s), ${ev.duration_ms} ms`, "ok"];
    case "member_removed": return [`${ev.group}: ${ev.member} removed (${ev.reason})`, "warn"];
    case "segments_deleted":
      return [`${ev.topic}-${ev.p}: ${ev.count} segment(s) deleted, log start ${ev.log_start}`, ""];
    case "compacted": return [`${ev.topic}-${ev.p}: cleaner removed ${ev.removed} records`, ""];
    case "objective_met": return [`objective met: ${ev.title}`, "ok"];
    case "record_result":
      return [`${ev.producer} → ${ev.topic}-${ev.p} key ${ev.key ?? "∅"}: ${ev.result}` +
        (ev.offset >= 0 ? ` @${ev.offset}` : ""), ev.result === "acked" || ev.result === "sent"
        ? "" : "bad"];
    default: return null;
  }
}

export function createVisualiser(container, ctx) {
  container.classList.add("lab-kafka");
  container.replaceChildren();
  const st = { snap: null, topic: null, log: [], flash: new Map(), notice: "" };

  const head = el("div", { class: "kf-head" });
  const tabs = el("div", { class: "kf-tabs", role: "tablist" });
  const producersRow = el("div", { class: "kf-producers" });
  const brokersRow = el("div", { class: "kf-brokers" });
  const groupsRow = el("div", { class: "kf-groups" });
  const logBox = el("ol", { class: "kf-log", "aria-live": "polite" });
  const notice = el("p", { class: "kf-notice", role: "status" });
  const stage = el("div", { class: "kf-stage" }, producersRow, brokersRow, groupsRow);
  const overlay = svg("svg", { class: "kf-arrows", "aria-hidden": "true" });
  const defs = svg("defs");
  for (const [id, cls] of [["kf-arrow-p", "kf-arrowhead-p"], ["kf-arrow-c", "kf-arrowhead-c"]]) {
    const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "6", markerHeight: "6", orient: "auto-start-reverse" });
    const path = svg("path", { d: "M0,0 L10,5 L0,10 z", class: cls });
    marker.append(path);
    defs.append(marker);
  }
  overlay.append(defs);
  stage.append(overlay);
  container.append(head, tabs, stage, notice,
    el("details", { class: "kf-logwrap", open: true }, el("summary", {}, "Cluster events"), logBox));

  async function send(cmd) {
    const result = await ctx.sendCommand(cmd);
    st.notice = result && !result.ok ? (result.error || "refused") : "";
    notice.textContent = st.notice;
  }

  function counters(snap) {
    const c = snap.counters;
    const acked = snap.producers.reduce((n, p) => n + p.results.acked, 0);
    const dups = snap.producers.reduce((n, p) => n + p.duplicates, 0);
    const redelivered = snap.groups.reduce((n, g) => n + g.duplicates, 0);
    const item = (label, value, cls = "") =>
      el("span", { class: `kf-counter ${cls}` }, el("b", {}, String(value)), ` ${label}`);
    head.replaceChildren(
      el("span", { class: "kf-clock" }, fmtT(snap.t)),
      item("acknowledged", acked),
      item("acknowledged but lost", c.lost_acked, c.lost_acked ? "bad" : ""),
      item("duplicates written", dups, dups ? "warn" : ""),
      item("redelivered", redelivered, redelivered ? "warn" : ""),
      item("NotEnoughReplicas", c.not_enough_replicas_errors,
        c.not_enough_replicas_errors ? "warn" : ""),
      item("leader elections", c.leader_elections),
    );
  }

  function renderTabs(snap) {
    const names = snap.topics.map((t) => t.name);
    if (!names.includes(st.topic)) st.topic = names[0];
    tabs.replaceChildren(...names.map((name) => el("button", {
      type: "button", role: "tab", class: name === st.topic ? "active" : "",
      "aria-selected": name === st.topic ? "true" : "false",
      onclick: () => { st.topic = name; draw(); },
    }, `topic ${name}`)));
    tabs.hidden = names.length < 2;
  }

  function producerBox(p) {
    const r = p.results;
    const recent = el("ol", { class: "kf-recent" }, ...p.recent.slice(-5).map(
      ([seq, key, part, result, off]) => el("li", { class: result === "acked" || result === "sent"
        ? "" : "bad" }, `#${seq} ${key ?? "∅"} → p${part} ${result}${off >= 0 ? ` @${off}` : ""}`)));
    return el("div", { class: "kf-producer", "data-producer": p.id, "data-topic": p.topic },
      el("div", { class: "kf-title" }, `producer ${p.id}`),
      el("div", { class: "kf-meta" },
        `${p.rate}/s · acks=${p.acks} · idempotence ${p.idempotent ? "on" : "off"} · ` +
        (p.keys ? `${p.keys} keys` : `no keys (sticky p${p.sticky_partition ?? "–"})`)),
      el("div", { class: "kf-meta" },
        `acked ${r.acked} · failed ${r.not_enough_replicas + r.timeout}` +
        (p.acks === "0" ? ` · sent ${r.sent}` : "") +
        ` · retries ${p.retries} · in flight ${p.inflight}`),
      recent);
  }

  function brokerHead(b) {
    const label = b.status === "up" ? (b.fenced ? "up, fenced" : "up")
      : b.status === "down" ? "crashed" : "cut off";
    const buttons = b.status === "up"
      ? [["crash", { type: "stop_broker", broker: b.id }],
        ["cut off", { type: "isolate_broker", broker: b.id }],
        [b.slow_ms ? "speed up" : "slow", { type: "slow_follower", broker: b.id,
          delay_ms: b.slow_ms ? 0 : 15000 }]]
      : [["start", { type: "start_broker", broker: b.id }]];
    return el("div", { class: `kf-broker-head ${b.status}${b.fenced ? " fenced" : ""}` },
      el("div", { class: "kf-title" }, `broker ${b.id}`),
      el("div", { class: "kf-meta" }, label + (b.slow_ms ? ` · fetch ${b.slow_ms} ms late` : "")),
      el("div", { class: "kf-actions" }, ...buttons.map(([text, cmd]) =>
        el("button", { type: "button", onclick: () => send(cmd) }, text))));
  }

  function replicaRow(topic, part, b, win) {
    const log = part.logs[String(b)];
    const leader = part.leader === b;
    const inIsr = part.isr.includes(b);
    const role = leader ? "leader" : "follower";
    // A follower holding the leader's records up to its LEO is sent without its own copy.
    const leaderLog = part.logs[String(part.leader)];
    const records = log.records ?? (leaderLog?.records ?? [])
      .filter((r) => r[0] < log.leo && r[0] >= log.lso);
    const byOffset = new Map(records.map((r) => [r[0], r]));
    const cells = [];
    for (let off = win.start; off < win.end; off++) {
      const rec = byOffset.get(off);
      let cls = "kf-cell";
      let style;
      let title = `offset ${off}`;
      if (off >= log.leo) cls += " empty";
      else if (off < log.lso) cls += " deleted";
      else if (!rec) cls += " gap";
      else if (rec[2]) { cls += " tomb"; title += `, key ${rec[1]}, tombstone`; }
      else if (rec[1] === null) { cls += " nokey"; title += ", no key"; }
      else { style = keyColour(rec[1]); cls += " keyed"; title += `, key ${rec[1]}`; }
      if (off >= part.hw && off < log.leo) cls += " above-hw";
      if (log.segments.includes(off)) cls += " seg-start";
      cells.push(el("span", { class: cls, style, title }));
    }
    const hwPos = Math.min(Math.max(part.hw - win.start, 0), win.end - win.start);
    const cellsBox = el("div", { class: "kf-cells", style: `--n:${win.end - win.start}` },
      ...cells,
      el("span", { class: "kf-hw", style: `--pos:${hwPos}`, title: `high watermark ${part.hw}` }));
    const behind = part.logs[String(part.leader)] && !leader
      ? part.logs[String(part.leader)].leo - log.leo : 0;
    return el("div", {
      class: `kf-replica ${role}${inIsr ? " isr" : " out-of-sync"}${st.flash.has(
        `${topic}/${part.p}`) ? " flash" : ""}`,
      "data-partition": part.p, "data-broker": b, "data-role": role,
    },
    el("div", { class: "kf-replica-label" },
      el("b", {}, `p${part.p}`), ` ${leader ? "★ leader" : "follower"}`,
      el("span", { class: inIsr ? "kf-isr" : "kf-osr" }, inIsr ? "ISR" : "out of sync"),
      el("span", { class: "kf-offsets" },
        `LEO ${log.leo} · HW ${part.hw}` + (log.lso ? ` · start ${log.lso}` : "") +
        (behind > 0 ? ` · ${behind} behind` : ""))),
    cellsBox);
  }

  function groupBox(g, topic) {
    const lagMax = Math.max(50, ...Object.values(g.lag));
    const owner = {};
    for (const m of g.members) for (const p of m.assigned) owner[p] = m.id;
    const members = g.members.map((m) => {
      const acts = m.status === "active"
        ? [["close", "remove_consumer"], ["kill", "crash_consumer"], ["stall", "stall_consumer"]]
        : m.status === "stalled" || m.status === "evicted" ? [["resume", "resume_consumer"]] : [];
      return el("div", { class: `kf-member ${m.status}${m.assigned.length ? "" : " idle"}`,
        "data-member": m.id },
      el("div", { class: "kf-title" }, `${m.id}`),
      el("div", { class: "kf-meta" }, `${m.status}${m.assigned.length || m.status !== "active"
        ? "" : " · idle"} · ${m.consumed} read`),
      el("div", { class: "kf-parts" }, m.assigned.length
        ? m.assigned.map((p) => `p${p}`).join(" ") : "no partition"),
      el("div", { class: "kf-actions" }, ...acts.map(([text, type]) => el("button", {
        type: "button", onclick: () => send({ type, group: g.id, consumer: m.id }) }, text))));
    });
    const lagRows = topic.partitions.map((part) => {
      const lag = g.lag[String(part.p)] ?? 0;
      return el("div", { class: "kf-lag" },
        el("span", { class: "kf-lag-label" }, `p${part.p}`),
        el("span", { class: "kf-lag-bar" }, el("span", {
          class: lag > 200 ? "bad" : lag > 50 ? "warn" : "ok",
          style: `width:${Math.round((100 * lag) / lagMax)}%` })),
        el("span", { class: "kf-lag-num" }, `lag ${lag} · ${owner[part.p] ?? "unowned"}` +
          (g.committed[String(part.p)] !== undefined ? ` · committed ${g.committed[String(part.p)]}`
            : "")));
    });
    const last = g.rebalances[g.rebalances.length - 1];
    return el("div", { class: "kf-group", "data-group": g.id },
      el("div", { class: "kf-title" }, `group ${g.id}`,
        el("button", { type: "button", class: "kf-add",
          onclick: () => send({ type: "add_consumer", group: g.id }) }, "+ consumer")),
      el("div", { class: "kf-meta" },
        `${g.state} · generation ${g.generation} · ${g.assignor} · ${g.commit} commit · ` +
        `${g.consumed} read · ${g.duplicates} redelivered` +
        (g.failed_commits ? ` · ${g.failed_commits} failed commits` : "")),
      last ? el("div", { class: "kf-meta" }, `last rebalance: ${last.stopped}/${last.partitions} ` +
        `partitions stopped, ${last.generations} generation(s), ${last.duration_ms} ms`) : null,
      el("div", { class: "kf-members" }, ...members),
      el("div", { class: "kf-lags" }, ...lagRows));
  }

  function drawArrows(topic) {
    // Lines from producers to partition leaders and from leaders to the owning consumer.
    for (const node of [...overlay.querySelectorAll("line")]) node.remove();
    const box = stage.getBoundingClientRect();
    if (!box.width) return;
    overlay.setAttribute("viewBox", `0 0 ${box.width} ${box.height}`);
    overlay.setAttribute("width", box.width);
    overlay.setAttribute("height", box.height);
    const centre = (node, edge) => {
      const r = node.getBoundingClientRect();
      const y = edge === "top" ? r.top : edge === "bottom" ? r.bottom : r.top + r.height / 2;
      return [r.left + r.width / 2 - box.left, y - box.top];
    };
    const line = (a, b, cls, marker) => overlay.append(svg("line", {
      x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: cls, "marker-end": `url(#${marker})` }));
    for (const prod of producersRow.querySelectorAll(".kf-producer")) {
      if (prod.dataset.topic !== topic.name) continue;
      for (const row of brokersRow.querySelectorAll('.kf-replica[data-role="leader"]')) {
        line(centre(prod, "bottom"), centre(row, "top"), "kf-arrow-p", "kf-arrow-p");
      }
    }
    for (const g of st.snap.groups) {
      if (g.topic !== topic.name) continue;
      for (const m of g.members) {
        const node = groupsRow.querySelector(`.kf-group[data-group="${g.id}"] ` +
          `.kf-member[data-member="${m.id}"]`);
        if (!node) continue;
        for (const p of m.assigned) {
          const row = brokersRow.querySelector(`.kf-replica[data-role="leader"]` +
            `[data-partition="${p}"]`);
          if (row) line(centre(row, "bottom"), centre(node, "top"), "kf-arrow-c", "kf-arrow-c");
        }
      }
    }
  }

  function draw() {
    const snap = st.snap;
    if (!snap) return;
    counters(snap);
    renderTabs(snap);
    const topic = snap.topics.find((t) => t.name === st.topic);
    producersRow.replaceChildren(...snap.producers.filter((p) => p.topic === topic.name)
      .map(producerBox));
    const windows = new Map(topic.partitions.map((part) => {
      const leos = Object.values(part.logs).map((l) => l.leo);
      const end = Math.max(...leos, snap.tail);
      return [part.p, { start: end - snap.tail, end }];
    }));
    const columns = snap.brokers.map((b) => {
      const rows = topic.partitions.map((part) => (part.replicas.includes(b.id)
        ? replicaRow(topic.name, part, b.id, windows.get(part.p))
        : el("div", { class: "kf-replica none" }, el("div", { class: "kf-replica-label" },
          `p${part.p}: no replica`))));
      return el("section", { class: `kf-broker ${b.status}`, "data-broker": b.id },
        brokerHead(b), ...rows);
    });
    brokersRow.style.setProperty("--cols", String(snap.brokers.length));
    brokersRow.replaceChildren(...columns);
    const offline = topic.partitions.filter((p) => p.leader < 0).map((p) => `p${p.p}`);
    notice.textContent = st.notice || (offline.length
      ? `Offline (no leader): ${offline.join(", ")}` : "");
    groupsRow.replaceChildren(...snap.groups.filter((g) => g.topic === topic.name)
      .map((g) => groupBox(g, topic)));
    drawArrows(topic);
  }

  function pushLog(ev) {
    const d = describe(ev);
    if (!d) return;
    st.log.push({ t: ev.t, text: d[0], cls: d[1] });
    if (st.log.length > 40) st.log.splice(0, st.log.length - 40);
    logBox.replaceChildren(...st.log.slice(-12).reverse().map((e) =>
      el("li", { class: e.cls }, el("span", { class: "kf-t" }, fmtT(e.t)), ` ${e.text}`)));
  }

  const onResize = () => st.snap && drawArrows(st.snap.topics.find((t) => t.name === st.topic));
  window.addEventListener("resize", onResize);

  return {
    render(snapshot) {
      st.snap = snapshot;
      for (const [key, until] of st.flash) if (until < snapshot.t) st.flash.delete(key);
      draw();
    },
    event(ev) {
      if (!LOG_EVENTS.has(ev.type)) return;
      pushLog(ev);
      if (ev.type === "leader_elected" || ev.type === "isr_shrink" || ev.type === "isr_expand") {
        st.flash.set(`${ev.topic}/${ev.p}`, ev.t + 1500);
      }
    },
    destroy() {
      window.removeEventListener("resize", onResize);
      container.replaceChildren();
      container.classList.remove("lab-kafka");
    },
  };
}
