"""``/api/v1/auth/…``: dj-rest-auth's views on exact paths (its own urlconf matches any path that
merely ends in ``login``), with the account routes that refuse API keys."""

from dj_rest_auth.views import LoginView, LogoutView, PasswordResetConfirmView, PasswordResetView
from django.urls import path

from apps.governance.api.account import AccountPasswordChangeView, AccountView

urlpatterns = [
    path("login/", LoginView.as_view(), name="rest_login"),
    path("logout/", LogoutView.as_view(), name="rest_logout"),
    path("password/reset/", PasswordResetView.as_view(), name="rest_password_reset"),
    path("password/reset/confirm/", PasswordResetConfirmView.as_view(), name="rest_password_reset_confirm"),
    path("user/", AccountView.as_view(), name="rest_user_details"),
    path("password/change/", AccountPasswordChangeView.as_view(), name="rest_password_change"),
]
