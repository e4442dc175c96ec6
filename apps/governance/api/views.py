"""Governance API: who am I, users and roles, API keys, reports."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.base import TenantAPIView, TenantViewSet, actor_of
from apps.governance import services
from apps.governance.api import serializers as s
from apps.governance.authentication import ApiKeyPrincipal
from apps.governance.models import ApiKey, ReportRun
from apps.governance.tenancy.services import tenant_update_settings


class MeView(TenantAPIView):
    """The caller, its role and permissions, and the workspace it is in (any signed-in principal)."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        tenant = request.tenant  # type: ignore[attr-defined]
        user: Any = request.user
        role: str | None
        if isinstance(user, ApiKeyPrincipal):
            kind, role = "api_key", user.key.role
        else:
            kind = "user"
            r = services.user_role(user)
            role = r.value if r else None
        body = {
            "principal": user.username,
            "kind": kind,
            "role": role,
            "workspace": s.WorkspaceSerializer(tenant).data,
            "permissions": sorted(user.get_all_permissions()),
        }
        return Response(body)


class WorkspaceView(TenantAPIView):
    """This workspace's settings: any principal reads; changing them (dry-run included) is a policy
    change, for Admins."""

    action_permissions = {"PATCH": "governance.manage_policies"}

    @extend_schema(responses=s.WorkspaceSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.WorkspaceSerializer(request.tenant).data)  # type: ignore[attr-defined]

    @extend_schema(request=s.WorkspaceUpdateSerializer, responses=s.WorkspaceSerializer)
    def patch(self, request: Request) -> Response:
        data = s.WorkspaceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        with transaction.atomic():
            tenant = tenant_update_settings(
                tenant=request.tenant,  # type: ignore[attr-defined]
                actor=actor_of(request),
                name=v.get("name"),
                timezone_name=v.get("timezone"),
                currency=v.get("currency"),
            )
            # Dry run belongs to the policy: a change is a new policy version, with its reason (the
            # workspace's dry_run follows it).
            if "dry_run" in v and v["dry_run"] != services.policy_current().dry_run:
                services.policy_update(
                    actor=actor_of(request), reason=v.get("reason", ""), changes={"dry_run": v["dry_run"]}
                )
        return Response(s.WorkspaceSerializer(tenant).data)


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    queryset = get_user_model().objects.prefetch_related("groups").order_by("username")
    serializer_class = s.UserSerializer

    @extend_schema(request=s.UserCreateSerializer, responses={201: s.UserSerializer})
    def create(self, request: Request) -> Response:
        data = s.UserCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(actor=actor_of(request), **data.validated_data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.UserUpdateSerializer, responses=s.UserSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        user = self.get_object()
        data = s.UserUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "role" in data.validated_data:
            services.user_set_role(user=user, role=data.validated_data["role"], actor=actor_of(request))
        if data.validated_data.get("is_active") is False:
            services.user_deactivate(user=user, actor=actor_of(request))
        user.refresh_from_db()
        return Response(s.UserSerializer(user).data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Admins only (an Analyst holds no permission on API keys, not even view)."""

    queryset = ApiKey.objects.order_by("-created_at")
    serializer_class = s.ApiKeySerializer
    action_permissions = {"revoke": "governance.change_apikey"}

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyIssuedSerializer})
    def create(self, request: Request) -> Response:
        data = s.ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.apikey_create(actor=actor_of(request), **data.validated_data)
        body = {**s.ApiKeySerializer(issued.key).data, "key": issued.plaintext}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        key = services.apikey_revoke(key=self.get_object(), actor=actor_of(request))
        return Response(s.ApiKeySerializer(key).data)


class ReportRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Reports are computed by a Celery task in this workspace's schema; poll the run for its result."""

    queryset = ReportRun.objects.order_by("-created_at")
    serializer_class = s.ReportRunSerializer
    action_permissions = {"create": "governance.run_report"}

    @extend_schema(request=s.ReportRequestSerializer, responses={202: s.ReportRunSerializer})
    def create(self, request: Request) -> Response:
        data = s.ReportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.report_request(kind=data.validated_data["kind"], actor=actor_of(request))
        return Response(s.ReportRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
