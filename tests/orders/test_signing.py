"""BECKN-006 signing: the official worked example, header grammar, time window, key files."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orders.errors import AuthenticationError
from orders.signing import (
    AuthorizationHeader,
    KeyFileError,
    KeyPair,
    blake512_b64,
    load_keypair,
    save_keypair,
    signing_string,
    verify,
)


def _at(unix_s: int) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


@pytest.fixture
def official(beckn_dir: Path) -> dict[str, Any]:
    doc = json.loads((beckn_dir / "signing" / "beckn-006-worked-example.json").read_text())
    return doc


@pytest.mark.shared
def test_blake512_matches_the_official_digest_examples(official: dict[str, Any]) -> None:
    fox = official["blake2b_512_example"]
    assert blake512_b64(fox["input_utf8"].encode()) == fox["base64"]
    vec = official["bap_request_vector"]
    assert blake512_b64(vec["body_utf8"].encode()) == vec["digest_blake2b_512_b64"]


@pytest.mark.shared
def test_official_worked_example_verifies(official: dict[str, Any]) -> None:
    vec = official["bap_request_vector"]
    body = base64.b64decode(vec["body_base64"])
    assert body == vec["body_utf8"].encode()
    assert signing_string(vec["created"], vec["expires"], body) == vec["signing_string"]
    header = AuthorizationHeader.parse(vec["authorization_header"])
    assert (header.subscriber_id, header.created, header.expires) == (
        "example-bap.com",
        vec["created"],
        vec["expires"],
    )
    public = base64.b64decode(vec["signing_public_key_b64"])
    verify(body, header, public, _at(vec["created"]), skew_s=0)


@pytest.mark.shared
@pytest.mark.parametrize(
    "key_field",
    ["signing_private_key_b64_64byte_seed_plus_pub", "signing_private_key_b64_32byte_seed"],
)
def test_signing_the_official_example_reproduces_its_signature(
    official: dict[str, Any], key_field: str
) -> None:
    vec = official["bap_request_vector"]
    keys = KeyPair.from_private_b64(
        "example-bap.com", "ae3ea24b-cfec-495e-81f8-044aaef164ac", vec[key_field]
    )
    assert keys.public_key_b64 == vec["signing_public_key_b64"]
    assert keys.sign_text(vec["signing_string"]) == vec["signature_b64"]
    header = keys.authorization(
        vec["body_utf8"].encode(), created=vec["created"], expires=vec["expires"]
    )
    assert header == vec["authorization_header"]


@pytest.mark.shared
def test_official_example_with_one_byte_changed_is_refused(official: dict[str, Any]) -> None:
    vec = official["bap_request_vector"]
    body = vec["body_utf8"].replace("Kochi", "Kochy").encode()
    header = AuthorizationHeader.parse(vec["authorization_header"])
    public = base64.b64decode(vec["signing_public_key_b64"])
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify(body, header, public, _at(vec["created"]), skew_s=0)


KEYS = KeyPair.generate("bap.test", "k1")
BODY = b'{"context":{"action":"search"}}'


def test_header_round_trips_and_verifies_with_its_own_key() -> None:
    value = KEYS.authorization(BODY, created=1_700_000_000, expires=1_700_000_300)
    header = AuthorizationHeader.parse(value)
    assert header.render() == value
    verify(BODY, header, KEYS.public_key, _at(1_700_000_100), skew_s=0)


def test_header_with_spaces_after_commas_parses() -> None:
    value = KEYS.authorization(BODY, created=1, expires=2).replace('",', '", ')
    assert AuthorizationHeader.parse(value).created == 1


@pytest.mark.parametrize("now_s", [100 - 6, 400 + 6])
def test_signature_outside_its_window_beyond_skew_is_refused(now_s: int) -> None:
    header = AuthorizationHeader.parse(KEYS.authorization(BODY, created=100, expires=400))
    with pytest.raises(AuthenticationError, match=r"future|expired"):
        verify(BODY, header, KEYS.public_key, _at(now_s), skew_s=5)


def test_signature_just_inside_the_skew_is_accepted() -> None:
    header = AuthorizationHeader.parse(KEYS.authorization(BODY, created=100, expires=400))
    verify(BODY, header, KEYS.public_key, _at(95), skew_s=5)
    verify(BODY, header, KEYS.public_key, _at(405), skew_s=5)


def test_signature_from_another_key_is_refused() -> None:
    other = KeyPair.generate("bap.test", "k1")
    header = AuthorizationHeader.parse(KEYS.authorization(BODY, created=1, expires=2))
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify(BODY, header, other.public_key, _at(1), skew_s=0)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        'Signature keyId="a|b|ed25519"',
        'Signature keyId="a|ed25519",algorithm="ed25519",created="1",expires="2",'
        'headers="(created) (expires) digest",signature="x"',
        'Signature keyId="a|b|rsa",algorithm="rsa",created="1",expires="2",'
        'headers="(created) (expires) digest",signature="x"',
        'Signature keyId="a|b|ed25519",algorithm="ed25519",created="soon",expires="2",'
        'headers="(created) (expires) digest",signature="x"',
        'Signature keyId="a|b|ed25519",algorithm="ed25519",created="1",expires="2",'
        'headers="digest",signature="x"',
        'Signature keyId="a|b|ed25519" garbage',
    ],
)
def test_malformed_headers_are_authentication_errors(value: str) -> None:
    with pytest.raises(AuthenticationError):
        AuthorizationHeader.parse(value)


def test_signature_that_is_not_base64_is_refused() -> None:
    header = AuthorizationHeader(
        "bap.test", "k1", "ed25519", 1, 2, "(created) (expires) digest", "not base64!"
    )
    with pytest.raises(AuthenticationError, match="base64"):
        verify(BODY, header, KEYS.public_key, _at(1), skew_s=0)


def test_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = save_keypair(KEYS, tmp_path / "keys")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keypair(tmp_path / "keys") == KEYS


def test_missing_or_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="keys generate"):
        load_keypair(tmp_path)
    (tmp_path / "signing_key.json").write_text("{}")
    with pytest.raises(KeyFileError, match="damaged"):
        load_keypair(tmp_path)
