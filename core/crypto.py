"""Secrets at rest: encrypted with a key derived from the secret key (Fernet).

Decryption also tries the previous secret keys, so a key can be rotated without
losing what was stored: set the new key, list the old one in
SERVICEBAY_PREVIOUS_SECRET_KEYS, run ``servicebay secrets rotate``, then drop it.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

FERNET_PREFIX = "gAAAA"
_box: MultiFernet | None = None


class SecretKeyMissing(RuntimeError):
    pass


def derive(secret_key: str) -> Fernet:
    material = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"servicebay", info=b"secrets at rest"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(material))


def configure(secret_key: str, previous: list[str] | None = None) -> None:
    """Use this key (and, for reading only, the previous ones) in this process."""
    global _box
    _box = MultiFernet([derive(secret_key), *(derive(key) for key in previous or [])])


def _current() -> MultiFernet:
    if _box is None:
        raise SecretKeyMissing("the secret key is not configured in this process")
    return _box


def encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value.startswith(FERNET_PREFIX):
        return value  # stored before encryption existed; `secrets rotate` encrypts it
    try:
        return _current().decrypt(value.encode()).decode()
    except InvalidToken:
        raise SecretKeyMissing(
            "a stored secret cannot be decrypted: the secret key changed; list the old one "
            "in SERVICEBAY_PREVIOUS_SECRET_KEYS"
        ) from None


class EncryptedText(TypeDecorator[str]):
    """A text column whose value is encrypted in the database and plain in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)
