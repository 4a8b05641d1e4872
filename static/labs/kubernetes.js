// Kubernetes lab visualiser: Deployment -> ReplicaSets -> pods placed on nodes, with pod status
// colours, the Service's endpoints, the rolling-update bounds and the HPA's CPU history.
// Plain ES module (DOM helpers from dom.js), no libraries; colours come from the site's CSS variables.

import { el, fmtT, svg } from "./dom.js";

const HISTORY = 90; // seconds of stats kept for the chart

function podClass(pod, nodeDown) {
  if (nodeDown) return "unknown";
  if (pod.phase === "CrashLoopBackOff" || pod.phase === "ImagePullBackOff") return "bad";
  if (pod.phase === "Running") return pod.ready ? "ok" : "warn";
  return "starting";
}

function podLabel(pod) {
  if (pod.phase === "Running") {
    if (pod.ready) return "Ready";
    if (pod.hung) return "Hung";
    if (pod.unready) return "Not ready";
    return "Starting";
  }
  return pod.phase;
}

export function createVisualiser(container, ctx) {
  container.classList.add("lab-kubernetes");
  container.replaceChildren();
  const st = { snap: null, stats: [], notice: "", noticeClass: "", fresh: new Set() };

  const head = el("div", { class: "k8s-head" });
  const chain = el("div", { class: "k8s-panel" });
  const nodes = el("div", { class: "k8s-panel" });
  const service = el("div", { class: "k8s-panel" });
  const hpa = el("div", { class: "k8s-panel" });
  container.append(head, chain, nodes, el("div", { class: "k8s-row" }, service, hpa));

  const rsIndex = (s, name) => s.replicasets.findIndex((r) => r.name === name) % 4;

  function drawHead(s) {
    const d = s.deployment;
    const ro = d.rollout;
    head.replaceChildren(
      el("span", { class: "k8s-chip" }, `t = ${fmtT(s.t)}`),
      el("span", { class: `k8s-chip ${d.ready === d.replicas ? "ok" : "warn"}` }, `ready ${d.ready} / desired ${d.replicas}`),
      el("span", { class: "k8s-chip" }, `pods ${d.pods}`),
      el("span", { class: "k8s-chip accent" }, `image ${d.image}`),
      ro ? el("span", { class: `k8s-chip ${ro.stalled ? "bad" : "warn"}` },
        ro.stalled ? "rollout stalled: ProgressDeadlineExceeded" : `${ro.rollback ? "rolling back" : "rolling out"} to ${ro.image}`) : null,
      el("span", { class: "k8s-chip" }, `restarts ${s.counters.restarts}`),
      st.notice ? el("span", { class: `k8s-notice ${st.noticeClass}` }, st.notice) : null,
    );
  }

  function drawChain(s) {
    const d = s.deployment;
    const deployment = el("div", { class: "k8s-box deploy" },
      el("div", { class: "k8s-kind" }, "Deployment"),
      el("strong", {}, d.name),
      el("div", { class: "small" }, `replicas: ${d.replicas}, image: ${d.image}`),
      el("div", { class: "small" },
        `maxSurge ${d.max_surge} → ${d.surge_abs}, maxUnavailable ${d.max_unavailable} → ${d.unavailable_abs}`),
      el("div", { class: "small muted" },
        `bounds: ≤ ${d.replicas + d.surge_abs} pods, ≥ ${d.replicas - d.unavailable_abs} ready`),
    );
    const sets = el("div", { class: "k8s-sets" });
    for (const rs of s.replicasets) {
      if (!rs.replicas && !rs.pods && !rs.current) continue;
      sets.append(el("div", { class: `k8s-box rs rs${rsIndex(s, rs.name)} ${rs.current ? "current" : ""}` },
        el("div", { class: "k8s-kind" }, `ReplicaSet · rev ${rs.revision}`),
        el("strong", {}, rs.name),
        el("div", { class: "small" }, rs.image),
        el("div", { class: "k8s-counts" },
          el("span", { title: "desired" }, `desired ${rs.replicas}`),
          el("span", { title: "pods" }, `pods ${rs.pods}`),
          el("span", { class: rs.ready < rs.replicas ? "warn-text" : "ok-text" }, `ready ${rs.ready}`)),
      ));
    }
    chain.replaceChildren(
      el("h3", {}, "Desired state"),
      el("div", { class: "k8s-chain" }, deployment, el("span", { class: "k8s-arrow" }, "→"), sets),
    );
  }

  function podChip(s, pod, nodeDown) {
    const cls = podClass(pod, nodeDown);
    return el("button", {
      type: "button",
      class: `k8s-pod ${cls} rs${rsIndex(s, pod.rs)} ${st.fresh.has(pod.name) ? "fresh" : ""}`,
      title: `${pod.name}\n${pod.phase}${pod.ready ? " (ready)" : ""}\nrestarts: ${pod.restarts}\nclick: delete this pod`,
      "data-pod": pod.name,
      onclick: () => send({ type: "delete_pod", pod: pod.name }),
    },
    el("span", { class: "k8s-pod-name" }, pod.name.split("-").pop()),
    el("span", { class: "k8s-pod-state" }, nodeDown ? "Unknown" : podLabel(pod)),
    pod.restarts ? el("span", { class: "k8s-restarts" }, `↻${pod.restarts}`) : null);
  }

  function drawNodes(s) {
    const row = el("div", { class: "k8s-nodes" });
    for (const node of s.nodes) {
      const mine = s.pods.filter((p) => p.node === node.name);
      const status = node.not_ready ? "NotReady" : node.up ? "Ready" : "unreachable (not yet noticed)";
      const box = el("div", { class: `k8s-node ${node.not_ready ? "down" : node.up ? "" : "silent"}` },
        el("div", { class: "k8s-node-head" }, el("strong", {}, node.name),
          el("span", { class: "small" }, `${status} · ${mine.length}/${node.capacity}`),
          el("button", {
            type: "button", class: "k8s-node-btn", "data-node": node.name,
            onclick: () => send({ type: node.up ? "kill_node" : "restore_node", node: node.name }),
          }, node.up ? "Take down" : "Bring back")));
      const grid = el("div", { class: "k8s-pods" });
      for (const pod of mine) grid.append(podChip(s, pod, !node.up));
      box.append(grid);
      row.append(box);
    }
    const pending = s.pods.filter((p) => !p.node);
    if (pending.length) {
      const box = el("div", { class: "k8s-node pending" },
        el("div", { class: "k8s-node-head" }, el("strong", {}, "Unscheduled"), el("span", { class: "small" }, "no node has room")));
      const grid = el("div", { class: "k8s-pods" });
      for (const pod of pending) grid.append(podChip(s, pod, false));
      box.append(grid);
      row.append(box);
    }
    nodes.replaceChildren(
      el("h3", {}, "Observed state: pods on nodes"),
      row,
      el("div", { class: "k8s-legend small" },
        el("span", { class: "k8s-dot ok" }), "ready ",
        el("span", { class: "k8s-dot warn" }), "running, not ready ",
        el("span", { class: "k8s-dot starting" }), "pending / creating ",
        el("span", { class: "k8s-dot bad" }), "CrashLoopBackOff / ImagePullBackOff ",
        el("span", { class: "k8s-dot unknown" }), "on a silent node"),
    );
  }

  function drawService(s) {
    const down = new Set(s.nodes.filter((n) => !n.up).map((n) => n.name));
    const byName = Object.fromEntries(s.pods.map((p) => [p.name, p]));
    const list = el("ul", { class: "k8s-endpoints" });
    for (const name of s.endpoints) {
      const pod = byName[name];
      const failing = pod && down.has(pod.node);
      list.append(el("li", { class: failing ? "bad-text" : "" }, `${name}${failing ? " (node silent: requests fail)" : ""}`));
    }
    service.replaceChildren(
      el("h3", {}, `Service web: ${s.endpoints.length} endpoints`),
      el("p", { class: "small muted" }, "Only pods whose readiness probe passes receive traffic."),
      list,
    );
  }

  function drawHpa(s) {
    const h = s.hpa;
    const w = 360, ht = 110, pad = 4;
    const chart = svg("svg", { viewBox: `0 0 ${w} ${ht}`, class: "k8s-chart", role: "img", "aria-label": "CPU and replicas over time" });
    const maxCpu = Math.max(150, ...st.stats.map((x) => x.cpu));
    const y = (v) => ht - pad - (v / maxCpu) * (ht - 2 * pad);
    const yr = (v) => ht - pad - (v / 20) * (ht - 2 * pad);
    const x = (i) => pad + (i / (HISTORY - 1)) * (w - 2 * pad);
    chart.append(svg("line", { x1: 0, x2: w, y1: y(h.target_cpu), y2: y(h.target_cpu), class: "k8s-target" }));
    if (st.stats.length > 1) {
      const off = HISTORY - st.stats.length;
      chart.append(svg("polyline", { class: "k8s-cpu", points: st.stats.map((p, i) => `${x(i + off)},${y(p.cpu)}`).join(" ") }));
      chart.append(svg("polyline", { class: "k8s-reps", points: st.stats.map((p, i) => `${x(i + off)},${yr(p.ready)}`).join(" ") }));
    }
    hpa.replaceChildren(
      el("h3", {}, "HorizontalPodAutoscaler ", el("span", { class: `k8s-chip ${h.enabled ? "ok" : ""}` }, h.enabled ? "on" : "off")),
      el("div", { class: "small" }, `load ${s.load_rps} rps (${s.rps_per_pod} rps per pod = 100 % CPU); average CPU ${h.cpu} % vs target ${h.target_cpu} %; replicas ${h.min}..${h.max}`),
      el("div", { class: "k8s-gauge" }, el("div", { class: `k8s-gauge-fill ${h.cpu > h.target_cpu * 1.1 ? "hot" : ""}`, style: `width:${Math.min(100, h.cpu / 2)}%` }),
        el("div", { class: "k8s-gauge-target", style: `left:${h.target_cpu / 2}%` })),
      chart,
      el("div", { class: "small muted" }, "Solid: CPU %; dashed line: target; thin: ready pods (scale 0–20)."),
    );
  }

  async function send(cmd) {
    const res = await ctx.sendCommand(cmd);
    if (res && !res.ok) setNotice(`Refused: ${res.error || "invalid command"}`, "bad");
  }

  function setNotice(text, cls) {
    st.notice = text;
    st.noticeClass = cls;
    if (st.snap) drawHead(st.snap);
  }

  return {
    render(snapshot) {
      st.snap = snapshot;
      drawHead(snapshot);
      drawChain(snapshot);
      drawNodes(snapshot);
      drawService(snapshot);
      drawHpa(snapshot);
      st.fresh.clear();
    },
    event(ev) {
      if (ev.type === "stats") {
        st.stats.push({ cpu: ev.cpu, ready: ev.ready });
        if (st.stats.length > HISTORY) st.stats.shift();
        if (st.snap) drawHpa(st.snap);
      } else if (ev.type === "pod_created") {
        st.fresh.add(ev.pod);
      } else if (ev.type === "node_not_ready") {
        setNotice(`${ev.node} NotReady: ${ev.evicted.length} pods evicted`, "bad");
      } else if (ev.type === "liveness_restart") {
        setNotice(`Liveness probe failed: ${ev.pod} restarted`, "warn");
      } else if (ev.type === "rollout_stalled") {
        setNotice(`Rollout of ${ev.image} stalled`, "bad");
      } else if (ev.type === "rollout_complete") {
        setNotice(`${ev.rollback ? "Rollback" : "Rollout"} to ${ev.image} complete in ${fmtT(ev.took_ms)}`, "ok");
      } else if (ev.type === "hpa_scaled") {
        setNotice(`HPA: ${ev.from} → ${ev.to} replicas (CPU ${ev.cpu} % vs ${ev.target} %)`, "accent");
      } else if (ev.type === "pod_status" && ev.phase !== "Running") {
        setNotice(`${ev.pod}: ${ev.phase}`, "bad");
      }
      const chip = nodes.querySelector(`[data-pod="${ev.pod}"]`);
      if (chip && ev.type !== "stats") {
        chip.classList.remove("flash");
        void chip.offsetWidth;
        chip.classList.add("flash");
      }
    },
    destroy() {
      container.replaceChildren();
    },
  };
}
