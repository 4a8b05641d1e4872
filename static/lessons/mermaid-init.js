// Draw ```mermaid diagrams; the theme follows the system's light or dark preference.
(function () {
  "use strict";
  if (!window.mermaid) return;
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  window.mermaid.initialize({ startOnLoad: false, theme: dark ? "dark" : "default", securityLevel: "strict" });
  window.mermaid.run({ querySelector: "pre.mermaid" });
})();
