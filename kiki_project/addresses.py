"""Where the web process listens and which URL people reach it at: one definition for settings,
gunicorn, ``make run`` and every link the product prints or redirects to.

- ``KIKI_BIND`` (``host:port``) is where gunicorn listens; ``KIKI_PORT`` is a shorthand for its port.
- The public URL (links, the signup hand-off, CSRF origins) is ``http://<KIKI_BASE_DOMAIN>:<bind port>``
  unless ``KIKI_PUBLIC_URL`` names it explicitly (a proxy in front, TLS, another port).

No Django import: gunicorn's config and the ``make run`` supervisor read it before settings exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SCHEME_PORTS = {"http": 80, "https": 443}


class AddressError(ValueError):
    """A bind address or public URL that cannot be used; the message says which variable and why."""


def bind_address(env: Mapping[str, str]) -> str:
    """``host:port`` for gunicorn, from ``KIKI_BIND`` or ``KIKI_PORT``; both set must agree."""
    bind = (env.get("KIKI_BIND") or "").strip()
    port = (env.get("KIKI_PORT") or "").strip()
    if port and not port.isdigit():
        raise AddressError(f"KIKI_PORT={port!r} is not a port number.")
    if not bind:
        return f"{DEFAULT_HOST}:{port or DEFAULT_PORT}"
    host, sep, bind_port = bind.rpartition(":")
    if not sep or not host or not bind_port.isdigit():
        raise AddressError(f"KIKI_BIND={bind!r} must look like host:port, e.g. 127.0.0.1:8000.")
    if port and port != bind_port:
        raise AddressError(
            f"KIKI_PORT={port} and KIKI_BIND={bind} disagree; set one of them (KIKI_PORT is the bind's port)."
        )
    return bind


def bind_port(env: Mapping[str, str]) -> int:
    return int(bind_address(env).rpartition(":")[2])


@dataclass(frozen=True)
class PublicAddress:
    scheme: str
    domain: str  # the base domain: the public site; workspaces are <slug>.<domain>
    port: int | None  # None when it is the scheme's default

    @property
    def netloc_suffix(self) -> str:
        return "" if self.port is None else f":{self.port}"

    def url(self, host: str | None = None) -> str:
        """Origin of ``host`` (a workspace host name) or of the public site."""
        return f"{self.scheme}://{host or self.domain}{self.netloc_suffix}"

    def csrf_trusted_origins(self) -> list[str]:
        return [self.url(), f"{self.scheme}://*.{self.domain}{self.netloc_suffix}"]


def public_address(env: Mapping[str, str], *, production: bool) -> PublicAddress:
    """The public URL: ``KIKI_PUBLIC_URL`` when set, else the base domain at the bind's port.

    Production must name it: there a proxy terminates TLS, and the bind's port says nothing about
    the address people use."""
    explicit = (env.get("KIKI_PUBLIC_URL") or "").strip()
    base_domain = (env.get("KIKI_BASE_DOMAIN") or "").strip().lower()
    if not explicit:
        if production:
            raise AddressError("KIKI_PUBLIC_URL must be set in production, e.g. https://kiki.example.com.")
        bound = bind_port(env)
        return PublicAddress("http", base_domain or "localhost", None if bound == 80 else bound)
    parts = urlsplit(explicit)
    if parts.scheme not in DEFAULT_SCHEME_PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise AddressError(
            f"KIKI_PUBLIC_URL={explicit!r} must be an origin like https://kiki.example.com[:port], no path."
        )
    port: int | None
    try:
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"KIKI_PUBLIC_URL={explicit!r} has a bad port.") from exc
    if production and parts.scheme != "https":
        raise AddressError("KIKI_PUBLIC_URL must use https in production.")
    host = parts.hostname.lower()
    if base_domain and base_domain != host:
        raise AddressError(
            f"KIKI_BASE_DOMAIN={base_domain} and KIKI_PUBLIC_URL={explicit} name different hosts; "
            "set one of them."
        )
    if port == DEFAULT_SCHEME_PORTS[parts.scheme]:
        port = None
    return PublicAddress(parts.scheme, host, port)
