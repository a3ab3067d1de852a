from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "settle.core"
    label = "core"
