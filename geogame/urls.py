from django.contrib import admin
from django.urls import include, path

from . import study_views, views
from .build_views import map_build_resume, map_builds, map_builds_status
from .duel_views import duel_join, duel_lobby, duel_page

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
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
    path("study/<str:token>/", study_views.study_join, name="study-join"),
    path("study/p/<uuid:public_id>/", study_views.study_play, name="study-play"),
    path("study/p/<uuid:public_id>/done/", study_views.study_done, name="study-done"),
    path("study/p/<uuid:public_id>/withdraw/", study_views.study_withdraw, name="study-withdraw"),
    path("api/study/p/<uuid:public_id>/", study_views.api_study_state, name="api-study-state"),
    path("api/study/p/<uuid:public_id>/next/", study_views.api_study_next, name="api-study-next"),
    path(
        "api/study/p/<uuid:public_id>/trials/<int:index>/guess/",
        study_views.api_study_guess,
        name="api-study-guess",
    ),
    path("staff/studies/", study_views.staff_studies, name="staff-studies"),
    path("staff/studies/<slug:slug>/", study_views.staff_study, name="staff-study"),
    path(
        "staff/studies/<slug:slug>/export.<str:fmt>",
        study_views.staff_study_export,
        name="staff-study-export",
    ),
    path(
        "staff/studies/<slug:slug>/withdraw/",
        study_views.staff_participant_delete,
        name="staff-study-withdraw",
    ),
    path("admin/", admin.site.urls),
]
