from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "fairdesk.replies"
    default_auto_field = "django.db.models.BigAutoField"
