from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Benchmark reports: humans and machine players on the same test locations."""

    name = "geogame.benchmarks"
    label = "benchmarks"
