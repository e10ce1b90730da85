from django.urls import path

from . import views

urlpatterns = [
    path("duels/", views.duel_lobby, name="duel-lobby"),
    path("duels/<uuid:duel_id>/", views.duel_page, name="duel"),
    path("duels/join/<str:token>/", views.duel_join, name="duel-join"),
]
