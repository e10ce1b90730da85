from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Benchmark reports: humans and machine players on the same test locations."""

    name = "geogame.benchmarks"
    label = "benchmarks"

    def ready(self):
        from geogame.studies.services import participant_withdrawn

        from .withdrawal import on_participant_withdrawn

        participant_withdrawn.connect(on_participant_withdrawn, dispatch_uid="benchmarks-withdrawal")
