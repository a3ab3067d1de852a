from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "settle.portal"
    label = "portal"
