"""The one base for tenant API views: tenant and permissions are resolved before the handler runs.

Subclasses may not override ``get_queryset`` / ``get_object`` (checked at class creation); the
queryset comes from ``queryset`` (or ``dangerously_get_queryset`` for a reviewed exception), always
in the tenant schema of the request host. Permissions are Django model permissions carried by the
Admin/Analyst groups: reads need ``view_*``, writes ``add/change/delete_*``, and custom actions name
their permission in ``action_permissions``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import permissions, viewsets
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.actor import Actor
from apps.core.errors import TenantRequired
from apps.core.tenant_context import require_tenant

_SAFE = {"GET", "HEAD", "OPTIONS"}
_METHOD_ACTION = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


def actor_of(request: Request) -> Actor:
    """Who did it, for services' ``actor``: the signed-in user, or the API key (by its prefix)."""
    return Actor.for_user(request.user)


def model_perm(model: type[Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


class RolePermission(permissions.BasePermission):
    """Fails closed: a view with neither a model nor an explicit permission refuses everyone."""

    def has_permission(self, request: Request, view: Any) -> bool:
        perm = view.required_permission(request)
        if perm is None:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(perm))


class _TenantGuard:
    forbidden_overrides: ClassVar[tuple[str, ...]] = ("get_queryset", "get_object")
    # {"POST": "app.perm"} for plain views; {"action_name": "app.perm"} for viewset actions.
    action_permissions: ClassVar[dict[str, str | None]] = {}
    permission_classes: Any = [permissions.IsAuthenticated, RolePermission]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_kiki_base", False):
            return
        for name in cls.forbidden_overrides:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name}(); tenant views get their rows from `queryset` "
                    f"(or `dangerously_get_queryset` after review), never a custom {name}()."
                )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            require_tenant("the tenant API")
        except TenantRequired as exc:
            raise NotFound("No workspace at this address.") from exc
        method = (request.method or "GET").lower()
        if method != "options" and not hasattr(self, method):
            raise MethodNotAllowed(request.method or "")  # 405 before any permission check
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def required_permission(self, request: Request) -> str | None:
        action = getattr(self, "action", None)
        if action and action in self.action_permissions:
            return self.action_permissions[action]
        if request.method in self.action_permissions:
            return self.action_permissions[request.method or "GET"]
        queryset = getattr(self, "queryset", None)
        if queryset is not None:
            return model_perm(queryset.model, _METHOD_ACTION.get(request.method or "GET", "change"))
        # No model and no explicit rule: only safe methods for any signed-in user, never writes.
        return None if request.method in _SAFE else "core.__no_such_permission__"


class TenantAPIView(_TenantGuard, APIView):
    """Plain endpoints (actions, reports) of the tenant API."""


class TenantViewSet(_TenantGuard, viewsets.GenericViewSet):
    """Model endpoints of the tenant API."""

    _kiki_base = True

    def get_queryset(self) -> QuerySet[Any]:
        require_tenant("the tenant API")
        bypass = getattr(self, "dangerously_get_queryset", None)
        if bypass is not None:
            return bypass()
        if self.queryset is None:
            raise TypeError(f"{type(self).__name__} needs a queryset")
        return self.queryset.all()
