from django.urls import path

from . import views

urlpatterns = [
    path("challenges/from/<uuid:game_id>/", views.challenge_from_game, name="challenge-from-game"),
    path("challenges/<str:challenge_id>/", views.challenge_page, name="challenge"),
    path("challenges/<str:challenge_id>/play/", views.challenge_play, name="challenge-play"),
    path("daily/", views.daily_home, name="daily"),
    path("daily/archive/", views.daily_archive, name="daily-archive"),
    path("daily/<slug:slug>/play/", views.daily_play, name="daily-play"),
    path("daily/<slug:slug>/<str:day>/", views.daily_board, name="daily-board"),
]
