from django.urls import path

from . import views

app_name = "portal"
urlpatterns = [
    path("<str:token>/", views.contact_form, name="contact_form"),
    path("<str:token>/thanks/", views.contact_form_thanks, name="contact_form_thanks"),
]
