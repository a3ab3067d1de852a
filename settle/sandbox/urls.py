from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("fields/card/", views.card_fields, name="card_fields"),
    path("fields/bank/", views.bank_fields, name="bank_fields"),
    path("wallet/", views.wallet_sheet, name="wallet_sheet"),
    path("bnpl/", views.bnpl_checkout, name="bnpl_checkout"),
    path("authenticate/<str:action_token>/", views.authenticate, name="authenticate"),
]
