"""Ad platform adapters (Google Ads, Meta, TikTok, LinkedIn): one client per vendor behind one
interface (``base.AdPlatformAdapter``), and a loopback fake per vendor for tests and the sandbox.

Only ``apps.bidding.services.platforms`` builds adapters (``registry.adapter_for``); nothing else in
the project reaches an ad platform.
"""
