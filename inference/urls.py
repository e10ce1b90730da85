from django.urls import path

from . import privacy_views, views

urlpatterns = [
    path("maps/<slug:slug>/players/", views.map_players, name="map-players"),
    path("api/maps/<slug:slug>/players/", views.map_players_status, name="api-map-players"),
    path("benchmarks/", views.benchmark_list, name="benchmark-list"),
    path("benchmarks/<uuid:public_id>/", views.benchmark_report, name="benchmark-report"),
    path("benchmarks/<uuid:public_id>/files/<str:name>", views.benchmark_file, name="benchmark-file"),
    path("privacy/", privacy_views.privacy_page, name="privacy"),
    path("api/privacy/", privacy_views.api_privacy, name="api-privacy"),
]
