// The lab page: connects a run's event stream to the engine's visualiser.
// Events carry simulated time `t`; they are queued and released on a playback clock that
// advances with wall time × speed, so one-second slices animate smoothly. A `tick` entry's
// snapshot is rendered once the events before it have played.

const config = JSON.parse(document.getElementById("lab-config").textContent);
const visual = document.getElementById("lab-visual");
const banner = document.getElementById("lab-banner");
const clockEl = document.querySelector("[data-clock]");
const connEl = document.querySelector("[data-conn]");
const logList = document.getElementById("lab-log");
const logType = document.querySelector("[data-log-type]");
const logHideStats = document.querySelector("[data-log-hide-stats]");
const logText = document.querySelector("[data-log-text]");
const LOG_MAX = 300;
const MAX_LAG_MS = 3000; // never trail the newest tick by more than this much simulated time

let vis = null;
let queue = [];
let simNow = 0;
let newestT = 0;
let speed = config.speed || 1;
let lastFrame = null;
let paused = false;
let lastId = null;
let source = null;
let ended = false;
const seenTypes = new Set();

function csrf() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  } catch {
    return "";
  }
}

async function sendCommand(cmd) {
  if (!config.commandUrl || !config.canControl) return { ok: false, error: "read-only" };
  const response = await fetch(config.commandUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify(cmd),
    credentials: "same-origin",
  });
  const body = await response.json().catch(() => ({ ok: false, error: `HTTP ${response.status}` }));
  return { ok: !!body.ok, error: body.error || null };
}

function showBanner(text, kind) {
  banner.hidden = false;
  banner.textContent = text;
  banner.dataset.kind = kind;
}

function updateObjectives(objectives) {
  for (const o of objectives || []) {
    const li = document.querySelector(`[data-objective="${CSS.escape(o.id)}"]`);
    if (!li) continue;
    li.dataset.met = o.met ? "true" : "false";
    const detail = li.querySelector("[data-detail]");
    if (detail) detail.textContent = o.detail ? `(${o.detail})` : "";
  }
}

function describe(ev) {
  const skip = new Set(["t", "type"]);
  return Object.entries(ev)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ")
    .slice(0, 240);
}

function logVisible(li) {
  const type = logType.value;
  const text = logText.value.trim().toLowerCase();
  const t = li.dataset.type;
  if (type && t !== type) return false;
  if (!type && logHideStats.checked && (t === "stats" || t === "tick")) return false;
  if (text && !li.textContent.toLowerCase().includes(text)) return false;
  return true;
}

function addLog(ev) {
  if (ev.type === "tick") return;
  if (!seenTypes.has(ev.type)) {
    seenTypes.add(ev.type);
    const option = document.createElement("option");
    option.value = option.textContent = ev.type;
    logType.append(option);
  }
  const li = document.createElement("li");
  li.dataset.type = ev.type;
  const kind = ev.type === "command_rejected" ? "bad" : ev.type === "command_applied" ? "ok" : "";
  if (kind) li.dataset.kind = kind;
  li.innerHTML = `<time></time> <b></b> <span></span>`;
  li.querySelector("time").textContent = `${(ev.t / 1000).toFixed(3)} s`;
  li.querySelector("b").textContent = ev.type;
  li.querySelector("span").textContent = describe(ev);
  li.hidden = !logVisible(li);
  logList.prepend(li);
  while (logList.children.length > LOG_MAX) logList.lastElementChild.remove();
}

function refilter() {
  for (const li of logList.children) li.hidden = !logVisible(li);
}
for (const el of [logType, logHideStats, logText]) el?.addEventListener("input", refilter);

function release(item) {
  if (item.type === "tick") {
    document.querySelector("[data-waiting]")?.remove();
    if (item.speed) speed = item.speed;
    vis?.render(item.snapshot);
    updateObjectives(item.objectives);
    return;
  }
  if (item.type === "end" || item.type === "interrupted") {
    finish(item);
    return;
  }
  if (item.type === "paused") showBanner(item.reason === "idle" ? "Paused: nobody was watching. Resume to continue." : "Paused.", "warn");
  if (item.type === "resumed") banner.hidden = true;
  if (item.type === "speed") speed = item.speed;
  try {
    vis?.event(item);
  } catch (err) {
    console.error(err);
  }
  addLog(item);
}

function enqueue(item) {
  if (typeof item.t === "number" && item.t > newestT) newestT = item.t;
  queue.push(item);
}

function frame(now) {
  if (lastFrame !== null && !paused) simNow += (now - lastFrame) * speed;
  lastFrame = now;
  if (simNow > newestT) simNow = newestT;
  if (config.mode !== "replay" && newestT - simNow > MAX_LAG_MS * Math.max(1, speed)) {
    simNow = newestT - MAX_LAG_MS;
  }
  while (queue.length && (queue[0].t ?? 0) <= simNow) release(queue.shift());
  // A terminal entry with nothing before it plays at once.
  if (queue.length && (queue[0].type === "end" || queue[0].type === "interrupted") && queue.length === 1 && simNow >= newestT) release(queue.shift());
  clockEl.textContent = `t = ${(simNow / 1000).toFixed(1)} s · ${speed}×`;
  requestAnimationFrame(frame);
}

function finish(item) {
  if (ended) return;
  ended = true;
  source?.close();
  if (item.objectives) updateObjectives(item.objectives);
  const text =
    item.type === "interrupted"
      ? `Interrupted: ${item.reason || "the event stream was lost"}.`
      : `Run ${item.status || "finished"}${item.reason ? `: ${item.reason}` : ""}.`;
  showBanner(text, item.type === "interrupted" || item.status === "failed" ? "bad" : "ok");
  document.body.dataset.labEnded = item.type === "interrupted" ? "interrupted" : item.status || "finished";
  addLog(item);
}

function connect() {
  const url = new URL(config.eventsUrl, location.href);
  if (lastId) url.searchParams.set("last_id", lastId);
  source = new EventSource(url);
  connEl.textContent = "";
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    if (!lastId) {
      simNow = newestT = data.t;
      speed = data.speed || speed;
      vis?.render(data.snapshot);
      updateObjectives(data.objectives);
    }
    if (data.status === "paused") showBanner("Paused.", "warn");
  });
  const onEntry = (e) => {
    lastId = e.lastEventId || lastId;
    enqueue(JSON.parse(e.data));
  };
  source.addEventListener("message", onEntry);
  source.addEventListener("tick", onEntry);
  source.addEventListener("end", (e) => {
    lastId = e.lastEventId || lastId;
    enqueue(JSON.parse(e.data));
    source.close();
  });
  source.addEventListener("interrupted", (e) => {
    source.close();
    queue = [];
    finish(JSON.parse(e.data));
  });
  source.onerror = () => {
    if (ended) return;
    // Reconnect ourselves so the resume point travels in the URL (see DESIGN pitfalls).
    source.close();
    connEl.textContent = "· reconnecting…";
    setTimeout(connect, 1500);
  };
}

async function startReplay() {
  const response = await fetch(config.replayUrl, { credentials: "same-origin" });
  const body = await response.json();
  for (const entry of body.entries) enqueue(entry);
  enqueue({ type: "end", t: newestT, status: "replayed" });
  const toggle = document.querySelector("[data-replay-toggle]");
  toggle?.addEventListener("click", () => {
    paused = !paused;
    toggle.textContent = paused ? "Play" : "Pause";
  });
  document.querySelector("[data-replay-speed]")?.addEventListener("change", (e) => {
    speed = Number(e.target.value);
  });
}

async function main() {
  if (!config.run) return;
  visual.replaceChildren();
  try {
    const module = await import(`${config.staticUrl}${config.lab}.js`);
    vis = module.createVisualiser(visual, { sendCommand });
  } catch (err) {
    visual.textContent = `The visualiser failed to load: ${err}`;
  }
  requestAnimationFrame(frame);
  if (config.mode === "replay") {
    simNow = 0;
    await startReplay();
  } else {
    connect();
  }
  document.body.dataset.labReady = "true";
}

// htmx-rendered command forms: numbers and bools are typed on the server (command_schema).
document.body.addEventListener("htmx:afterRequest", (e) => {
  const form = e.target.closest?.(".lab-command");
  if (form) form.dataset.lastResult = e.detail.successful ? "ok" : "error";
});

main();
