from django.urls import path

from . import views

urlpatterns = [
    path("maps/<slug:slug>/players/", views.map_players, name="map-players"),
    path("api/maps/<slug:slug>/players/", views.map_players_status, name="api-map-players"),
]
