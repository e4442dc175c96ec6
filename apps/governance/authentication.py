"""API-key authentication for integrators: ``Authorization: Api-Key kiki_xxxx.yyyy`` (or ``X-Api-Key``)."""

from __future__ import annotations

import functools
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.governance.models import ApiKey
from apps.governance.roles import Role
from apps.governance.services import apikey_authenticate


class ApiKeyPrincipal:
    """The ``request.user`` of a key: holds exactly its role's permissions, nothing more."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.username = f"apikey:{key.prefix}"
        self.email = ""

    def __str__(self) -> str:
        return self.username

    @functools.cached_property
    def _perms(self) -> frozenset[str]:
        from django.contrib.auth.models import Permission

        group = Role(self.key.role).group_name
        rows = Permission.objects.filter(group__name=group).values_list("content_type__app_label", "codename")
        return frozenset(f"{app}.{code}" for app, code in rows)

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return perm in self._perms

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return all(self.has_perm(p) for p in perms)

    def get_all_permissions(self, obj: Any = None) -> frozenset[str]:
        return self._perms


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        presented = ""
        if header.startswith(f"{self.keyword} "):
            presented = header[len(self.keyword) + 1 :].strip()
        elif request.META.get("HTTP_X_API_KEY"):
            presented = request.META["HTTP_X_API_KEY"].strip()
        if not presented:
            return None
        key = apikey_authenticate(presented)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key for this workspace.")
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
