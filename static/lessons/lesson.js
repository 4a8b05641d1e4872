// Lesson page: copy buttons on code, "check yourself" questions, time spent, auto-completion.
(function () {
  "use strict";
  const article = document.querySelector("article.lesson");
  if (!article) return;
  const started = Date.now();
  let reported = started;

  function secondsSinceReport() {
    const now = Date.now();
    const s = Math.round((now - reported) / 1000);
    reported = now;
    return s;
  }

  // Copy buttons on highlighted code blocks.
  article.querySelectorAll(".lesson-body .highlight").forEach(function (block) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button button ghost small";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code to clipboard");
    button.addEventListener("click", function () {
      const code = block.querySelector("pre");
      navigator.clipboard.writeText(code ? code.innerText : "").then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    });
    block.prepend(button);
  });

  // "Check yourself" placeholders load their question with htmx.
  article.querySelectorAll(".check-yourself[data-check]").forEach(function (el) {
    el.setAttribute("hx-get", "/courses/check/" + encodeURIComponent(el.dataset.check) + "/");
    el.setAttribute("hx-trigger", "revealed");
    el.setAttribute("hx-swap", "innerHTML");
    if (window.htmx) window.htmx.process(el);
  });

  if (article.dataset.auth !== "1") return;
  const base = article.dataset.lessonUrl;

  // Time spent travels with every progress request.
  document.body.addEventListener("htmx:configRequest", function (event) {
    const path = event.detail.path || "";
    if (path.startsWith(base) && (path.endsWith("/complete/") || path.endsWith("/progress/"))) {
      event.detail.parameters.seconds = secondsSinceReport();
    }
  });

  function ping() {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    window.htmx.ajax("POST", base + "progress/", { swap: "none", target: "body" });
  }
  ping();
  setInterval(ping, 60000);

  // Reaching the end of the lesson after reading for a while (10 s at least) completes it.
  const MIN_READ_MS = 10000;
  const end = document.getElementById("lesson-end");
  if (end && "IntersectionObserver" in window) {
    let visible = false;
    let done = false;
    const completeIfRead = function () {
      if (done || !visible) return;
      const wait = MIN_READ_MS - (Date.now() - started);
      if (wait > 0) { setTimeout(completeIfRead, wait + 50); return; }
      done = true;
      const button = document.getElementById("mark-complete");
      if (button && window.htmx) window.htmx.trigger(button, "click");
    };
    new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { visible = entry.isIntersecting; });
      completeIfRead();
    }, { threshold: 0.5 }).observe(end);
  }
})();
