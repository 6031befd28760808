from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "fairdesk.contacts"
    default_auto_field = "django.db.models.BigAutoField"
