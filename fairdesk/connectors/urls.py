from django.urls import URLPattern, path

from fairdesk.connectors.meta import views as meta_views
from fairdesk.connectors.x import views as x_views

app_name = "connectors"

urlpatterns: list[URLPattern] = [
    path("x/<uuid:channel_id>/", x_views.webhook, name="x-webhook"),
    path("meta/<uuid:channel_id>/", meta_views.webhook, name="meta-webhook"),
]
