"""Which adapter serves which platform, built with the base URL from settings and a timeout."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from apps.bidding.integrations.base import AccountAccess, AdPlatformAdapter
from apps.bidding.integrations.google_ads.client import GoogleAdsAdapter
from apps.bidding.integrations.linkedin.client import LinkedInAdapter
from apps.bidding.integrations.meta.client import MetaAdapter
from apps.bidding.integrations.tiktok.client import TikTokAdapter

ADAPTERS: dict[str, tuple[Callable[..., AdPlatformAdapter], str]] = {
    "google_ads": (GoogleAdsAdapter, "KIKI_GOOGLE_ADS_API_BASE"),
    "meta": (MetaAdapter, "KIKI_META_API_BASE"),
    "tiktok": (TikTokAdapter, "KIKI_TIKTOK_API_BASE"),
    "linkedin": (LinkedInAdapter, "KIKI_LINKEDIN_API_BASE"),
}


def adapter_for(access: AccountAccess, *, timeout_s: float | None = None) -> AdPlatformAdapter:
    try:
        cls, base_setting = ADAPTERS[access.platform]
    except KeyError:
        raise ValueError(f"no adapter for platform {access.platform!r}") from None
    timeout = float(timeout_s if timeout_s is not None else settings.KIKI_AD_PLATFORM_TIMEOUT_S)
    return cls(access, base_url=getattr(settings, base_setting), timeout_s=timeout)
