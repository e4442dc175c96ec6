"""POST /api/v1/signup on the public host."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.actor import Actor
from apps.core.api.throttling import client_ip
from apps.core.metrics import SIGNUPS
from apps.governance.tenancy.errors import TenancyError
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.selectors import tenant_base_url
from apps.governance.tenancy.services import SignupRequest, tenant_signup
from apps.governance.tenancy.views import handoff_url, signup_rate_ok


class SignupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=40)
    admin_email = serializers.CharField(max_length=254)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    plan = serializers.ChoiceField(choices=Tenant.Plan.choices, required=False, default=Tenant.Plan.TRIAL)


class SignupResultSerializer(serializers.Serializer):
    slug = serializers.CharField()
    domain = serializers.CharField()
    admin_email = serializers.CharField()
    base_url = serializers.CharField()
    admin_url = serializers.CharField()
    api_base = serializers.CharField()
    login_url = serializers.CharField(help_text="One-time sign-in link to the workspace admin (60 s).")


class SignupView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(request=SignupSerializer, responses={201: SignupResultSerializer})
    def post(self, request: Request) -> Response:
        allowed, retry = signup_rate_ok(request)
        if not allowed:
            SIGNUPS.labels(outcome="throttled").inc()
            raise Throttled(wait=retry, detail="Too many signups from this address; try again later.")
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = tenant_signup(
                SignupRequest(**data.validated_data), actor=Actor.system(f"signup:api:{client_ip(request)}")
            )
        except TenancyError:
            SIGNUPS.labels(outcome="rejected").inc()
            raise
        SIGNUPS.labels(outcome="created").inc()
        tenant = Tenant.objects.get(pk=result.tenant_id)
        base = tenant_base_url(tenant)
        body = {
            "slug": result.slug,
            "domain": result.domain,
            "admin_email": result.admin_email,
            "base_url": base,
            "admin_url": f"{base}/admin/",
            "api_base": f"{base}/api/v1/",
            "login_url": handoff_url(result.schema_name, result.slug, result.admin_user_id),
        }
        return Response(body, status=status.HTTP_201_CREATED)
