"""Full-text search over published lessons: SQLite FTS5 by default, PostgreSQL full-text on
PostgreSQL, behind `search(query, limit)`. Title hits outrank headings, headings outrank body."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.db import connection

TABLE = "lessons_search"
WORD_RE = re.compile(r"\w+", re.UNICODE)
START, END = "\x02", "\x03"


@dataclass
class Hit:
    lesson_id: int
    title: str
    url: str
    module: str
    snippet: str  # safe HTML with <mark>
    title_html: str
    rank: float


def _pg() -> bool:
    return connection.vendor == "postgresql"


def rebuild() -> None:
    """Refresh the index from published lessons (load_site calls it inside its transaction)."""
    if _pg():
        return  # PostgreSQL ranks straight from the lesson columns
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
            "title, headings, body, lesson_id UNINDEXED, tokenize='porter unicode61')"
        )
        cur.execute(f"DELETE FROM {TABLE}")
        cur.execute(
            f"INSERT INTO {TABLE} (title, headings, body, lesson_id) "
            "SELECT title, headings, plain_text, id FROM lessons_lesson WHERE published"
        )


def _mark(text: str) -> str:
    return html.escape(text).replace(START, "<mark>").replace(END, "</mark>")


def search(query: str, limit: int = 20) -> list[Hit]:
    words = WORD_RE.findall(query or "")[:8]
    if not words:
        return []
    from .models import Lesson

    if _pg():
        return _search_pg(words, limit)
    match = " ".join(f'"{w}"*' for w in words)
    sql = (
        f"SELECT lesson_id, snippet({TABLE}, 2, %s, %s, '…', 14), "
        f"highlight({TABLE}, 0, %s, %s), bm25({TABLE}, 10.0, 4.0, 1.0) AS r "
        f"FROM {TABLE} WHERE {TABLE} MATCH %s ORDER BY r LIMIT %s"
    )
    try:
        with connection.cursor() as cur:
            cur.execute(sql, [START, END, START, END, match, limit])
            rows = cur.fetchall()
    except Exception:  # no index yet (site not loaded) or a query FTS5 refuses
        return []
    lessons = Lesson.objects.select_related("course", "module").in_bulk([r[0] for r in rows])
    hits = []
    for lid, snip, title, rank in rows:
        lesson = lessons.get(int(lid))
        if lesson is None or not lesson.published:
            continue
        hits.append(
            Hit(
                lesson.pk,
                lesson.title,
                lesson.get_absolute_url(),
                lesson.module.title,
                _mark(snip),
                _mark(title),
                rank,
            )
        )
    return hits


def _search_pg(words: list[str], limit: int) -> list[Hit]:  # pragma: no cover (PostgreSQL only)
    """Rank on the stored, GIN-indexed `search_vector` (migration 0004), then build headlines
    for the shown hits only: ts_headline re-parses a lesson's text, so it is the costly part."""
    from django.contrib.postgres.search import SearchHeadline, SearchQuery
    from django.db.models import BooleanField, FloatField
    from django.db.models.expressions import RawSQL

    from .models import Lesson

    terms = " & ".join(f"{w}:*" for w in words)
    q = SearchQuery(terms, search_type="raw", config="english")
    ranked = list(
        Lesson.objects.filter(published=True)
        .alias(
            matched=RawSQL(
                "search_vector @@ to_tsquery('english', %s)", [terms], output_field=BooleanField()
            )
        )
        .filter(matched=True)
        .annotate(
            rank=RawSQL(
                "ts_rank(search_vector, to_tsquery('english', %s))",
                [terms],
                output_field=FloatField(),
            )
        )
        .order_by("-rank", "position")
        .values_list("pk", "rank")[:limit]
    )
    if not ranked:
        return []
    rows = (
        Lesson.objects.filter(pk__in=[pk for pk, _rank in ranked])
        .select_related("course", "module")
        .annotate(
            snip=SearchHeadline(
                "plain_text",
                q,
                config="english",
                start_sel=START,
                stop_sel=END,
                max_words=30,
                min_words=10,
            ),
            title_snip=SearchHeadline(
                "title", q, config="english", start_sel=START, stop_sel=END, highlight_all=True
            ),
        )
        .in_bulk()
    )
    return [
        Hit(
            pk,
            rows[pk].title,
            rows[pk].get_absolute_url(),
            rows[pk].module.title,
            _mark(rows[pk].snip),
            _mark(rows[pk].title_snip),
            rank,
        )
        for pk, rank in ranked
        if pk in rows
    ]
