"""Structured JSON logs that carry the request id and the tenant, with secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kiki_request_id", default=None)
tenant_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kiki_tenant", default=None)

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)
# Keys whose values never reach a log line, whatever their level or origin.
SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|access[_-]?key|refresh|cookie|credential|signature)",
    re.IGNORECASE,
)
# Inline "key=value" / "key": "value" / "Token abc" / "Bearer abc" forms inside free text.
_INLINE = re.compile(
    r"(?P<k>(pass(word)?|secret|token|api[_-]?key|authorization|client_secret|access_token|refresh_token)"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<v>[^\s\"',;&]+)",
    re.IGNORECASE,
)
_SCHEMES = re.compile(r"\b(Bearer|Token|Api-Key|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)
_KIKI_KEYS = re.compile(r"\bkiki_[A-Za-z0-9]{6,}\.[A-Za-z0-9_-]{16,}")
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    # Scheme-prefixed credentials first ("Authorization: Token abc" must lose "abc", not "Token").
    text = _SCHEMES.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _INLINE.sub(lambda m: f"{m.group('k')}{REDACTED}", text)
    return _KIKI_KEYS.sub(REDACTED, text)


def redact_value(key: str, value: Any) -> Any:
    if SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Masks secrets in the message, its arguments and any extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not drop the line
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and key not in {"request_id", "tenant"}:
                setattr(record, key, redact_value(key, value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "tenant": getattr(record, "tenant", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
