"""Message pages: the log, the local text outbox, templates."""

from django.urls import path

from .views import messaging

urlpatterns = [
    path("messages/", messaging.message_list, name="message_list"),
    path("messages/<int:pk>/", messaging.message_detail, name="message_detail"),
    path("messages/<int:pk>/retry/", messaging.message_retry, name="message_retry"),
    path("messages/texts/", messaging.message_sms_outbox, name="message_sms_outbox"),
    path("messages/templates/", messaging.message_templates, name="message_templates"),
    path("messages/templates/new/", messaging.message_template_new, name="message_template_new"),
    path("messages/templates/starters/", messaging.message_template_starters, name="message_template_starters"),
    path("messages/templates/<int:pk>/", messaging.message_template_edit, name="message_template_edit"),
    path("messages/templates/<int:pk>/delete/", messaging.message_template_delete, name="message_template_delete"),
    path("messages/templates/<int:pk>/test/", messaging.message_template_test, name="message_template_test"),
]
