"""The loopback server for the store platform fakes; it lives in ``apps.core.fakes`` (ad platform
fakes in apps/bidding use the same one)."""

from apps.core.fakes import App, Failure, FakeServer, Reply, Request

__all__ = ["App", "Failure", "FakeServer", "Reply", "Request"]
