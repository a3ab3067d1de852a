"""People pages: dashboard, customers and their contacts, settings, merchant switching."""

from django.urls import path

from .views import customers, dashboard, profile_requests, saved_methods, secure_links, settings

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("switch/<int:merchant_id>/", dashboard.switch_merchant, name="switch_merchant"),
    path("customers/", customers.customer_list, name="customer_list"),
    path("customers/new/", customers.customer_new, name="customer_new"),
    path("customers/<int:pk>/", customers.customer_detail, name="customer_detail"),
    path("customers/<int:pk>/edit/", customers.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/contacts/new/", customers.contact_new, name="contact_new"),
    path("customers/<int:pk>/contacts/<int:contact_pk>/", customers.contact_edit, name="contact_edit"),
    path("customers/<int:pk>/contacts/<int:contact_pk>/revoke/", customers.contact_revoke, name="contact_revoke"),
    path("customers/<int:pk>/references/", customers.external_reference_new, name="external_reference_new"),
    path(
        "customers/<int:pk>/payment-method-request/",
        profile_requests.payment_profile_request,
        name="payment_profile_request",
    ),
    path(
        "customers/<int:pk>/payment-methods/<int:method_pk>/default/",
        saved_methods.saved_method_default,
        name="saved_method_default",
    ),
    path(
        "customers/<int:pk>/payment-methods/<int:method_pk>/remove/",
        saved_methods.saved_method_remove,
        name="saved_method_remove",
    ),
    path("customers/<int:pk>/links/", secure_links.customer_links, name="customer_links"),
    path(
        "customers/<int:pk>/links/<int:link_pk>/revoke/",
        secure_links.secure_link_revoke,
        name="secure_link_revoke",
    ),
    path("settings/", settings.merchant_settings, name="settings"),
    path("settings/contact-profiles/", settings.contact_profiles, name="contact_profiles"),
    path("settings/contact-profiles/<int:pk>/", settings.contact_profile_edit, name="contact_profile_edit"),
    path("settings/staff/", settings.staff, name="staff"),
]
