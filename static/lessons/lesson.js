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

  // Reaching the end of the lesson after reading for a while completes it.
  const end = document.getElementById("lesson-end");
  if (end && "IntersectionObserver" in window) {
    const observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        const read = (Date.now() - started) / 1000;
        if (read < 5 && window.scrollY === 0) return; // a short page seen at a glance is not read
        const button = document.getElementById("mark-complete");
        observer.disconnect();
        if (button && window.htmx) window.htmx.trigger(button, "click");
      });
    }, { threshold: 0.5 });
    setTimeout(function () { observer.observe(end); }, 1000);
  }
})();
