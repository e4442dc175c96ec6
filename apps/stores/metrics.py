from prometheus_client import Counter

WEBHOOKS = Counter(
    "kiki_stores_webhooks",
    "Webhook deliveries by platform and outcome (accepted, duplicate, bad_signature, unknown_store, "
    "too_large, malformed, ping)",
    ["platform", "outcome"],
)
SYNC_ITEMS = Counter("kiki_stores_sync_items", "Records written by store syncs", ["platform", "resource"])
