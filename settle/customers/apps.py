from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "settle.customers"
    label = "customers"
