"""The site's URLs: each area's own, under the paths they always had."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("geogame.game.urls")),
    path("", include("inference.urls")),
    path("", include("geogame.benchmarks.urls")),
    path("", include("geogame.privacy.urls")),
    path("", include("geogame.duels.urls")),
    path("", include("geogame.maps.urls")),
    path("", include("geogame.studies.urls")),
    path("", include("geogame.accounts.urls")),
    path("", include("geogame.challenges.urls")),
    path("", include("geogame.leaderboards.urls")),
    path("", include("geogame.streaks.urls")),
    path("", include("geogame.bots.urls")),
    path("admin/", admin.site.urls),
]
