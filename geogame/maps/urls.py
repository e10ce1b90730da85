from django.urls import path

from . import basemap_views, build_views

urlpatterns = [
    path("api/basemap/cities.json", basemap_views.city_labels, name="basemap-cities"),
    path("api/basemap/lakes.json", basemap_views.lakes, name="basemap-lakes"),
    path("api/basemap/admin1.json", basemap_views.admin1_lines, name="basemap-admin1"),
    path("builds/", build_views.map_builds, name="map-builds"),
    path("builds/<int:build_id>/resume/", build_views.map_build_resume, name="map-build-resume"),
    path("api/builds/", build_views.map_builds_status, name="api-map-builds"),
]
