from django.urls import path

from . import views

urlpatterns = [
    path("api/bot/rounds/next", views.api_next_round, name="bot-next-round"),
    path("api/bot/rounds/<int:round_id>/guess", views.api_guess, name="bot-guess"),
    path("staff/bots/", views.staff_bots, name="staff-bots"),
    path("staff/bots/<slug:name>/revoke", views.staff_bot_revoke, name="staff-bot-revoke"),
]
