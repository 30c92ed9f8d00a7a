"""Our signing identity on the network: generate/show the key pair, register it locally."""

from __future__ import annotations

from datetime import timedelta

from chargegrid.clock import Clock
from chargegrid.settings import Settings
from orders.registry import RegistryStore, Subscription
from orders.signing import KeyFileError, KeyPair, load_keypair, save_keypair


def generate_keys(settings: Settings, *, force: bool = False) -> KeyPair:
    """A fresh ed25519 key pair for ``settings.bpp_id``; refuses to overwrite unless ``force``."""
    if not force:
        try:
            load_keypair(settings.keys_dir)
        except KeyFileError:
            pass
        else:
            msg = f"{settings.keys_dir}: a key pair exists; pass --force to replace it"
            raise KeyFileError(msg)
    keys = KeyPair.generate(settings.bpp_id)
    save_keypair(keys, settings.keys_dir)
    return keys


def self_subscription(settings: Settings, keys: KeyPair, clock: Clock, days: int) -> Subscription:
    """Our registry entry (type BPP) valid for ``days`` from now."""
    now = clock.now()
    return Subscription(
        subscriber_id=keys.subscriber_id,
        unique_key_id=keys.unique_key_id,
        type="BPP",
        url=settings.bpp_uri,
        domain=settings.beckn_domain,
        signing_public_key=keys.public_key_b64,
        valid_from=now,
        valid_until=now + timedelta(days=days),
    )


def register_self(settings: Settings, clock: Clock, days: int = 365) -> Subscription:
    """Add our own key to the local file-backed registry."""
    sub = self_subscription(settings, load_keypair(settings.keys_dir), clock, days)
    RegistryStore(settings.registry_path).add([sub])
    return sub
