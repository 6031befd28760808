from django.urls import URLPattern, path

from fairdesk.connectors.x import views as x_views

app_name = "connectors"

urlpatterns: list[URLPattern] = [
    path("x/<uuid:channel_id>/", x_views.webhook, name="x-webhook"),
]
