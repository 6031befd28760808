"""Top-level URLs: each app brings its own URLconf."""

from django.urls import include, path

urlpatterns = [
    path("", include("fairdesk.cases.urls")),
    path("insights/", include("fairdesk.insights.urls")),
    path("", include("fairdesk.followthrough.urls")),
    path("failed-events/", include("fairdesk.inbound.urls")),
    path("webhooks/", include("fairdesk.connectors.urls")),
    path("settings/channels/", include("fairdesk.connectors.settings_urls")),
    path("contact/", include("fairdesk.connectors.webform.urls")),
    path("", include("fairdesk.connectors.phone.urls")),
    path("portal/", include("fairdesk.portal.urls")),
    path("", include("fairdesk.knowledge.urls")),
    path("", include("fairdesk.routing.urls")),
    path("", include("fairdesk.workspaces.urls")),
    path("", include("fairdesk.api_urls")),
]
