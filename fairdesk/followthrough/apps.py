from django.apps import AppConfig


class FollowthroughConfig(AppConfig):
    name = "fairdesk.followthrough"
    default_auto_field = "django.db.models.BigAutoField"
