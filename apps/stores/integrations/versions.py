"""Vendor API versions, pinned in one place (api-contracts.md says which versions these are)."""

SHOPIFY_API_VERSION = "2026-10"  # Admin GraphQL API
BIGCOMMERCE_API_VERSIONS = ("v3", "v2")  # catalog and hooks on v3, orders on v2
WOOCOMMERCE_API_VERSION = "wc/v3"
