"""BECKN-006 request signing: ed25519 over ``(created)``, ``(expires)`` and a BLAKE-512 digest.

The signed bytes are the raw HTTP body, exactly as sent. The signing string is::

    (created): <unix s>
    (expires): <unix s>
    digest: BLAKE-512=<base64 of blake2b-512(body)>

and the ``Authorization`` (or ``X-Gateway-Authorization``) header carries it as
``Signature keyId="<subscriber_id>|<unique_key_id>|ed25519",algorithm="ed25519",created="…",
expires="…",headers="(created) (expires) digest",signature="<base64>"``.

Keys are raw ed25519 keys in base64: the 32-byte private seed (a 64-byte libsodium
``seed||public`` secret is accepted too) and the 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chargegrid.errors import ChargegridError
from orders.errors import AuthenticationError

ALGORITHM = "ed25519"
SIGNED_HEADERS = "(created) (expires) digest"
SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')


class KeyFileError(ChargegridError):
    """Our key files are missing or unreadable."""


def blake512_b64(body: bytes) -> str:
    """Base64 of the 64-byte BLAKE2b digest of ``body``."""
    return base64.b64encode(hashlib.blake2b(body, digest_size=64).digest()).decode()


def signing_string(created: int, expires: int, body: bytes) -> str:
    """The exact text that is signed (unix seconds for ``created``/``expires``)."""
    return f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={blake512_b64(body)}"


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"{what} is not valid base64"
        raise AuthenticationError(msg) from exc


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 signing key and the identity it is registered under."""

    subscriber_id: str
    unique_key_id: str
    seed: bytes  # 32-byte private seed

    @classmethod
    def generate(cls, subscriber_id: str, unique_key_id: str | None = None) -> KeyPair:
        return cls(subscriber_id, unique_key_id or str(uuid.uuid4()), os.urandom(SEED_BYTES))

    @classmethod
    def from_private_b64(cls, subscriber_id: str, unique_key_id: str, private_b64: str) -> KeyPair:
        """From a base64 32-byte seed or 64-byte ``seed||public`` secret."""
        raw = base64.b64decode(private_b64, validate=True)
        if len(raw) not in (SEED_BYTES, 2 * SEED_BYTES):
            msg = f"ed25519 private key must be 32 or 64 bytes, got {len(raw)}"
            raise ValueError(msg)
        return cls(subscriber_id, unique_key_id, raw[:SEED_BYTES])

    @functools.cached_property
    def _private(self) -> Ed25519PrivateKey:
        # loading a key derives its public half (a scalar multiplication): once per key pair,
        # not once per signed callback
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public_key(self) -> bytes:
        return self._private.public_key().public_bytes_raw()

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    @property
    def private_key_b64(self) -> str:
        return base64.b64encode(self.seed).decode()

    def sign_text(self, text: str) -> str:
        """Base64 ed25519 signature of ``text`` (UTF-8)."""
        return base64.b64encode(self._private.sign(text.encode())).decode()

    def authorization(self, body: bytes, *, created: int, expires: int) -> str:
        """The ``Authorization`` header value signing ``body`` for ``[created, expires]``."""
        return AuthorizationHeader(
            subscriber_id=self.subscriber_id,
            unique_key_id=self.unique_key_id,
            algorithm=ALGORITHM,
            created=created,
            expires=expires,
            headers=SIGNED_HEADERS,
            signature=self.sign_text(signing_string(created, expires, body)),
        ).render()

    def authorization_at(self, body: bytes, now: datetime, ttl_s: int) -> str:
        created = int(now.timestamp())
        return self.authorization(body, created=created, expires=created + ttl_s)


@dataclass(frozen=True)
class AuthorizationHeader:
    """A parsed BECKN-006 ``Signature`` header."""

    subscriber_id: str
    unique_key_id: str
    algorithm: str
    created: int
    expires: int
    headers: str
    signature: str

    def render(self) -> str:
        key_id = f"{self.subscriber_id}|{self.unique_key_id}|{self.algorithm}"
        return (
            f'Signature keyId="{key_id}",algorithm="{self.algorithm}",'
            f'created="{self.created}",expires="{self.expires}",'
            f'headers="{self.headers}",signature="{self.signature}"'
        )

    @classmethod
    def parse(cls, value: str) -> AuthorizationHeader:
        """Parse a header value; any deviation raises :class:`AuthenticationError`."""
        scheme, _, rest = value.strip().partition(" ")
        if scheme != "Signature" or not rest:
            msg = "authorization header must use the 'Signature' scheme"
            raise AuthenticationError(msg)
        params = _parse_params(rest)
        missing = {"keyId", "algorithm", "created", "expires", "headers", "signature"} - set(params)
        if missing:
            msg = f"authorization header lacks {', '.join(sorted(missing))}"
            raise AuthenticationError(msg)
        parts = params["keyId"].split("|")
        if len(parts) != 3 or not all(parts):
            msg = "keyId must be 'subscriber_id|unique_key_id|algorithm'"
            raise AuthenticationError(msg)
        if parts[2] != ALGORITHM or params["algorithm"] != ALGORITHM:
            msg = f"only the {ALGORITHM} algorithm is accepted"
            raise AuthenticationError(msg)
        if params["headers"].split() != SIGNED_HEADERS.split():
            msg = f"signed headers must be '{SIGNED_HEADERS}'"
            raise AuthenticationError(msg)
        try:
            created, expires = int(params["created"]), int(params["expires"])
        except ValueError as exc:
            msg = "created/expires must be unix seconds"
            raise AuthenticationError(msg) from exc
        return cls(
            parts[0], parts[1], ALGORITHM, created, expires, params["headers"], params["signature"]
        )


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None or match.end() == pos:
            msg = "authorization header is malformed"
            raise AuthenticationError(msg)
        params[match.group(1)] = match.group(2)
        pos = match.end()
    return params


def verify(
    body: bytes, header: AuthorizationHeader, public_key: bytes, now: datetime, skew_s: float
) -> None:
    """Check ``header`` signs ``body`` with ``public_key`` and is valid at ``now`` (± skew).

    Raises :class:`AuthenticationError` naming what failed.
    """
    now_s = now.timestamp()
    if header.created > now_s + skew_s:
        msg = "signature created in the future"
        raise AuthenticationError(msg)
    if header.expires < now_s - skew_s:
        msg = "signature expired"
        raise AuthenticationError(msg)
    if header.expires < header.created:
        msg = "signature expires before it is created"
        raise AuthenticationError(msg)
    if len(public_key) != PUBLIC_KEY_BYTES:
        msg = "registered public key is not a 32-byte ed25519 key"
        raise AuthenticationError(msg)
    signature = _b64decode(header.signature, "signature")
    text = signing_string(header.created, header.expires, body)
    try:
        _public_key(public_key).verify(signature, text.encode())
    except InvalidSignature as exc:
        msg = "signature does not verify"
        raise AuthenticationError(msg) from exc


@functools.lru_cache(maxsize=1024)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """A registered public key, loaded (point decompression) once per key, not per request."""
    return Ed25519PublicKey.from_public_bytes(raw)


# -- key files ---------------------------------------------------------------------------------

KEY_FILE = "signing_key.json"


def save_keypair(keys: KeyPair, directory: Path) -> Path:
    """Write ``keys`` to ``directory/signing_key.json`` with mode 0600 (never world-readable)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / KEY_FILE
    tmp = directory / f".{KEY_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {
                "subscriber_id": keys.subscriber_id,
                "unique_key_id": keys.unique_key_id,
                "signing_private_key": keys.private_key_b64,
                "signing_public_key": keys.public_key_b64,
            },
            out,
            indent=1,
        )
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_keypair(directory: Path) -> KeyPair:
    """Our key pair from ``directory``; a clear error when absent or damaged."""
    path = directory / KEY_FILE
    try:
        data = json.loads(path.read_text())
        return KeyPair.from_private_b64(
            data["subscriber_id"], data["unique_key_id"], data["signing_private_key"]
        )
    except FileNotFoundError as exc:
        msg = f"{path}: no signing key; run `chargegrid keys generate` first"
        raise KeyFileError(msg) from exc
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        msg = f"{path}: damaged key file ({exc.__class__.__name__}: {exc})"
        raise KeyFileError(msg) from exc
