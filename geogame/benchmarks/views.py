"""Staff pages for the benchmark reports."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from . import selectors


@staff_member_required
@require_GET
def benchmark_list(request):
    return render(request, "benchmarks/benchmarks.html", {"reports": selectors.benchmark_reports()})


@staff_member_required
@require_GET
def benchmark_report(request, public_id):
    report = get_object_or_404(selectors.benchmark_reports(), public_id=public_id)
    return render(request, "benchmarks/benchmark_report.html", selectors.benchmark_page(report))


@staff_member_required
@require_GET
def benchmark_file(request, public_id, name):
    report = get_object_or_404(selectors.benchmark_reports(), public_id=public_id)
    path = selectors.report_file(report, name)
    if path is None:
        raise Http404("no such file in this report")
    return FileResponse(open(path, "rb"), as_attachment=not name.endswith(".png"), filename=name)
