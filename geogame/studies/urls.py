from django.urls import path

from . import views

# A participant's addresses hold their resume token (a secret), never the id they report.
urlpatterns = [
    path("study/<str:token>/", views.study_join, name="study-join"),
    path("study/r/<str:token>/", views.study_play, name="study-play"),
    path("study/r/<str:token>/test/", views.study_test_start, name="study-test-start"),
    path("study/r/<str:token>/done/", views.study_done, name="study-done"),
    path("study/r/<str:token>/withdraw/", views.study_withdraw, name="study-withdraw"),
    path("api/study/r/<str:token>/", views.api_study_state, name="api-study-state"),
    path("api/study/r/<str:token>/next/", views.api_study_next, name="api-study-next"),
    path(
        "api/study/r/<str:token>/trials/<int:index>/guess/",
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
    path("staff/studies/<slug:slug>/status/", views.staff_study_status, name="staff-study-status"),
    path(
        "staff/studies/<slug:slug>/withdraw/",
        views.staff_participant_delete,
        name="staff-study-withdraw",
    ),
]
