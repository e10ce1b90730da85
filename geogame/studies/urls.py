from django.urls import path

from . import views

urlpatterns = [
    path("study/<str:token>/", views.study_join, name="study-join"),
    path("study/p/<uuid:public_id>/", views.study_play, name="study-play"),
    path("study/p/<uuid:public_id>/done/", views.study_done, name="study-done"),
    path("study/p/<uuid:public_id>/withdraw/", views.study_withdraw, name="study-withdraw"),
    path("api/study/p/<uuid:public_id>/", views.api_study_state, name="api-study-state"),
    path("api/study/p/<uuid:public_id>/next/", views.api_study_next, name="api-study-next"),
    path(
        "api/study/p/<uuid:public_id>/trials/<int:index>/guess/",
        views.api_study_guess,
        name="api-study-guess",
    ),
    path("staff/studies/", views.staff_studies, name="staff-studies"),
    path("staff/studies/<slug:slug>/", views.staff_study, name="staff-study"),
    path(
        "staff/studies/<slug:slug>/export.<str:fmt>",
        views.staff_study_export,
        name="staff-study-export",
    ),
    path(
        "staff/studies/<slug:slug>/withdraw/",
        views.staff_participant_delete,
        name="staff-study-withdraw",
    ),
]
