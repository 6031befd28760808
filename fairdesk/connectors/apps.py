from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "fairdesk.connectors"
    default_auto_field = "django.db.models.BigAutoField"
