// Cohort live feed: an EventSource on the cohort-filtered learning-events stream.
(function () {
  "use strict";
  const feed = document.getElementById("live-feed");
  if (!feed || !window.EventSource) return;
  const status = document.getElementById("live-status");
  const base = feed.dataset.learnerBase;
  const LABELS = {
    lesson_completed: (e) => `completed lesson “${e.title || e.lesson}”`,
    quiz_submitted: (e) => `submitted ${e.quiz || "a quiz"}${e.score != null ? ` — ${Math.round(e.score)}%` : ""}`,
    question_answered: (e) => `answered ${e.qid || "a question"}`,
    objective_met: (e) => `met objective ${e.objective || ""} in ${e.lab || "a lab"}`,
  };
  function add(event) {
    let data;
    try { data = JSON.parse(event.data); } catch (err) { return; }
    const li = document.createElement("li");
    li.className = `live-${data.type}`;
    const time = document.createElement("time");
    time.dateTime = data.at || "";
    time.textContent = (data.at || "").replace("T", " ").slice(0, 19);
    const who = document.createElement("a");
    who.href = `${base}${encodeURIComponent(data.user_id)}/`;
    who.textContent = data.username || `learner ${data.user_id}`;
    const label = LABELS[data.type];
    li.append(time, " ", who, " ", label ? label(data) : data.type);
    feed.prepend(li);
    while (feed.children.length > 200) feed.lastElementChild.remove();
  }
  const source = new EventSource(feed.dataset.streamUrl);
  source.onopen = () => { status.textContent = "Live: waiting for learner activity."; };
  source.onerror = () => { status.textContent = "Connection lost; reconnecting…"; };
  Object.keys(LABELS).forEach((name) => source.addEventListener(name, add));
  source.addEventListener("interrupted", () => { status.textContent = "The event stream was interrupted; reconnecting…"; });
})();
