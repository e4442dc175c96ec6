"""The signed-in person's own account (``/api/v1/auth/user/``, ``/api/v1/auth/password/change/``).

dj-rest-auth's views, refusing API keys: a key is an integration's credential, not a person, so it
has no profile to read or change and no password (403, not a crash on a principal that is no user).
"""

from __future__ import annotations

from typing import Any

from dj_rest_auth.views import PasswordChangeView, UserDetailsView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request

from apps.governance.authentication import ApiKeyPrincipal


class IsPerson(BasePermission):
    message = "An API key has no user account; sign in as a person to use this route."

    def has_permission(self, request: Request, view: Any) -> bool:
        return not isinstance(request.user, ApiKeyPrincipal)


class AccountView(UserDetailsView):
    permission_classes = (IsAuthenticated, IsPerson)


class AccountPasswordChangeView(PasswordChangeView):
    permission_classes = (IsAuthenticated, IsPerson)
