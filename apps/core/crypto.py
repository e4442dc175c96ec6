"""AES-256-GCM encryption at rest with a key ring, for credentials and other secrets.

``KIKI_ENCRYPTION_KEYS`` = ``id1:base64key,id2:base64key``: 32-byte keys, the first encrypts, all
decrypt (rotation: put the new key first, run ``manage.py rotate_encryption_key``, then drop the old).
Ciphertext: ``kiki:v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``; the field's purpose string is
bound as associated data, so a value copied into another field does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "kiki:v1:"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CryptoError(Exception):
    """Misconfigured keys or a ciphertext that cannot be decrypted (never carries the plaintext)."""


@dataclass(frozen=True)
class KeyRing:
    primary_id: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key_id, sep, b64 = part.partition(":")
            if not sep or not _KEY_ID.match(key_id):
                raise CryptoError(
                    "KIKI_ENCRYPTION_KEYS entries look like id:base64key (id: letters, digits, _ -)"
                )
            try:
                raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            except (binascii.Error, ValueError) as exc:
                raise CryptoError(f"key {key_id!r} is not valid base64") from exc
            if len(raw) != 32:
                raise CryptoError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(raw)}")
            if key_id in keys:
                raise CryptoError(f"key id {key_id!r} appears twice")
            keys[key_id] = raw
            order.append(key_id)
        if not order:
            raise CryptoError("KIKI_ENCRYPTION_KEYS is empty")
        return cls(primary_id=order[0], keys=keys)

    def encrypt(self, plaintext: str, *, purpose: str) -> str:
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.primary_id]).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())
        return f"{PREFIX}{self.primary_id}:{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def decrypt(self, token: str, *, purpose: str) -> str:
        key_id, blob = parse_token(token)
        key = self.keys.get(key_id)
        if key is None:
            raise CryptoError(
                f"no key with id {key_id!r} in KIKI_ENCRYPTION_KEYS (was it removed too early?)"
            )
        try:
            data = base64.urlsafe_b64decode(blob)
            return AESGCM(key).decrypt(data[:12], data[12:], purpose.encode()).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise CryptoError("ciphertext failed authentication") from exc


def parse_token(token: str) -> tuple[str, str]:
    if not token.startswith(PREFIX):
        raise CryptoError("value is not a KIKI ciphertext")
    key_id, sep, blob = token[len(PREFIX) :].partition(":")
    if not sep:
        raise CryptoError("malformed KIKI ciphertext")
    return key_id, blob


def key_id_of(token: str) -> str:
    return parse_token(token)[0]


@functools.cache
def _ring(spec: str) -> KeyRing:
    return KeyRing.parse(spec)


def keyring() -> KeyRing:
    from django.conf import settings

    return _ring(settings.KIKI_ENCRYPTION_KEYS)


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()
