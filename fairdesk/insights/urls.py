from django.urls import URLPattern, path

from fairdesk.insights import views

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="insights"),
]
