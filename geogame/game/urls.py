from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("machines/", views.machines_how, name="machines-how"),
    path("play/<uuid:game_id>/", views.play, name="play"),
    path("games/<uuid:game_id>/summary/", views.summary, name="game-summary"),
    path("api/games/<uuid:game_id>/", views.api_game_state, name="api-game"),
    path("api/games/<uuid:game_id>/next/", views.api_next_round, name="api-next-round"),
    path("api/games/<uuid:game_id>/rounds/<int:index>/guess/", views.api_guess, name="api-guess"),
    path("img/<str:image_key>/<int:index>.jpg", views.view_image, name="view-image"),
    path("img/<str:image_key>/<int:index>/thumb.jpg", views.view_thumb, name="view-thumb"),
    path("img/<str:image_key>/pano.jpg", views.view_panorama, name="view-panorama"),
]
