"""Notifications and To-Dos."""

from django.urls import path

from .views import notifications

urlpatterns = [
    path("notifications/", notifications.notification_list, name="notification_list"),
    path("notifications/read/", notifications.notifications_read_all, name="notifications_read_all"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification_read"),
    path("notifications/<int:pk>/done/", notifications.notification_done, name="notification_done"),
]
