"""Template helpers for the quiz pages."""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@lru_cache(maxsize=4096)  # a pure function of the text; a quiz page renders ~100 snippets
def _render(text: str) -> str:
    try:
        from lessons.rendering import render_simple
    except ImportError:  # the lessons app's renderer is missing: a safe minimal pipeline
        import markdown
        import nh3

        return nh3.clean(markdown.markdown(text, extensions=["fenced_code", "tables"]))
    return render_simple(text)


@register.filter
def quiz_md(text: str | None) -> str:
    """Question Markdown as sanitised HTML."""
    return mark_safe(_render(text or ""))  # noqa: S308 - sanitised by the renderer


@register.filter
def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
