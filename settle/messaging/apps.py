from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "settle.messaging"
    label = "messaging"
