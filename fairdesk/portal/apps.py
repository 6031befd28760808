from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "fairdesk.portal"
    default_auto_field = "django.db.models.BigAutoField"
