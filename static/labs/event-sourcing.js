// Event-sourcing lab visualiser: account streams (write side), the global log with the
// projection's checkpoint, the balances read model with its lag (read side), a time-travel
// slider, the raw-versus-upcast view of a stream and recent queries. Plain ES module.

import { el, fmtT } from "./dom.js";

const TYPE_CLASS = {
  AccountOpened: "opened", MoneyDeposited: "dep", MoneyWithdrawn: "wd",
};
const TYPE_SHORT = { AccountOpened: "Open", MoneyDeposited: "+", MoneyWithdrawn: "−" };

const euros = (cents) => (cents === null || cents === undefined ? "—" : `${(cents / 100).toFixed(2)} €`);

function eventBox(ev, extra = "", global = false) {
  const label = ev.type === "AccountOpened" ? "Open" : `${TYPE_SHORT[ev.type]}${(ev.amount_cents / 100).toFixed(0)}`;
  return el(
    "span",
    {
      class: `es-ev ${TYPE_CLASS[ev.type] || ""} ${ev.schema < 2 ? "legacy" : ""} ${extra}`,
      title: `#${ev.position} ${ev.stream} v${ev.version} ${ev.type} (schema ${ev.schema}) at ${fmtT(ev.t)}`,
      "data-position": ev.position,
    },
    el("small", {}, global ? `#${ev.position} ${ev.stream.replace(/^account-/, "").slice(0, 5)}` : `v${ev.version}`),
    label,
  );
}

export function createVisualiser(container, ctx) {
  container.classList.add("lab-event-sourcing");
  container.replaceChildren();
  const st = { snap: null, notice: "", noticeClass: "", flash: new Map(), sliderBusy: false };

  const head = el("div", { class: "es-head" });
  const streams = el("div", { class: "es-panel" });
  const readSide = el("div", { class: "es-panel" });
  const logPanel = el("div", { class: "es-panel" });
  const travel = el("div", { class: "es-panel" });
  const inspect = el("div", { class: "es-panel" });
  container.append(
    head,
    el("div", { class: "es-row" }, streams, readSide),
    logPanel,
    el("div", { class: "es-row" }, travel, inspect),
  );

  async function send(cmd) {
    const res = await ctx.sendCommand(cmd);
    if (res && !res.ok) setNotice(`Refused: ${res.error || "invalid command"}`, "bad");
  }

  function setNotice(text, cls) {
    st.notice = text;
    st.noticeClass = cls;
    if (st.snap) drawHead(st.snap);
  }

  function drawHead(s) {
    const p = s.projection;
    head.replaceChildren(
      el("span", { class: "es-chip" }, `t = ${fmtT(s.t)}`),
      el("span", { class: "es-chip accent" }, `events in store: ${s.head}`),
      el("span", { class: `es-chip ${p.behind ? "warn" : "ok"}` }, `projection behind: ${p.behind}`),
      el("span", { class: "es-chip" }, `commands: ${s.counters.commands}`),
      el("span", { class: `es-chip ${s.counters.conflicts ? "bad" : ""}` }, `conflicts: ${s.counters.conflicts}`),
      el("span", { class: "es-chip" }, `refused: ${s.counters.rejected}`),
      el("span", { class: "es-chip" }, `traffic: ${s.traffic_rps}/s`),
      st.notice ? el("span", { class: `es-notice ${st.noticeClass}` }, st.notice) : null,
    );
  }

  function drawStreams(s) {
    const list = el("div", { class: "es-streams" });
    for (const [stream, info] of Object.entries(s.streams)) {
      const account = stream.replace(/^account-/, "");
      const acc = s.accounts[account] || {};
      const row = el("div", { class: `es-stream ${st.flash.has(stream) ? "flash" : ""}` });
      const boxes = el("div", { class: "es-boxes" });
      const firstVersion = info.events.length ? info.events[0].version : 1;
      if (firstVersion > 1) boxes.append(el("span", { class: "es-more muted" }, `… ${firstVersion - 1}`));
      for (const ev of info.events) {
        boxes.append(eventBox(ev));
        if (info.snapshot_version && ev.version === info.snapshot_version) {
          boxes.append(el("span", { class: "es-snap", title: `snapshot at v${info.snapshot_version}` }, "◆"));
        }
      }
      row.append(
        el("div", { class: "es-stream-head" },
          el("strong", {}, stream),
          el("span", { class: "muted small" }, ` v${info.version}`),
          el("button", { type: "button", class: "es-btn small", "data-act": "snapshot",
            onclick: () => send({ type: "take_snapshot", account }) }, "snapshot"),
          el("button", { type: "button", class: "es-btn small", "data-act": "inspect",
            onclick: () => send({ type: "inspect_stream", account }) }, "inspect"),
          el("span", { class: "es-balance" }, euros(acc.balance_cents)),
        ),
        boxes,
      );
      list.append(row);
    }
    streams.replaceChildren(
      el("h3", {}, "Write side: streams (one per account)"),
      list,
      el("p", { class: "muted small" }, "Balance = replay of the stream. Dashed: stored with schema 1, upcast on read. ◆ = snapshot."),
    );
  }

  function drawReadSide(s) {
    const p = s.projection;
    const table = el("table", { class: "es-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Account"), el("th", {}, "Read model"), el("th", {}, "Write side"))));
    const body = el("tbody");
    const names = new Set([...Object.keys(p.model.balances), ...Object.keys(s.accounts)]);
    for (const account of [...names].sort()) {
      const seen = p.model.balances[account];
      const acc = s.accounts[account];
      const actual = acc && acc.open ? acc.balance_cents : null;
      const wrong = seen !== p.expected_seen[account];
      const cls = wrong ? "wrong" : seen !== actual ? "stale" : "";
      const why = wrong ? "differs from a replay of the same events: a bug" : cls ? "not yet seen the latest events" : "";
      body.append(el("tr", { class: cls, title: why },
        el("td", {}, account, " ", el("button", { type: "button", class: "es-btn small", "data-act": "query",
          title: "query the read model", onclick: () => send({ type: "query_balance", account }) }, "query")),
        el("td", {}, euros(seen)), el("td", {}, euros(actual))));
    }
    table.append(body);
    const pct = s.head ? (100 * p.checkpoint) / s.head : 100;
    const bar = el("div", { class: "es-bar" }, el("div", { class: `es-bar-fill ${p.rebuilding ? "rebuild" : ""}`, style: `width:${pct}%` }));
    const queries = el("ul", { class: "es-queries" });
    for (const q of [...s.queries].reverse()) {
      queries.append(el("li", { class: q.stale ? "bad" : "ok" },
        `${fmtT(q.t)} ${q.account}: read model ${euros(q.read_model_cents)}, actual ${euros(q.actual_cents)}`,
        q.stale ? ` — stale (${q.behind} events behind)` : " — fresh"));
    }
    readSide.replaceChildren(
      el("h3", {}, "Read side: balances projection ",
        el("span", { class: `es-chip ${p.version === 1 ? "bad" : "ok"}` }, p.version === 1 ? "v1 (buggy)" : "v2 (fixed)"),
        p.rebuilding ? el("span", { class: "es-chip accent" }, "replaying…") : null,
        p.paused ? el("span", { class: "es-chip warn" }, "paused") : null),
      el("div", { class: "small" }, `checkpoint ${p.checkpoint} / ${s.head}; oldest unprojected event ${fmtT(p.oldest_unprojected_ms)} old; configured lag ${fmtT(p.lag_ms)}`),
      bar,
      table,
      el("div", { class: `small ${p.consistent_with_seen ? (p.correct ? "ok-text" : "warn-text") : "bad-text"}` },
        !p.consistent_with_seen ? "Read model is wrong: it differs from a replay of the events it has seen (a bug)."
          : p.correct ? "Read model matches the write side."
            : `Read model is behind by ${p.behind} events: stale, but right for what it has seen.`),
      s.queries.length ? el("h4", {}, "Queries") : null,
      s.queries.length ? queries : null,
    );
  }

  function drawLog(s) {
    const cp = s.projection.checkpoint;
    const strip = el("div", { class: "es-boxes es-log" });
    for (const ev of s.recent) {
      const cls = ev.position <= cp ? "projected" : "pending";
      strip.append(eventBox(ev, cls, true));
      if (ev.position === cp) strip.append(el("span", { class: "es-cp", title: "projection checkpoint" }, "▲"));
    }
    logPanel.replaceChildren(
      el("h3", {}, `Global log (last ${s.recent.length} of ${s.head}); ▲ projection checkpoint`),
      strip,
      el("p", { class: "muted small" }, "Faded: not yet seen by the projection."),
    );
  }

  function drawTravel(s) {
    const tt = s.time_travel;
    const pos = tt ? tt.position : s.head;
    const slider = el("input", {
      type: "range", min: 0, max: s.head, value: pos, class: "es-slider", "aria-label": "Event number",
      onchange: async (e) => {
        await send({ type: "time_travel", position: Number(e.target.value) });
      },
    });
    const accounts = tt ? tt.accounts : s.accounts;
    const list = el("ul", { class: "es-travel-list" });
    for (const [account, acc] of Object.entries(accounts).sort()) {
      list.append(el("li", {}, `${account}: ${euros(acc.balance_cents)} (v${acc.version})`));
    }
    travel.replaceChildren(
      el("h3", {}, tt ? `Time travel: state as of event ${tt.position} of ${s.head}` : "Time travel (now)"),
      slider,
      el("button", { type: "button", class: "es-btn", onclick: () => send({ type: "live_view" }) }, "Back to now"),
      list,
    );
    travel.classList.toggle("travelling", Boolean(tt));
  }

  function drawInspect(s) {
    const ins = s.inspected;
    if (!ins) {
      inspect.replaceChildren(el("h3", {}, "Upcasting"), el("p", { class: "muted small" }, "Inspect a stream to compare stored events with what readers see."));
      return;
    }
    const table = el("table", { class: "es-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "v"), el("th", {}, "Stored"), el("th", {}, "Read (upcast)"))));
    const body = el("tbody");
    ins.raw.forEach((raw, i) => {
      const up = ins.upcast[i];
      body.append(el("tr", { class: raw.schema < 2 ? "legacy" : "" },
        el("td", {}, `v${raw.version}`),
        el("td", {}, `${raw.type} s${raw.schema} ${JSON.stringify(raw.data)}`),
        el("td", {}, `${up.type} s${up.schema} ${JSON.stringify(up.data)}`)));
    });
    table.append(body);
    inspect.replaceChildren(el("h3", {}, `Upcasting: ${ins.stream}`), table);
  }

  return {
    render(snapshot) {
      st.snap = snapshot;
      drawHead(snapshot);
      drawStreams(snapshot);
      drawReadSide(snapshot);
      drawLog(snapshot);
      drawTravel(snapshot);
      drawInspect(snapshot);
    },
    event(ev) {
      if (ev.type === "event_appended") {
        st.flash.set(ev.stream, ev.t);
        setTimeout(() => { st.flash.delete(ev.stream); }, 600);
        const row = [...streams.querySelectorAll(".es-stream strong")].find((n) => n.textContent === ev.stream);
        if (row) {
          const box = row.closest(".es-stream");
          box.classList.remove("flash");
          void box.offsetWidth;
          box.classList.add("flash");
        }
      } else if (ev.type === "concurrency_conflict") {
        setNotice(`Conflict on ${ev.account}: expected v${ev.expected}, store at v${ev.actual}${ev.retrying ? " — retrying" : ""}`, "bad");
      } else if (ev.type === "command_rejected" && ev.by === "user") {
        setNotice(`Refused (${ev.command} ${ev.account}): ${ev.reason}`, "warn");
      } else if (ev.type === "query_answered") {
        setNotice(ev.stale ? `Stale read of ${ev.account}` : `Fresh read of ${ev.account}`, ev.stale ? "warn" : "ok");
      } else if (ev.type === "projection_rebuilt") {
        setNotice(ev.correct ? "Replay finished: read model correct" : "Replay finished: still wrong", ev.correct ? "ok" : "bad");
      } else if (ev.type === "projection_rebuild_started") {
        setNotice(`Replaying ${ev.events} events into projection v${ev.version}`, "accent");
      } else if (ev.type === "aggregate_loaded" && ev.snapshot_version) {
        setNotice(`Loaded ${ev.account} from snapshot v${ev.snapshot_version} + ${ev.replayed} events`, "accent");
      }
    },
    destroy() {
      container.replaceChildren();
    },
  };
}
