from django.urls import path

from . import views

urlpatterns = [
    path("benchmarks/", views.benchmark_list, name="benchmark-list"),
    path("benchmarks/<uuid:public_id>/", views.benchmark_report, name="benchmark-report"),
    path("benchmarks/<uuid:public_id>/files/<str:name>", views.benchmark_file, name="benchmark-file"),
]
