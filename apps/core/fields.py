"""EncryptedTextField: plaintext in Python, AES-256-GCM ciphertext in the database."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.core.crypto import keyring


class EncryptedTextField(models.TextField):
    """Stores ``kiki:v1:<key id>:…``. ``purpose`` (default ``app_label.model.field``) is bound to the
    ciphertext. Not searchable or orderable by value, by design."""

    description = "Text encrypted at rest (AES-256-GCM)"

    def __init__(self, *args: Any, purpose: str | None = None, **kwargs: Any) -> None:
        self.purpose = purpose
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.purpose is not None:
            kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def contribute_to_class(self, cls: Any, name: str, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, *args, **kwargs)
        if self.purpose is None:
            self.purpose = f"{cls._meta.app_label}.{cls._meta.model_name}.{name}"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return keyring().encrypt(str(value), purpose=str(self.purpose))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return keyring().decrypt(value, purpose=str(self.purpose))
