"""Ad platform API versions, pinned in one place (each adapter's docstring says what it follows)."""

GOOGLE_ADS_API_VERSION = "v26"  # REST: /v26/customers/{id}/campaigns:mutate, googleAds:searchStream
META_GRAPH_API_VERSION = "v26.0"  # Marketing API (Graph API): /v26.0/{campaign_id}, /act_{id}/insights
TIKTOK_API_VERSION = "v1.3"  # TikTok API for Business (Marketing API): /open_api/v1.3/…
LINKEDIN_API_VERSION = "202605"  # the LinkedIn-Version header of the versioned /rest/ Marketing APIs
LINKEDIN_RESTLI_PROTOCOL_VERSION = "2.0.0"  # X-Restli-Protocol-Version
