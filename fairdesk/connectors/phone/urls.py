"""Agent pages for phone calls (mounted at the site root, beside the case pages)."""

from django.urls import URLPattern, path

from fairdesk.connectors.phone import views

urlpatterns: list[URLPattern] = [
    path("cases/<uuid:public_id>/calls/", views.calls, name="case-calls"),
]
