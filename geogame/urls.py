from django.contrib import admin
from django.urls import include, path

from . import views
from .build_views import map_build_resume, map_builds, map_builds_status
from .duel_views import duel_join, duel_lobby, duel_page

urlpatterns = [
    path("", views.home, name="home"),
    path("play/<uuid:game_id>/", views.play, name="play"),
    path("games/<uuid:game_id>/summary/", views.summary, name="game-summary"),
    path("api/games/<uuid:game_id>/", views.api_game_state, name="api-game"),
    path("api/games/<uuid:game_id>/next/", views.api_next_round, name="api-next-round"),
    path("api/games/<uuid:game_id>/rounds/<int:index>/guess/", views.api_guess, name="api-guess"),
    path("img/<str:image_key>/<int:index>.jpg", views.view_image, name="view-image"),
    path("img/<str:image_key>/<int:index>/thumb.jpg", views.view_thumb, name="view-thumb"),
    path("", include("inference.urls")),
    path("duels/", duel_lobby, name="duel-lobby"),
    path("duels/<uuid:duel_id>/", duel_page, name="duel"),
    path("duels/join/<str:token>/", duel_join, name="duel-join"),
    path("builds/", map_builds, name="map-builds"),
    path("builds/<int:build_id>/resume/", map_build_resume, name="map-build-resume"),
    path("api/builds/", map_builds_status, name="api-map-builds"),
    path("admin/", admin.site.urls),
]
