"""Large exports run here; the page polls the Export row for progress and a download link."""

from __future__ import annotations

from celery import shared_task

from classroom.exports import BUILDERS
from classroom.models import Export


@shared_task(name="classroom.build_export")
def build_export(export_id: int) -> str:
    export = Export.objects.select_related("cohort__course").get(pk=export_id)
    Export.objects.filter(pk=export_id).update(status="running", progress=1)

    def progress(fraction: float) -> None:
        Export.objects.filter(pk=export_id).update(progress=max(1, min(99, int(fraction * 100))))

    try:
        _, _, build = BUILDERS[export.kind]
        content = build(export.cohort, progress)
    except Exception as exc:
        Export.objects.filter(pk=export_id).update(status="failed", error=str(exc)[:500])
        raise
    Export.objects.filter(pk=export_id).update(status="done", progress=100, content=content)
    return "done"
