from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "settle.invoicing"
    label = "invoicing"
