"""The console password: a salted scrypt hash, made and checked with the standard library.

``hash_password`` prints as ``scrypt$n=32768,r=8,p=1$<salt>$<key>`` (URL-safe base64),
which is what ``[http] password_hash`` holds. scrypt is memory-hard, so a stolen
configuration file does not give the password away to a GPU; PBKDF2-SHA256
hashes (``pbkdf2_sha256$<iterations>$<salt>$<key>``) are accepted too, for
operators whose tooling makes those.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# scrypt needs 128 * n * r bytes: 32 MiB here, just above hashlib's default ceiling.
_MAXMEM = 128 * SCRYPT_N * SCRYPT_R * 2


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A new ``password_hash`` value for ``password`` (a fresh random salt each time)."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    key = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=_MAXMEM,
        dklen=KEY_BYTES,
    )
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed ``stored`` never matches."""
    try:
        scheme, params, salt_text, key_text = stored.split("$")
        salt, expected = _unb64(salt_text), _unb64(key_text)
        if scheme == "scrypt":
            values = dict(item.split("=", 1) for item in params.split(","))
            n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
            key = hashlib.scrypt(
                password.encode(),
                salt=salt,
                n=n,
                r=r,
                p=p,
                maxmem=128 * n * r * 2,
                dklen=len(expected),
            )
        elif scheme == "pbkdf2_sha256":
            key = hashlib.pbkdf2_hmac(
                "sha256", password.encode(), salt, int(params), dklen=len(expected)
            )
        else:
            return False
    except (ValueError, KeyError):
        return False
    return hmac.compare_digest(key, expected)
