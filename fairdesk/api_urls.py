"""The API (``/api/v1/``, schema at ``/api/v1/openapi.json``) and the health check."""

from django.urls import path

from fairdesk.api import api
from fairdesk.health import healthz

urlpatterns = [
    path("api/v1/", api.urls),
    path("healthz", healthz, name="healthz"),
]
