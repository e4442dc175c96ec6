from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.governance.models import ApiKey, ReportRun
from apps.governance.roles import ROLE_CHOICES
from apps.governance.services import user_role

PRINCIPAL_KINDS = [("user", "A person (token or session)"), ("api_key", "An API key")]


class UserSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "email", "first_name", "last_name", "is_active", "last_login", "date_joined", "role"]
        read_only_fields = fields

    def get_role(self, user: Any) -> str | None:
        role = user_role(user)
        return role.value if role else None


class AccountSerializer(serializers.ModelSerializer):
    """The signed-in user's own details (``/api/v1/auth/user/``). Names may change; the login (the
    e-mail address) and the role are managed by an Admin."""

    class Meta:
        model = get_user_model()
        fields = ["pk", "username", "email", "first_name", "last_name"]
        read_only_fields = ["pk", "username", "email"]


class UserCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=False, style={"input_type": "password"}
    )
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)


class UserUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLE_CHOICES, required=False)
    is_active = serializers.BooleanField(required=False)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "role", "created_at", "expires_at", "revoked_at", "last_used_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyIssuedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key itself. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ReportRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportRun
        fields = ["id", *ReportRun.SHOWN_FIELDS]
        read_only_fields = fields


class ReportRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReportRun.Kind.choices)


class WorkspaceSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    plan = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    dry_run = serializers.BooleanField(read_only=True)
    timezone = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class WorkspaceUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    timezone = serializers.CharField(required=False, max_length=64)
    currency = serializers.CharField(required=False, max_length=10)
    dry_run = serializers.BooleanField(required=False)
    reason = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="Required when dry_run changes: that is a policy change (a new policy version).",
    )


class MeSerializer(serializers.Serializer):
    principal = serializers.CharField()
    kind = serializers.ChoiceField(choices=PRINCIPAL_KINDS)
    role = serializers.CharField(allow_null=True)
    workspace = WorkspaceSerializer()
    permissions = serializers.ListField(child=serializers.CharField())
