// DOM helpers shared by the lab visualisers (plain ES module, no dependencies).

export const SVG_NS = "http://www.w3.org/2000/svg";

// An HTML element: attributes that are null, undefined or false are left out, `true` sets a
// boolean attribute, `class` sets the class name, `on<event>` adds a listener; null and
// undefined children are skipped.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// An SVG element with its attributes and children.
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

// Simulated milliseconds as seconds with one decimal.
export const fmtT = (ms) => `${(ms / 1000).toFixed(1)} s`;
