"""Markdown -> sanitised HTML at load time (Python-Markdown, Pygments, nh3)."""

from __future__ import annotations

import html as html_lib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

CHECK_RE = re.compile(r"^\[\[check:\s*([a-z0-9][a-z0-9_.-]*)\s*\]\]\s*$")
CHECK_ANY_RE = re.compile(r"\[\[check:\s*([^\]]*?)\s*\]\]")
MERMAID_TOKEN = "MERMAIDDIAGRAM{}END"
FENCE_RE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
LINK_RE = re.compile(r"(!?)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")

# ids the lesson page itself uses; a heading or attribute in a lesson must not take them
RESERVED_IDS = frozenset(
    {
        "main",
        "site-nav",
        "site-search",
        "course-progress",
        "course-progress-wrap",
        "complete-box",
        "mark-complete",
        "lesson-end",
        "toc-h",
        "objectives-h",
    }
)

TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ATTRIBUTES = {
    "*": {"class", "id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "loading"},
    "td": {"style", "colspan", "rowspan"},
    "th": {"style", "colspan", "rowspan", "scope"},
    "ol": {"start"},
}


def sanitise(html: str) -> str:
    """The allow-list: no scripts, no event handlers, only http(s)/mailto/relative URLs."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        clean_content_tags={"script", "style"},
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        link_rel="noopener",
    )


@dataclass
class Rendered:
    html: str
    toc: list[dict]  # flat: [{id, name, level}]
    anchors: set[str]
    checks: list[str]
    has_mermaid: bool
    plain_text: str = ""
    headings: str = ""
    unresolved: list[str] = field(default_factory=list)


class _LinkRewriter(Treeprocessor):
    def __init__(self, md, resolve: Callable[[str, bool], str | None]):
        super().__init__(md)
        self.resolve = resolve

    def run(self, root: ET.Element) -> None:
        for el in root.iter():
            attr = "href" if el.tag == "a" else "src" if el.tag == "img" else None
            if attr and el.get(attr):
                new = self.resolve(el.get(attr), el.tag == "img")
                if new is not None:
                    el.set(attr, new)
            if el.tag == "img":
                el.set("loading", "lazy")


class _LinkExtension(Extension):
    def __init__(self, resolve):
        super().__init__()
        self.resolve = resolve

    def extendMarkdown(self, md):  # noqa: N802 (Markdown API)
        md.treeprocessors.register(_LinkRewriter(md, self.resolve), "decoupled_links", 1)


def _extract_mermaid(text: str) -> tuple[str, list[str]]:
    """Take ```mermaid fences out before Markdown sees them."""
    out: list[str] = []
    diagrams: list[str] = []
    lines = text.split("\n")
    i = 0
    in_fence: str | None = None
    while i < len(lines):
        line = lines[i]
        m = FENCE_RE.match(line)
        if in_fence is None and m and m.group("lang") == "mermaid":
            fence = m.group("fence")
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            diagrams.append("\n".join(body))
            out += ["", MERMAID_TOKEN.format(len(diagrams) - 1), ""]
            i += 1
            continue
        if m:
            if in_fence is None:
                in_fence = m.group("fence")
            elif line.strip().startswith(in_fence) and not m.group("lang"):
                in_fence = None
        out.append(line)
        i += 1
    return "\n".join(out), diagrams


def outside_code(text: str):
    """Yield (line number from 1, line) for lines outside fenced code blocks."""
    fence: str | None = None
    for n, line in enumerate(text.split("\n"), 1):
        m = FENCE_RE.match(line)
        if m:
            if fence is None:
                fence = m.group("fence")
                continue
            if line.strip().startswith(fence) and not m.group("lang"):
                fence = None
                continue
        if fence is None:
            yield n, line


def check_placeholder(qid: str) -> str:
    return f'<div class="check-yourself" data-check="{qid}" id="check-{qid}"></div>'


def _flatten(tokens: list[dict], out: list[dict]) -> list[dict]:
    for t in tokens:
        out.append({"id": t["id"], "name": html_lib.unescape(t["name"]), "level": t["level"]})
        _flatten(t.get("children", []), out)
    return out


def new_markdown(resolve: Callable[[str, bool], str | None] | None = None) -> markdown.Markdown:
    ext: list = [
        "toc",
        "fenced_code",
        "codehilite",
        "tables",
        "admonition",
        "footnotes",
        "attr_list",
        "def_list",
        "sane_lists",
    ]
    if resolve is not None:
        ext.append(_LinkExtension(resolve))
    return markdown.Markdown(
        extensions=ext,
        extension_configs={
            "toc": {
                "permalink": "#",
                "permalink_title": "Link to this section",
                "toc_depth": "2-3",
            },
            "codehilite": {"css_class": "highlight", "guess_lang": False},
        },
        output_format="html",
    )


TAG_RE = re.compile(r"<[^>]+>")
BLOCK_END_RE = re.compile(
    r"</(?:p|li|h[1-6]|div|pre|td|th|tr|dt|dd|blockquote|table|ul|ol)>|<br\s*/?>|\n"
)


def render(text: str, resolve: Callable[[str, bool], str | None] | None = None) -> Rendered:
    source, diagrams = _extract_mermaid(text)
    checks = [m.group(1) for _, line in outside_code(source) if (m := CHECK_RE.match(line.strip()))]
    md = new_markdown(resolve)
    raw = md.convert(source)
    toc = _flatten(getattr(md, "toc_tokens", []), [])
    clean = sanitise(raw)

    def put_check(m: re.Match) -> str:
        return check_placeholder(m.group(1))

    clean = re.sub(r"<p>\[\[check:\s*([a-z0-9][a-z0-9_.-]*)\s*\]\]</p>", put_check, clean)
    for i, diagram in enumerate(diagrams):
        clean = clean.replace(
            f"<p>{MERMAID_TOKEN.format(i)}</p>",
            f'<pre class="mermaid">{html_lib.escape(diagram)}</pre>',
        )
    anchors = set(re.findall(r'\bid="([^"]+)"', clean))
    text = re.sub(r'<a class="headerlink".*?</a>', "", clean)
    text = BLOCK_END_RE.sub(" ", text)  # block boundaries separate words; inline tags do not
    plain = html_lib.unescape(TAG_RE.sub("", text))
    return Rendered(
        html=clean,
        toc=toc,
        anchors=anchors,
        checks=checks,
        has_mermaid=bool(diagrams),
        plain_text=re.sub(r"\s+", " ", plain).strip(),
        headings=" ".join(t["name"] for t in toc),
    )


def render_simple(text: str) -> str:
    """Markdown for question text, lab briefs and the like: same pipeline, no links rewriting."""
    return render(text or "").html
