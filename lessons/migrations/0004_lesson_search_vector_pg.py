"""PostgreSQL only: a stored, GIN-indexed tsvector of each lesson (title A, headings B, body C).

Search used to build the vectors of every lesson on every query (about 90 % of a search's time
under load). A generated column keeps them up to date without the ORM knowing about it (Django
never writes it); SQLite keeps its FTS5 table (lessons/search.py) and gets nothing here.
"""

from django.db import migrations

VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(headings, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(plain_text, '')), 'C')"
)


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE lessons_lesson ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({VECTOR}) STORED"
    )
    schema_editor.execute(
        "CREATE INDEX lessons_lesson_search_vector ON lessons_lesson USING GIN (search_vector)"
    )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS lessons_lesson_search_vector")
    schema_editor.execute("ALTER TABLE lessons_lesson DROP COLUMN IF EXISTS search_vector")


class Migration(migrations.Migration):
    dependencies = [("lessons", "0003_bankquestion_quizspec_updated_at")]
    operations = [migrations.RunPython(add, remove)]
