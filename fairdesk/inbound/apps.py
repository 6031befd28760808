from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "fairdesk.inbound"
    default_auto_field = "django.db.models.BigAutoField"
