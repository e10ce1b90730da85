from django.urls import path

from . import views

urlpatterns = [
    path("streaks/", views.streaks_home, name="streaks"),
    path("streaks/board/", views.streak_board, name="streak-boards"),
    path("streaks/board/<slug:slug>/", views.streak_board, name="streak-board"),
    path("streaks/<uuid:streak_id>/", views.streak_play, name="streak-play"),
    path("api/streaks/<uuid:streak_id>/", views.api_streak, name="api-streak"),
    path(
        "api/streaks/<uuid:streak_id>/rounds/<int:index>/guess/",
        views.api_streak_guess,
        name="api-streak-guess",
    ),
    path("streak-img/<str:image_key>/<int:index>.jpg", views.streak_image, name="streak-image"),
    path("streak-img/<str:image_key>/<int:index>/thumb.jpg", views.streak_thumb, name="streak-thumb"),
]
