from django.urls import path

from . import views

urlpatterns = [
    path("privacy/", views.privacy_page, name="privacy"),
    path("api/privacy/", views.api_privacy, name="api-privacy"),
]
