"""JSON in, JSON types kept: a value of the wrong JSON type is refused (400), never coerced.

DRF coerces by default: ``0`` becomes the string ``"0"`` in a text field, ``"5"`` the integer 5,
``0``/``"yes"`` a boolean, the float ``19.99`` a Decimal. For an API that moves money that hides client
bugs, and it makes the OpenAPI schema (which says ``string``, ``integer``, ``boolean``) untrue. Every
serializer (ours and dj-rest-auth's) follows the schema instead: ``apply()`` runs once, from
``CoreConfig.ready``. Money travels as decimal strings (``"19.99"``), as the schema says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import fields
from rest_framework.exceptions import ValidationError

# field class → (accepted JSON types, what to tell the client)
_RULES: list[tuple[type[fields.Field], tuple[type, ...], str]] = [
    (fields.CharField, (str,), "Send a string."),
    (fields.ChoiceField, (str,), "Send one of the allowed values as a string."),
    (fields.IntegerField, (int,), "Send a whole number."),
    (fields.FloatField, (int, float), "Send a number."),
    (fields.DecimalField, (str,), 'Send a decimal number as a string, e.g. "19.99".'),
    (fields.BooleanField, (bool,), "Send true or false."),
]
_APPLIED = "_kiki_strict_json_types"


def _strict(original: Callable[..., Any], accepted: tuple[type, ...], message: str) -> Callable[..., Any]:
    def to_internal_value(self: fields.Field, data: Any) -> Any:
        wrong_bool = isinstance(data, bool) and bool not in accepted
        if wrong_bool or not isinstance(data, accepted):
            raise ValidationError(message, code="invalid_type")
        return original(self, data)

    setattr(to_internal_value, _APPLIED, True)
    return to_internal_value


def apply() -> None:
    """Wrap each field class's own ``to_internal_value`` (idempotent)."""
    for cls, accepted, message in _RULES:
        original = cls.__dict__["to_internal_value"]
        if not getattr(original, _APPLIED, False):
            cls.to_internal_value = _strict(original, accepted, message)  # type: ignore[method-assign]
