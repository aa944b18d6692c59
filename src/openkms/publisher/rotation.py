"""``publisher rotate-root``: a new root key, cross-signed by the old one.

The rotation, in the publisher directory::

    root.key.new          the new key, written first (0600)
    root.key.N.retired    the old key, kept (0600): N counts the rotations, 1 first
    trust.json            the catalog under serial + 1, signed by the new key, with the
                          chain of transitions (core/rotation.py) ending at the new key
    root.key              the new key (root.key.new renamed last)

A rotation interrupted after trust.json was written is finished by the next rotate-root
(the new key is the one trust.json names); one interrupted before is undone (root.key.new
is dropped: nothing was published under it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms._files import atomic_write, read_bytes
from openkms.core.rotation import make_link
from openkms.core.shortsig import PhoneSigningKey
from openkms.core.signing import public_bytes, sign
from openkms.core.trust import CATALOG_DOMAIN, Trust, format_publisher_key
from openkms.errors import StateError
from openkms.i18n import _
from openkms.publisher.publisher import Publisher

__all__ = ["RootRotation", "rotate_root"]


@dataclass(frozen=True, slots=True)
class RootRotation:
    """What a rotation did: the keys, where the old one went, the new trust document."""

    previous_key: str  # okpk1:...
    new_key: str  # okpk1:...
    retired_file: Path
    trust: Trust

    @property
    def sequence(self) -> int:
        """The number of this rotation (1 for the first)."""
        return len(self.trust.transitions)


def rotate_root(directory: Path, clock: Callable[[], float] = time.time) -> RootRotation:
    """Rotate the root key of the publisher in ``directory`` (see the module docstring)."""
    _recover(directory)
    publisher = Publisher(directory, clock)
    installed = publisher.trust()
    old = _load_key(directory / "root.key")
    if public_bytes(old) != installed.publisher_key:
        raise StateError(
            _("{directory} is not the key that signed {trust}").format(
                directory=directory / "root.key", trust=directory / "trust.json"
            ),
            fix=_("Restore the root key that signed trust.json before rotating it."),
        )
    sequence = len(installed.transitions) + 1
    retired = directory / f"root.key.{sequence}.retired"
    if retired.exists():
        raise StateError(
            _("{retired} exists already").format(retired=retired),
            fix=_("Move it aside, then rotate again."),
        )
    new = Ed25519PrivateKey.generate()
    trust = _successor(publisher, installed, (old, new), int(clock()))
    atomic_write(directory / "root.key.new", _pem(new), mode=0o600)
    atomic_write(retired, _pem(old), mode=0o600)
    atomic_write(directory / "trust.json", trust.to_json())
    os.replace(directory / "root.key.new", directory / "root.key")
    return RootRotation(
        format_publisher_key(installed.publisher_key),
        format_publisher_key(trust.publisher_key),
        retired,
        trust,
    )


def _successor(
    publisher: Publisher,
    installed: Trust,
    keys: tuple[Ed25519PrivateKey, Ed25519PrivateKey],
    now: int,
) -> Trust:
    """The catalog.toml under the next serial and the new phone key, signed by the new key."""
    old, new = keys
    serial = installed.catalog.serial + 1
    phone_key = PhoneSigningKey.derive(new.private_bytes_raw()).public_key
    catalog = msgspec.structs.replace(publisher.catalog(), serial=serial, phone_key=phone_key)
    link = make_link(
        old,
        new,
        sequence=len(installed.transitions) + 1,
        at=now,
        catalog_serial=serial,
        previous_phone_key=installed.catalog.phone_key,
    )
    envelope = sign(new, CATALOG_DOMAIN, msgspec.msgpack.encode(catalog))
    return Trust.create(public_bytes(new), envelope, (*installed.rotations, link))


def _recover(directory: Path) -> None:
    """Finish or undo a rotation that stopped between its writes."""
    pending = directory / "root.key.new"
    if not pending.exists():
        return
    key = _load_key(pending)
    if Publisher(directory).trust().publisher_key == public_bytes(key):
        os.replace(pending, directory / "root.key")  # trust.json is out: finish
    else:
        pending.unlink()  # nothing was published under it: undo


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(read_bytes(path, _("root key")), password=None)
    except (ValueError, TypeError):
        raise StateError(_("{path} is not a PEM private key").format(path=path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StateError(_("{path} is not an Ed25519 key").format(path=path))
    return key
