from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from apps.core.tenant_context import require_tenant
from apps.governance.models import ApiKey
from apps.governance.roles import Role
from apps.governance.services import user_role


def access_review() -> dict[str, Any]:
    """Who can do what in this workspace: users with roles and last logins, API keys with last use."""
    require_tenant("the access review")
    users = []
    for user in get_user_model().objects.prefetch_related("groups").order_by("username"):
        role = user_role(user)
        users.append(
            {
                "email": user.email,
                "role": role.value if role else None,
                "active": user.is_active,
                "last_login": user.last_login.isoformat() if user.last_login else None,
            }
        )
    keys = [
        {
            "name": k.name,
            "prefix": k.prefix,
            "role": k.role,
            "revoked": k.revoked_at is not None,
            "expires_at": k.expires_at.isoformat() if k.expires_at else None,
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
        }
        for k in ApiKey.objects.order_by("prefix")
    ]
    return {
        "users": users,
        "api_keys": keys,
        "counts": {
            "users_active": sum(1 for u in users if u["active"]),
            "admins": sum(1 for u in users if u["role"] == "admin" and u["active"]),
            "api_keys_active": sum(1 for k in keys if not k["revoked"]),
        },
    }


def admin_emails() -> list[str]:
    """The e-mail addresses of this workspace's active Admins, for notifications (sorted, distinct)."""
    require_tenant("reading the Admins")
    admins = (
        get_user_model().objects.filter(is_active=True, groups__name=Role.ADMIN.group_name).exclude(email="")
    )
    return sorted(set(admins.values_list("email", flat=True)))
