"""A participant's withdrawal reaches the benchmark reports made before it: at once their row and
answers leave the report's data and files (participants.csv, answers.csv, report.json) and the
report is marked superseded, since its human figures were computed with them; then, after the
withdrawal commits, a rebuild of each such report is queued (the `geogame.benchmark_rebuild` task,
geogame.benchmarks.report.report_rebuild), which recomputes it without them and clears the mark.
Imports no model code: runs in the web process."""

import csv
import io
import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from geogame.common import background

from .models import BenchmarkReport, report_upload_to

SUPERSEDED_REASON = (
    "A participant withdrew after this report was made: their rows were removed from its tables and "
    "files, but its human figures still include their answers until the report is rebuilt without them "
    "(queued; or run `manage.py benchmark --study {slug}`)."
)


def _path(report, name):
    return Path(settings.MEDIA_ROOT) / report_upload_to(report, name)


def _strip_csv(path, public_id):
    """Drop the rows whose `participant` column is `public_id`; True if any was dropped. The kept
    cells are written back as read (they were made spreadsheet-safe when first written)."""
    if not path.is_file():
        return False
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or "participant" not in rows[0]:
        return False
    column = rows[0].index("participant")
    kept = [rows[0]] + [r for r in rows[1:] if len(r) <= column or r[column] != public_id]
    if len(kept) == len(rows):
        return False
    buf = io.StringIO()
    csv.writer(buf).writerows(kept)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return True


def report_strip_participant(report, public_id, now=None):
    """Remove one participant from a report; True if the report held them."""
    data = report.data
    rows = data.get("participants", [])
    kept = [r for r in rows if r.get("participant") != public_id]
    held = len(kept) != len(rows)
    data["participants"] = kept
    for name in report.files:
        if name.endswith(".csv"):
            held = _strip_csv(_path(report, name), public_id) or held
    if not held:
        return False
    reason = SUPERSEDED_REASON.format(slug=report.study.slug if report.study_id else "SLUG")
    if reason not in data.setdefault("notes", []):
        data["notes"].append(reason)
    report.superseded_at = report.superseded_at or now or timezone.now()
    report.superseded_reason = reason
    report.withdrawn_since = (report.withdrawn_since or 0) + 1
    if "report.json" in report.files and _path(report, "report.json").is_file():
        body = {"id": str(report.public_id), **data, "provenance": report.provenance}
        body["superseded_at"] = report.superseded_at.isoformat()
        _path(report, "report.json").write_text(json.dumps(body, indent=1))
    report.save(update_fields=["data", "superseded_at", "superseded_reason", "withdrawn_since"])
    return True


def on_participant_withdrawn(sender, *, study, public_id, **kwargs):
    with transaction.atomic():
        for report in BenchmarkReport.objects.select_for_update().filter(study_id=study.id):
            if report_strip_participant(report, public_id):
                background.enqueue("geogame.benchmark_rebuild", report.id)  # after the commit
