from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "settle.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox processor"
