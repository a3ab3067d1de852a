from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "settle.tenants"
    label = "tenants"

    def ready(self) -> None:
        from . import signals  # noqa: F401  # connects the sign-in receiver
