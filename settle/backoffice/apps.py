from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "settle.backoffice"
    label = "backoffice"
