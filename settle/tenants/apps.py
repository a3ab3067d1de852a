from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "settle.tenants"
    label = "tenants"
