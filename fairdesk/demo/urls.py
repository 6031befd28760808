"""The demo's URLconf: the whole site plus the demo's page. ``fairdesk demo`` makes it
the root URLconf of its own process, so the page exists nowhere else."""

from django.urls import URLPattern, URLResolver, path

from fairdesk.demo import views
from fairdesk.demo.guide import PLATFORMS_PATH
from fairdesk.urls import urlpatterns as site

urlpatterns: list[URLPattern | URLResolver] = [
    path(PLATFORMS_PATH, views.platforms_received, name="demo-platforms"),
    *site,
]
