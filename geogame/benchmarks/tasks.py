"""Benchmark tasks: rebuilding a report after a participant withdrew."""

import logging

from celery import shared_task

from geogame.common.background import RETRY_ON_DATABASE_ERRORS

log = logging.getLogger(__name__)


# runs_model: machine players may load torch (geogame.common.background keeps that out of the web process).
@shared_task(
    name="geogame.benchmark_rebuild",
    acks_late=True,
    runs_model=True,
    ignore_result=True,
    # A benchmark runs every player over the study's test locations (bots play timed rounds).
    soft_time_limit=1800,
    time_limit=1860,
    **RETRY_ON_DATABASE_ERRORS,
)
def benchmark_rebuild(report_id):
    """Rebuild a superseded report by id. Idempotent: a report already rebuilt (or gone) is left
    alone, and a build overtaken by another withdrawal is dropped (geogame.benchmarks.report)."""
    from .report import BenchmarkError, report_rebuild

    try:
        report = report_rebuild(report_id=report_id)
    except BenchmarkError as exc:  # the study's locations are gone, say: it stays marked superseded
        log.warning("benchmark report %s not rebuilt: %s", report_id, exc)
        return None
    return report and str(report.public_id)
