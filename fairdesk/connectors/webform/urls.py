"""Public URLs of the web form, by the channel's public uuid (mounted at ``/contact/``)."""

from django.urls import URLPattern, path

from fairdesk.connectors.webform import views

urlpatterns: list[URLPattern] = [
    path("<uuid:channel_id>/", views.contact, name="webform"),
    path(
        "<uuid:channel_id>/thanks/<uuid:submission_id>/",
        views.thanks,
        name="webform-thanks",
    ),
]
